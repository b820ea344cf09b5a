import { Header } from '../fits/header.ts';
import { encodeFits, type HduInput } from '../fits/index.ts';
import { formatAsciiCatalog } from '../image/extract/catalog.ts';
import type { ColumnDef } from '../image/extract/columns.ts';
import type { Source } from '../image/extract/source.ts';
import { psfHdus, type StarFit } from '../image/psf/index.ts';
import type { SfftDifference } from '../image/sfft/difference.ts';
import { VERSION } from '../version.ts';
import type { Wcs } from '../wcs/index.ts';
import type { VettedSource } from './diffcat.ts';
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
    REGDX: r.match.dx,
    REGDY: r.match.dy,
  };
  const head = (what: string, cards: Record<string, string | number>, unit?: string) => {
    const h = productHeader(science, cards, wcs);
    h.set('PRODUCT', what);
    if (unit) h.set('BUNIT', unit);
    return h;
  };
  const hasWcs = wcs !== undefined;
  /** A difference catalog as text and as a FITS table (the one aggregation reads). */
  function* catalogs(base: string, sources: VettedSource[], cards: Record<string, string | number>) {
    yield {
      name: `${base}.txt`,
      kind: `${base.startsWith('sfft') ? 'sfft-' : ''}difference-catalog-text`,
      bytes: Buffer.from(formatDiffCatalog(sources, zeroPoint, hasWcs)),
    };
    const catHeader = new Header();
    catHeader.set('MAGZERO', zeroPoint, 'zero point of MAG_ columns');
    for (const [k, v] of Object.entries(cards)) catHeader.set(k, v);
    const tableHdu: HduInput = {
      kind: 'bintable',
      name: 'LDAC_OBJECTS',
      header: catHeader,
      columns: diffCatalogTable(sources, zeroPoint, hasWcs),
    };
    yield {
      name: `${base}.cat.fits`,
      kind: `${base.startsWith('sfft') ? 'sfft-' : ''}difference-catalog`,
      bytes: encodeFits([tableHdu], { checksum: true }),
    };
  }
  const z = r.zogy;
  if (z) {
    const cards = { ...common, METHOD: 'zogy', FLUXSCAL: z.fluxScale };
    yield {
      name: 'diffimage_masked.fits',
      kind: 'difference',
      bytes: image(z.difference, r, head('difference image D (science units), NaN masked', cards, 'DN')),
    };
    yield {
      name: 'diffimage_uncert_masked.fits',
      kind: 'difference-uncertainty',
      bytes: image(z.differenceUncertainty, r, head('1-sigma uncertainty of D', cards, 'DN')),
    };
    yield {
      name: 'scorrimage_masked.fits',
      kind: 'scorr',
      bytes: image(z.scoreCorr, r, head('ZOGY Scorr (sigma units)', cards)),
    };
    // The centre's PSF at pixel sampling, and (PSF_DATA) the model at the science PSF's own
    // oversampling, which PSF photometry at any sub-pixel position needs (forced photometry).
    const h = new Header();
    h.set('PRODUCT', 'PSF of the difference image (image centre), unit sum');
    h.set('FLUXSCAL', z.fluxScale, 'ZOGY F_D');
    const cx = Math.round((r.width - 1) / 2);
    const cy = Math.round((r.height - 1) / 2);
    const grid = z.differencePsfModel.gridAt(cx, cy);
    const side = Math.round(Math.sqrt(z.differencePsf.length));
    yield {
      name: 'diffpsf.fits',
      kind: 'difference-psf',
      bytes: encodeFits(
        grid ? psfHdus(grid, h, [cx, cy]) : [{ data: z.differencePsf, shape: [side, side], header: h }],
        { checksum: true },
      ),
    };
  }
  const sfft = r.sfft?.result;
  if (sfft) yield* sfftProducts(r, sfft, (what, unit) => head(what, sfftCards(sfft), unit));
  const noCards = {};
  yield {
    name: 'refimage_resampled.fits',
    kind: 'reference-resampled',
    bytes: image(r.referenceResampled, r, head('reference on the science grid', noCards)),
  };
  yield {
    name: 'refimage_resampled_cov.fits',
    kind: 'reference-coverage',
    bytes: image(r.referenceCoverage, r, head('reference coverage (frames) on the science grid', noCards)),
  };
  yield {
    name: 'refimage_resampled_unc.fits',
    kind: 'reference-uncertainty',
    bytes: image(
      r.referenceUncertainty,
      r,
      head('reference 1-sigma uncertainty on the science grid', noCards),
    ),
  };
  if (z) yield* catalogs('diffimage_masked', r.sources, { ...common, METHOD: 'zogy', FLUXSCAL: z.fluxScale });
  if (sfft && r.sfft) yield* catalogs('sfftdiffimage_masked', r.sfft.sources, sfftCards(sfft));
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

/** Header cards of SFFT's products: the method, its mode and the fitted flux ratio. */
function sfftCards(s: SfftDifference): Record<string, string | number> {
  return {
    METHOD: 'sfft',
    SFFTMODE: s.mode,
    SFFTCONV: s.convolved,
    FLXRATIO: s.fluxRatio,
    FLXRMETH: 'sfft',
    SFFTHW: s.fit.solution.halfWidth,
    SFFTNOIS: s.noise,
  };
}

/**
 * SFFT's products with RAPID's names: in cross-convolution mode the cross-convolved difference
 * (sfftdiffimage_cconv_masked.fits) and its decorrelation (sfftdiffimage_dconv_masked.fits); in
 * direct mode the difference (sfftdiffimage_masked.fits) and its decorrelation; then the
 * decorrelated difference's uncertainty and PSF, and the solution (kernel and background).
 */
function* sfftProducts(
  r: SubtractResult,
  s: SfftDifference,
  head: (what: string, unit?: string) => Header,
): Generator<Product> {
  if (s.mode === 'cross') {
    yield {
      name: 'sfftdiffimage_cconv_masked.fits',
      kind: 'sfft-difference-cconv',
      bytes: image(s.difference, r, head('SFFT cross-convolved difference S*P_R - K*R*P_S - B', 'DN')),
    };
  } else {
    yield {
      name: 'sfftdiffimage_masked.fits',
      kind: 'sfft-difference',
      bytes: image(s.difference, r, head('SFFT difference S - K*R - B (science units)', 'DN')),
    };
  }
  yield {
    name: 'sfftdiffimage_dconv_masked.fits',
    kind: 'sfft-difference-dconv',
    bytes: image(s.decorrelated, r, head('SFFT decorrelated difference (white noise, science units)', 'DN')),
  };
  yield {
    name: 'sfftdiffimage_uncert_masked.fits',
    kind: 'sfft-difference-uncertainty',
    bytes: image(s.uncertainty, r, head('1-sigma uncertainty of the decorrelated difference', 'DN')),
  };
  const ph = head('PSF of the SFFT decorrelated difference (image centre), unit sum');
  yield {
    name: 'sfftdiffpsf.fits',
    kind: 'sfft-difference-psf',
    bytes: encodeFits([{ data: s.psf, shape: [s.psfSide, s.psfSide], header: ph }], { checksum: true }),
  };
  yield { name: 'sfftsoln.fits', kind: 'sfft-solution', bytes: sfftSolutionFits(s, ph) };
}

/**
 * The solution: HDU 0 the kernel terms as a cube ((2w+1)² per term, monomials u^a v^b of the
 * position about CENX, CENY in units of SCALE, term order in the TERMn cards), HDU 1 (BKG) the
 * background terms as a one-row image.
 */
function sfftSolutionFits(s: SfftDifference, base: Header): Uint8Array {
  const sol = s.fit.solution;
  const side = 2 * sol.halfWidth + 1;
  const terms = sol.kernel.length;
  const cube = new Float64Array(side * side * terms);
  for (let p = 0; p < terms; p++) cube.set(sol.kernel[p], p * side * side);
  const h = base.clone();
  h.set('PRODUCT', 'SFFT solution: matching kernel terms (cube) and background terms (BKG)');
  h.set('KERORDER', sol.kernelOrder, 'polynomial degree of the kernel variation');
  h.set('BKGORDER', sol.backgroundOrder, 'polynomial degree of the background');
  h.set('CENX', sol.frame.cx, '[pix, 0-based] polynomial origin x');
  h.set('CENY', sol.frame.cy, '[pix, 0-based] polynomial origin y');
  h.set('SCALE', sol.frame.scale, '[pix] polynomial length unit');
  h.set('CONDNUM', sol.condition, 'condition number of the scaled normal equations');
  h.set('KSUM', s.fluxRatio, 'kernel sum at the image centre (flux ratio)');
  const bh = new Header();
  bh.set('EXTNAME', 'BKG');
  return encodeFits(
    [
      { data: cube, shape: [side, side, terms], header: h, bitpix: -64 },
      { data: Float64Array.from(sol.background), shape: [sol.background.length, 1], header: bh, bitpix: -64 },
    ],
    { checksum: true },
  );
}
