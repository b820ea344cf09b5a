/**
 * `forced.fits`, the post-processing job's forced photometry: a FITS binary table (FORCED) with
 * one row per object inside the difference image. Written by the job, read by the aggregator.
 * APRATIO and APVAR check the row's PSF flux against an aperture (apertureRatios; NaN for rows
 * too faint or crowded to tell); tables written before them read as NaN.
 */
import { encodeFits, Header, parseFits, readTable } from '../fits/index.ts';
import type { ErrorScale, TemplateResidual } from '../image/forced.ts';
import { BadInputError } from '../util/errors.ts';

export interface ForcedRow {
  objectId: number;
  x: number;
  y: number;
  flux: number;
  fluxErr: number;
  chi2: number;
  npix: number;
  flags: number;
  /** PSF flux / aperture flux − 1 and its noise variance (NaN when not checked). */
  apRatio?: number;
  apVariance?: number;
}

export function encodeForcedTable(
  rows: readonly ForcedRow[],
  errors?: ErrorScale,
  residual?: TemplateResidual,
): Uint8Array {
  const f64 = (get: (r: ForcedRow) => number) => Float64Array.from(rows, get);
  const header = new Header();
  if (errors) {
    header.set('ERRSCALE', errors.scale, 'FLUXERR = variance-propagated error x ERRSCALE');
    header.set('ERRSAMP', errors.samples, 'positions ERRSCALE was measured at');
  }
  if (residual) {
    header.set('ERRTMPL', residual.fraction, 'plus ERRTMPL x template PSF flux, in quadrature');
    header.set('ERRTSAMP', residual.samples, 'template peaks ERRTMPL was measured at');
  }
  return encodeFits(
    [
      { data: [], shape: [] },
      {
        kind: 'bintable',
        name: 'FORCED',
        header,
        columns: [
          { name: 'OBJECT_ID', data: BigInt64Array.from(rows, (r) => BigInt(r.objectId)) },
          { name: 'X', data: f64((r) => r.x), unit: 'pixel' },
          { name: 'Y', data: f64((r) => r.y), unit: 'pixel' },
          { name: 'FLUX', data: f64((r) => r.flux), unit: 'count' },
          { name: 'FLUXERR', data: f64((r) => r.fluxErr), unit: 'count' },
          { name: 'CHI2', data: f64((r) => r.chi2) },
          { name: 'NPIX', data: Int32Array.from(rows, (r) => r.npix) },
          { name: 'FLAGS', data: Int32Array.from(rows, (r) => r.flags) },
          { name: 'APRATIO', data: f64((r) => r.apRatio ?? Number.NaN) },
          { name: 'APVAR', data: f64((r) => r.apVariance ?? Number.NaN) },
        ],
      },
    ],
    { checksum: true },
  );
}

/** Read `forced.fits` back (the aggregator registers its rows). */
export function decodeForcedTable(bytes: Uint8Array, where: string): ForcedRow[] {
  const hdu = parseFits(bytes, { file: where }).hdus.find((h) => h.kind === 'bintable');
  if (!hdu) throw new BadInputError(`${where}: no binary table`);
  const t = readTable(hdu);
  const col = (name: string) => t.column(name).data as ArrayLike<number | bigint>;
  const [id, x, y, flux, err, chi2, npix, flags] = [
    'OBJECT_ID',
    'X',
    'Y',
    'FLUX',
    'FLUXERR',
    'CHI2',
    'NPIX',
    'FLAGS',
  ].map(col);
  const optional = (name: string) => (t.names.some((n) => n.toUpperCase() === name) ? col(name) : undefined);
  const apRatio = optional('APRATIO');
  const apVar = optional('APVAR');
  return Array.from({ length: t.nrows }, (_, i) => ({
    objectId: Number(id[i]),
    x: Number(x[i]),
    y: Number(y[i]),
    flux: Number(flux[i]),
    fluxErr: Number(err[i]),
    chi2: Number(chi2[i]),
    npix: Number(npix[i]),
    flags: Number(flags[i]),
    apRatio: apRatio ? Number(apRatio[i]) : Number.NaN,
    apVariance: apVar ? Number(apVar[i]) : Number.NaN,
  }));
}
