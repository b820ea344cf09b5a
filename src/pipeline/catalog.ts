/**
 * The difference-image catalog as the aggregator reads it: `diffimage_masked.cat.fits`, a FITS
 * binary table (HDU 1) with SourceExtractor's column names (DIFF_CATALOG_COLUMNS; pixel
 * positions 1-based). Reading takes the columns it needs by name and ignores the others.
 */
import { encodeFits, parseFits, readTable } from '../fits/index.ts';
import { PsfFlag } from '../image/extract/flags.ts';
import { BadInputError } from '../util/errors.ts';
import { DIFF_CATALOG_COLUMNS } from './types.ts';

/** A row of the difference-image catalog as aggregation registers it (diffcat.ts vets the sources first). */
export interface DiffCatalogRow {
  number: number;
  x: number;
  y: number;
  ra: number;
  dec: number;
  fluxPsf: number;
  fluxErrPsf: number;
  magPsf: number;
  magErrPsf: number;
  snrPsf: number;
  scorrPeak: number;
  isDiffPos: boolean;
  fwhm: number;
  elongation: number;
  flags: number;
  /** VETFLAGS: the vetting cuts failed (0: a likely real candidate); undefined when the catalog has none. */
  vetflags?: number;
}

/** Encode sources as a FITS binary table with the required columns. */
export function encodeDiffCatalog(rows: DiffCatalogRow[]): Uint8Array {
  const f64 = (get: (r: DiffCatalogRow) => number) => Float64Array.from(rows, get);
  const f32 = (get: (r: DiffCatalogRow) => number) => Float32Array.from(rows, get);
  return encodeFits([
    { data: [], shape: [] },
    {
      kind: 'bintable',
      name: 'LDAC_OBJECTS',
      columns: [
        { name: 'NUMBER', data: Int32Array.from(rows, (r) => r.number) },
        { name: 'X_IMAGE', data: f64((r) => r.x), unit: 'pixel' },
        { name: 'Y_IMAGE', data: f64((r) => r.y), unit: 'pixel' },
        { name: 'ALPHA_J2000', data: f64((r) => r.ra), unit: 'deg' },
        { name: 'DELTA_J2000', data: f64((r) => r.dec), unit: 'deg' },
        { name: 'FLUX_PSF', data: f32((r) => r.fluxPsf), unit: 'count' },
        { name: 'FLUXERR_PSF', data: f32((r) => r.fluxErrPsf), unit: 'count' },
        { name: 'MAG_PSF', data: f32((r) => r.magPsf), unit: 'mag' },
        { name: 'MAGERR_PSF', data: f32((r) => r.magErrPsf), unit: 'mag' },
        { name: 'SNR_PSF', data: f32((r) => r.snrPsf) },
        { name: 'SCORR_PEAK', data: f32((r) => r.scorrPeak) },
        { name: 'ISDIFFPOS', data: Int16Array.from(rows, (r) => (r.isDiffPos ? 1 : 0)) },
        { name: 'FWHM_IMAGE', data: f32((r) => r.fwhm), unit: 'pixel' },
        { name: 'ELONGATION', data: f32((r) => r.elongation) },
        { name: 'FLAGS', data: Int16Array.from(rows, (r) => r.flags) },
        ...(rows.some((r) => r.vetflags !== undefined)
          ? [{ name: 'VETFLAGS', data: Int32Array.from(rows, (r) => r.vetflags ?? 0) }]
          : []),
      ],
    },
  ]);
}

/** Read the sources of a difference-image catalog; BadInputError when a required column is missing. */
export function decodeDiffCatalog(bytes: Uint8Array, where: string): DiffCatalogRow[] {
  const fits = parseFits(bytes, { file: where });
  const hdu = fits.hdus.find((h) => h.kind === 'bintable');
  if (!hdu) throw new BadInputError(`${where}: no binary table`);
  const t = readTable(hdu);
  const cols: Record<string, ArrayLike<number | bigint | boolean>> = {};
  for (const name of DIFF_CATALOG_COLUMNS) {
    const c = t.column(name);
    if (c.repeat !== 1 || typeof c.data[0] === 'string' || Array.isArray(c.data[0]))
      throw new BadInputError(`${where}: column ${name} must be a scalar number column`);
    cols[name] = c.data as ArrayLike<number>;
  }
  const num = (name: string, i: number) => Number(cols[name][i]);
  // VETFLAGS and the PSF-fit position are optional: catalogs from other software may not have them.
  const optional = (name: string) =>
    t.columns.some((c) => c.name === name) ? (t.column(name).data as ArrayLike<number>) : undefined;
  const vet = optional('VETFLAGS');
  const psf = ['XPSF_IMAGE', 'YPSF_IMAGE', 'ALPHAPSF_J2000', 'DELTAPSF_J2000'].map(optional);
  const psfFlags = optional('FLAGS_PSF');
  const out: DiffCatalogRow[] = [];
  for (let i = 0; i < t.nrows; i++) {
    // The PSF fit's position where the fit converged: next to a brighter source the isophotal
    // barycentre leans towards it by half a pixel, and an object's forced photometry inherits
    // that as a flux loss of 10–15%.
    const fit =
      psfFlags !== undefined &&
      (Number(psfFlags[i]) & (PsfFlag.NOT_CONVERGED | PsfFlag.NO_DATA)) === 0 &&
      psf.every((c) => c !== undefined && Number.isFinite(Number(c[i])));
    out.push({
      number: num('NUMBER', i),
      x: fit ? Number(psf[0]![i]) : num('X_IMAGE', i),
      y: fit ? Number(psf[1]![i]) : num('Y_IMAGE', i),
      ra: fit ? Number(psf[2]![i]) : num('ALPHA_J2000', i),
      dec: fit ? Number(psf[3]![i]) : num('DELTA_J2000', i),
      fluxPsf: num('FLUX_PSF', i),
      fluxErrPsf: num('FLUXERR_PSF', i),
      magPsf: num('MAG_PSF', i),
      magErrPsf: num('MAGERR_PSF', i),
      snrPsf: num('SNR_PSF', i),
      scorrPeak: num('SCORR_PEAK', i),
      isDiffPos: num('ISDIFFPOS', i) !== 0,
      fwhm: num('FWHM_IMAGE', i),
      elongation: num('ELONGATION', i),
      flags: num('FLAGS', i),
      ...(vet ? { vetflags: Number(vet[i]) } : {}),
    });
  }
  return out;
}
