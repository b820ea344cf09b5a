import { Header } from '../fits/header.ts';
import { encodeFits, type HduInput } from '../fits/index.ts';
import { formatAsciiCatalog } from '../image/extract/catalog.ts';
import type { ColumnDef } from '../image/extract/columns.ts';
import type { Source } from '../image/extract/source.ts';
import { psfHdus, type StarFit } from '../image/psf/index.ts';
import { VERSION } from '../version.ts';
import type { Wcs } from '../wcs/index.ts';
import { diffCatalogTable, formatDiffCatalog } from './diffcat.ts';
import type { SubtractResult } from './subtract.ts';

export interface Product {
  /** File name, e.g. diffimage_masked.fits. */
  name: string;
  /** What it is, for the database's products table. */
  kind: string;
  bytes: Uint8Array;
}

/** WCS and provenance cards from the science header, for every image product. */
function productHeader(science: Header, extra: Record<string, string | number>, wcs?: Wcs): Header {
  const h = wcs ? wcs.toHeader() : new Header();
  for (const key of [
    'DATE-OBS',
    'MJD-OBS',
    'MJD',
    'EXPTIME',
    'FILTER',
    'SCA_NUM',
    'POINTING',
    'ZPTMAG',
    'GAIN',
  ]) {
    const v = science.get(key);
    if (v !== undefined && v !== null) h.set(key, v, science.comment(key));
  }
  for (const [k, v] of Object.entries(extra)) h.set(k, v);
  h.set('SOFTWARE', `rapid-ts ${VERSION}`, 'pipeline software');
  return h;
}

function image(data: Float32Array, r: SubtractResult, header: Header): Uint8Array {
  return encodeFits([{ data, shape: [r.width, r.height], header }], { checksum: true });
}

/** Column definitions of the science image's star list (the stars used for matching). */
function starColumns(wcs?: Wcs): ColumnDef[] {
  type G = (s: StarFit & { number: number; sky?: { ra: number; dec: number } }) => number;
  const c = (
    name: string,
    description: string,
    unit: string,
    format: string,
    type: 'D' | 'E' | 'J',
    get: G,
  ): ColumnDef => ({
    name,
    description,
    unit,
    format,
    type,
    get: (s) => get(s as unknown as Parameters<G>[0]),
  });
  const cols = [
    c('NUMBER', 'Running object number', '', '%10d', 'J', (s) => s.number),
    c('X_IMAGE', 'Object position along x', 'pixel', '%11.4f', 'E', (s) => s.x + 1),
    c('Y_IMAGE', 'Object position along y', 'pixel', '%11.4f', 'E', (s) => s.y + 1),
  ];
  if (wcs) {
    cols.push(
      c(
        'ALPHA_J2000',
        'Right ascension of barycenter (J2000)',
        'deg',
        '%11.7f',
        'D',
        (s) => s.sky?.ra ?? Number.NaN,
      ),
      c(
        'DELTA_J2000',
        'Declination of barycenter (J2000)',
        'deg',
        '%+11.7f',
        'D',
        (s) => s.sky?.dec ?? Number.NaN,
      ),
    );
  }
  cols.push(
    c('FLUX_PSF', 'Flux from PSF-fitting', 'count', '%12.7g', 'E', (s) => s.flux),
    c('SNR', 'Signal-to-noise ratio of the aperture flux', '', '%10.4g', 'E', (s) => s.snr),
    c('CHI2_PSF', 'Reduced chi2 of the PSF fit', '', '%10.4g', 'E', (s) => s.chi2),
  );
  return cols;
}

/**
 * The products, one at a time: difference image, its uncertainty, Scorr, the difference PSF,
 * the resampled reference with coverage and uncertainty, the difference catalog (text and FITS
 * table) and the science image's star list.
 */
export function* subtractionProducts(
  r: SubtractResult,
  science: Header,
  wcs: Wcs | undefined,
  zeroPoint: number,
): Generator<Product> {
  const common = {
    FLXRATIO: r.match.fluxRatio,
    FLXRMETH: r.match.method,
    FLUXSCAL: r.zogy.fluxScale,
    REGDX: r.match.dx,
    REGDY: r.match.dy,
  };
  const head = (what: string, unit?: string) => {
    const h = productHeader(science, common, wcs);
    h.set('PRODUCT', what);
    if (unit) h.set('BUNIT', unit);
    return h;
  };
  yield {
    name: 'diffimage_masked.fits',
    kind: 'difference',
    bytes: image(r.zogy.difference, r, head('difference image D (science units), NaN masked', 'DN')),
  };
  yield {
    name: 'diffimage_uncert_masked.fits',
    kind: 'difference-uncertainty',
    bytes: image(r.zogy.differenceUncertainty, r, head('1-sigma uncertainty of D', 'DN')),
  };
  yield {
    name: 'scorrimage_masked.fits',
    kind: 'scorr',
    bytes: image(r.zogy.scoreCorr, r, head('ZOGY Scorr (sigma units)')),
  };
  {
    // The centre's PSF at pixel sampling, and (PSF_DATA) the model at the science PSF's own
    // oversampling, which PSF photometry at any sub-pixel position needs (forced photometry).
    const h = new Header();
    h.set('PRODUCT', 'PSF of the difference image (image centre), unit sum');
    h.set('FLUXSCAL', r.zogy.fluxScale, 'ZOGY F_D');
    const cx = Math.round((r.width - 1) / 2);
    const cy = Math.round((r.height - 1) / 2);
    const grid = r.zogy.differencePsfModel.gridAt(cx, cy);
    const side = Math.round(Math.sqrt(r.zogy.differencePsf.length));
    yield {
      name: 'diffpsf.fits',
      kind: 'difference-psf',
      bytes: encodeFits(
        grid ? psfHdus(grid, h, [cx, cy]) : [{ data: r.zogy.differencePsf, shape: [side, side], header: h }],
        { checksum: true },
      ),
    };
  }
  yield {
    name: 'refimage_resampled.fits',
    kind: 'reference-resampled',
    bytes: image(r.referenceResampled, r, head('reference on the science grid')),
  };
  yield {
    name: 'refimage_resampled_cov.fits',
    kind: 'reference-coverage',
    bytes: image(r.referenceCoverage, r, head('reference coverage (frames) on the science grid')),
  };
  yield {
    name: 'refimage_resampled_unc.fits',
    kind: 'reference-uncertainty',
    bytes: image(r.referenceUncertainty, r, head('reference 1-sigma uncertainty on the science grid')),
  };
  const hasWcs = wcs !== undefined;
  yield {
    name: 'diffimage_masked.txt',
    kind: 'difference-catalog-text',
    bytes: Buffer.from(formatDiffCatalog(r.sources, zeroPoint, hasWcs)),
  };
  const catHeader = new Header();
  catHeader.set('MAGZERO', zeroPoint, 'zero point of MAG_ columns');
  for (const [k, v] of Object.entries(common)) catHeader.set(k, v);
  const tableHdu: HduInput = {
    kind: 'bintable',
    name: 'LDAC_OBJECTS',
    header: catHeader,
    columns: diffCatalogTable(r.sources, zeroPoint, hasWcs),
  };
  yield {
    name: 'diffimage_masked.cat.fits',
    kind: 'difference-catalog',
    bytes: encodeFits([tableHdu], { checksum: true }),
  };
  const stars = r.scienceStars.map((s, i) => ({ ...s, number: i + 1, sky: wcs?.pixelToSky(s.x, s.y) }));
  yield {
    name: 'sciimage.cat.txt',
    kind: 'science-catalog',
    bytes: Buffer.from(
      formatAsciiCatalog(
        starColumns(wcs).map((def) => ({ def, size: 1, available: 1 })),
        stars as unknown as Source[],
        { zeropoint: zeroPoint },
      ),
    ),
  };
}
