/**
 * PSFs in files: PSFEx's .psf format (a PSF_DATA binary table whose PSF_MASK holds one grid per
 * polynomial term), which we also write, and a plain FITS image of a PSF.
 *
 * Our PSF files hold both: the primary HDU is the PSF at the image centre at pixel sampling
 * (what simple tools expect), and the PSF_DATA extension is the whole model in PSFEx's layout,
 * so PSFEx-aware readers see our model and we read theirs.
 */

import { Header } from '../../fits/header.ts';
import type { FitsFile, Hdu, HduInput } from '../../fits/index.ts';
import { readImage, readTable } from '../../fits/index.ts';
import { BadInputError } from '../../util/errors.ts';
import {
  cutGrid,
  type EffectiveSizeOptions,
  effectiveSize,
  GridPsf,
  normaliseFlux,
  type PsfPolynomial,
  polynomialTerms,
  recentre,
} from './grid.ts';

/**
 * How a PSF is read. A PSF image may be any size and normalisation (sum ≠ 1, negative wings,
 * oversampled): it is normalised, and unless `size` is given its stamps are cut to the
 * effective size (effectiveSize: the square holding `energy` of the light, default 99.5%, but
 * at most 10 FWHM in half-width and never below 25 px or 3 FWHM), so that star fits, PSF
 * photometry and ZOGY cost the same whatever the size of the image the PSF came in (a 205-px
 * WebbPSF model: minutes otherwise). The model's `enclosed` is the share of the light its
 * stamps hold.
 */
export interface PsfReadOptions extends EffectiveSizeOptions {
  /** Stamp side (odd) instead of the effective size; the grid is then kept whole. */
  size?: number;
  /**
   * Keep the whole grid (default: the grid is cut to the nodes the stamps use, which leaves
   * the stamps as they are and keeps what works on the whole grid cheap).
   */
  keepGrid?: boolean;
  /** psfFromFits: the HDU to read (index or EXTNAME, e.g. 'DET_SAMP'), instead of choosing one. */
  hdu?: number | string;
}

export interface PsfImageOptions extends PsfReadOptions {
  /**
   * The image holds the pixel-integrated PSF (default true: PSFEx's PSF_SAMP, our own files, a
   * star's image). False for samples of the optical PSF on a finer grid (WebbPSF/poppy's
   * OVERSAMP images: the flux of each sub-pixel), which are integrated over a detector pixel,
   * as WebbPSF's own gridded PSF library does.
   */
  pixelIntegrated?: boolean;
}

/** EXTNAMEs of WebbPSF's oversampled images (OVERDIST: with the instrument's distortion). */
const OVERSAMPLED = ['OVERDIST', 'OVERSAMP'];
/** EXTNAMEs of WebbPSF's images binned to detector pixels (OVERSAMP = 1 in their headers). */
const DETECTOR = ['DET_DIST', 'DET_SAMP'];

function extname(h: Hdu): string {
  return String(h.name ?? h.header.get('EXTNAME') ?? '')
    .trim()
    .toUpperCase();
}

/**
 * The image of a PSF file to read. WebbPSF writes the oversampled PSF (OVERSAMP, its header's
 * OVERSAMP = N) and the same binned to detector pixels (DET_SAMP), each also with distortion
 * (OVERDIST, DET_DIST). The oversampled one is preferred: integrated over a detector pixel it
 * is the pixel-integrated PSF at N phases per pixel, while a detector-sampled stamp shifted by
 * interpolation broadens an undersampled PSF (JWST's short-wavelength channel, Roman). The
 * distorted version of either is preferred, being what the detector sees. Otherwise the first
 * image with OVERSAMP, else the first image.
 */
function psfImageHdu(fits: FitsFile): Hdu | undefined {
  const images = fits.hdus.filter(
    (h) => (h.kind === 'image' && h.shape.length >= 2 && h.shape[0] > 0) || h.kind === 'compressed-image',
  );
  for (const name of [...OVERSAMPLED, ...DETECTOR]) {
    const h = images.find((x) => extname(x) === name);
    if (h) return h;
  }
  return images.find((h) => (h.header.optionalNumber('OVERSAMP') ?? 1) > 1) ?? images[0];
}

/**
 * Read a PSF from a parsed FITS file: PSFEx's PSF_DATA table when present, else a PSF image
 * (see psfImageHdu) sampled every PSF_SAMP pixels (pixel-integrated, PSFEx's convention) or
 * oversampled OVERSAMP times (optical samples, WebbPSF's convention; OVERSAMP = 1 in
 * WebbPSF's detector-sampled images).
 */
export function psfFromFits(fits: FitsFile, options: PsfReadOptions = {}): GridPsf {
  const chosen = options.hdu === undefined ? undefined : fits.hdu(options.hdu);
  const table =
    chosen?.kind === 'bintable'
      ? chosen
      : chosen
        ? undefined
        : fits.hdus.find((h) => h.kind === 'bintable' && extname(h) === 'PSF_DATA');
  if (table) return psfFromPsfex(fits, table.index, options);
  const hdu = chosen ?? psfImageHdu(fits);
  if (!hdu) throw new BadInputError(`${fits.file ?? 'PSF file'}: no PSF image or PSF_DATA table`);
  const img = readImage(hdu);
  const samp = hdu.header.optionalNumber('PSF_SAMP');
  const over = hdu.header.optionalNumber('OVERSAMP');
  if (samp !== undefined && !(samp > 0))
    throw new BadInputError(`${fits.file ?? 'PSF file'}: PSF_SAMP must be positive, got ${samp}`);
  if (samp === undefined && over !== undefined && !(over > 0))
    throw new BadInputError(`${fits.file ?? 'PSF file'}: OVERSAMP must be positive, got ${over}`);
  const step = samp ?? (over ? 1 / over : 1);
  return psfFromImage(
    Float64Array.from(img.data as ArrayLike<number>),
    img.width,
    img.height,
    step,
    { ...options, pixelIntegrated: samp !== undefined || !(over !== undefined && over > 1) },
    fits.file,
  );
}

/**
 * Integrate samples of the optical PSF (step 1/N pixels, N = 1/step) over a detector pixel:
 * a box N nodes wide along each axis, end nodes weighted by the share of them inside (for an
 * even N, half), so that the centre stays on its node.
 */
function integratePixel(data: Float64Array, side: number, step: number): Float64Array {
  const w = 1 / step;
  const m = Math.ceil(w / 2 - 0.5);
  const weights = new Float64Array(2 * m + 1);
  for (let t = -m; t <= m; t++)
    weights[t + m] = Math.max(0, Math.min(t + 0.5, w / 2) - Math.max(t - 0.5, -w / 2));
  const pass = (src: Float64Array, along: 'x' | 'y'): Float64Array => {
    const out = new Float64Array(side * side);
    for (let j = 0; j < side; j++) {
      for (let i = 0; i < side; i++) {
        let acc = 0;
        for (let t = -m; t <= m; t++) {
          const ii = along === 'x' ? i + t : i;
          const jj = along === 'y' ? j + t : j;
          if (ii < 0 || jj < 0 || ii >= side || jj >= side) continue;
          acc += weights[t + m] * src[jj * side + ii];
        }
        out[j * side + i] = acc;
      }
    }
    return out;
  };
  return pass(pass(data, 'x'), 'y');
}

/** The stamps of an automatically sized model: the effective size, the grid cut to it unless kept. */
function withEffectiveSize(psf: GridPsf, options: PsfReadOptions): GridPsf {
  if (options.size !== undefined)
    return new GridPsf(psf.terms, psf.side, psf.step, psf.polynomial, options.size);
  const e = effectiveSize(psf, options);
  return options.keepGrid
    ? new GridPsf(psf.terms, psf.side, psf.step, psf.polynomial, e.size, e.enclosed)
    : cutGrid(psf, e.size, e.enclosed);
}

function checkSize(size: number | undefined, source: string): void {
  if (size !== undefined && !(Number.isInteger(size) && size >= 1 && size % 2 === 1))
    throw new BadInputError(`${source}: the PSF stamp size must be an odd number, got ${size}`);
}

/**
 * A constant PSF from an image of it (sampled every `step` pixels). Rejected (exit 65) when it
 * is not square, has non-finite values or a non-positive sum; integrated over a pixel when it
 * holds optical samples, normalised to unit sum, re-centred on its centroid, and given its
 * effective stamp size (see PsfReadOptions). A number for `options` is the stamp size.
 */
export function psfFromImage(
  data: ArrayLike<number>,
  width: number,
  height: number,
  step = 1,
  options: PsfImageOptions | number = {},
  source = 'PSF',
): GridPsf {
  const o: PsfImageOptions = typeof options === 'number' ? { size: options } : options;
  if (width !== height)
    throw new BadInputError(`${source}: a PSF image must be square, got ${width}×${height}`);
  if (width < 3)
    throw new BadInputError(`${source}: a PSF image needs at least 3×3 pixels, got ${width}×${height}`);
  if (!(step > 0))
    throw new BadInputError(`${source}: the PSF's sampling step must be positive, got ${step}`);
  checkSize(o.size, source);
  let sum = 0;
  for (let i = 0; i < width * height; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) throw new BadInputError(`${source}: the PSF has non-finite values`);
    sum += v;
  }
  if (!(sum > 0)) throw new BadInputError(`${source}: the PSF's sum is not positive (${sum})`);
  const values =
    o.pixelIntegrated === false && step < 1
      ? integratePixel(Float64Array.from(data), width, step)
      : Float64Array.from(data);
  let total = 0;
  for (const v of values) total += v;
  const grid = new Float32Array(width * height);
  // Grid semantics: Σ nodes · step² = 1.
  for (let i = 0; i < grid.length; i++) grid[i] = values[i] / total / (step * step);
  const psf = normaliseFlux(recentre(new GridPsf([grid], width, step)));
  return withEffectiveSize(psf, o);
}

/** PSFEx's model from its PSF_DATA table. PSFEx's positions are 1-based (X_IMAGE), ours 0-based. */
export function psfFromPsfex(fits: FitsFile, hduIndex: number, options: PsfReadOptions = {}): GridPsf {
  const hdu = fits.hdu(hduIndex);
  const h = hdu.header;
  const where = `${fits.file ?? 'PSF file'}, HDU ${hduIndex}`;
  checkSize(options.size, where);
  const naxis = h.integer('PSFNAXIS', 0);
  const a1 = h.integer('PSFAXIS1');
  const a2 = h.integer('PSFAXIS2');
  const a3 = naxis >= 3 ? h.integer('PSFAXIS3') : 1;
  if (a1 !== a2) throw new BadInputError(`${where}: PSFAXIS1 ${a1} ≠ PSFAXIS2 ${a2}; square PSFs only`);
  const polnaxis = h.integer('POLNAXIS', 0);
  const degree = polnaxis === 0 ? 0 : h.integer('POLDEG1', 0);
  if (polnaxis !== 0 && polnaxis !== 2)
    throw new BadInputError(`${where}: POLNAXIS ${polnaxis}; only variation in x, y is supported`);
  if (h.integer('POLNGRP', 1) > 1)
    throw new BadInputError(`${where}: several polynomial groups are not supported`);
  const polynomial: PsfPolynomial = {
    degree,
    zero: polnaxis ? [h.number('POLZERO1') - 1, h.number('POLZERO2') - 1] : [0, 0],
    scale: polnaxis ? [h.number('POLSCAL1'), h.number('POLSCAL2')] : [1, 1],
  };
  const nTerms = polynomialTerms(degree).length;
  if (a3 !== nTerms)
    throw new BadInputError(
      `${where}: PSFAXIS3 ${a3} does not match polynomial degree ${degree} (${nTerms} terms)`,
    );
  const table = readTable(hdu);
  const mask = table.column('PSF_MASK').data;
  if (!(mask instanceof Float32Array || mask instanceof Float64Array) || mask.length < a1 * a2 * a3) {
    throw new BadInputError(`${where}: PSF_MASK does not hold ${a1}×${a2}×${a3} values`);
  }
  const step = h.number('PSF_SAMP', 1);
  if (!(step > 0)) throw new BadInputError(`${where}: PSF_SAMP must be positive, got ${step}`);
  const terms: Float32Array[] = [];
  // PSFEx's grids sum to 1/step²... normalise the constant term so that Σ nodes · step² = 1.
  let sum0 = 0;
  for (let i = 0; i < a1 * a2; i++) sum0 += mask[i];
  if (!(sum0 > 0)) throw new BadInputError(`${where}: the PSF's constant term does not have a positive sum`);
  const scale = 1 / (sum0 * step * step);
  for (let k = 0; k < a3; k++) {
    const t = new Float32Array(a1 * a2);
    for (let i = 0; i < a1 * a2; i++) {
      const v = mask[k * a1 * a2 + i] * scale;
      if (!Number.isFinite(v)) throw new BadInputError(`${where}: PSF_MASK has non-finite values`);
      t[i] = v;
    }
    terms.push(t);
  }
  // Our own files state the stamp their model is used with (PSFSTAMP): read as written, so that
  // a model keeps its stamp from job to job (cutting an already cut grid again would shrink it).
  const stated = h.optionalNumber('PSFSTAMP');
  const own =
    options.size === undefined &&
    options.energy === undefined &&
    options.minSize === undefined &&
    options.minFwhm === undefined &&
    stated !== undefined &&
    Number.isInteger(stated) &&
    stated % 2 === 1 &&
    stated >= 1;
  if (own) {
    const enclosed = h.optionalNumber('PSFENCL');
    return new GridPsf(terms, a1, step, polynomial, stated, enclosed);
  }
  return withEffectiveSize(new GridPsf(terms, a1, step, polynomial), options);
}

/**
 * HDUs of a PSF file: the PSF at (x, y) (default: the polynomial's centre) at pixel sampling,
 * then the model in PSFEx's PSF_DATA layout.
 */
export function psfHdus(psf: GridPsf, extra: Header = new Header(), at?: [number, number]): HduInput[] {
  const [x, y] = at ?? [Math.round(psf.polynomial.zero[0]), Math.round(psf.polynomial.zero[1])];
  const stamp = psf.stamp(x, y);
  const shape = psf.shape(x, y);
  const primary = extra.clone();
  primary.set('PSF_FWHM', shape.fwhm, '[pix] FWHM of the pixel-integrated PSF');
  primary.set('PSF_ELLI', shape.ellipticity, '1 - B/A of the PSF');
  primary.set('PSF_X', x, '[pix] 0-based x of this PSF image');
  primary.set('PSF_Y', y, '[pix] 0-based y of this PSF image');
  primary.addComment('The PSF at (PSF_X, PSF_Y), pixel sampling, unit sum; the whole model is in PSF_DATA.');
  const table = new Header();
  const p = psf.polynomial;
  table.set('LOADED', 0, 'stars loaded (not recorded)');
  table.set('POLNAXIS', p.degree > 0 ? 2 : 0, 'number of context parameters');
  if (p.degree > 0) {
    table.set('POLGRP1', 1);
    table.set('POLNAME1', 'X_IMAGE');
    table.set('POLZERO1', p.zero[0] + 1, 'offset (1-based pixels)');
    table.set('POLSCAL1', p.scale[0]);
    table.set('POLGRP2', 1);
    table.set('POLNAME2', 'Y_IMAGE');
    table.set('POLZERO2', p.zero[1] + 1, 'offset (1-based pixels)');
    table.set('POLSCAL2', p.scale[1]);
    table.set('POLNGRP', 1);
    table.set('POLDEG1', p.degree);
  }
  table.set('PSF_FWHM', shape.fwhm, '[pix] PSF FWHM');
  table.set('PSF_SAMP', psf.step, '[pix] sampling step of the model');
  table.set('PSFSTAMP', psf.size, '[pix] side of the stamps the model is used with');
  if (psf.enclosed !== undefined)
    table.set('PSFENCL', psf.enclosed, "share of the PSF's light in a PSFSTAMP stamp");
  table.set('PSFNAXIS', 3);
  table.set('PSFAXIS1', psf.side);
  table.set('PSFAXIS2', psf.side);
  table.set('PSFAXIS3', psf.terms.length);
  const n = psf.side * psf.side;
  const all = new Float32Array(n * psf.terms.length);
  psf.terms.forEach((t, k) => {
    all.set(t, k * n);
  });
  return [
    { data: stamp, shape: [psf.size, psf.size], header: primary },
    {
      kind: 'bintable',
      name: 'PSF_DATA',
      header: table,
      columns: [
        {
          name: 'PSF_MASK',
          data: all,
          repeat: all.length,
          format: `${all.length}E`,
          dim: [psf.side, psf.side, psf.terms.length],
        },
      ],
    },
  ];
}
