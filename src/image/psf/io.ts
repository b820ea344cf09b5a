/**
 * PSFs in files: PSFEx's .psf format (a PSF_DATA binary table whose PSF_MASK holds one grid per
 * polynomial term), which we also write, and a plain FITS image of a PSF.
 *
 * Our PSF files hold both: the primary HDU is the PSF at the image centre at pixel sampling
 * (what simple tools expect), and the PSF_DATA extension is the whole model in PSFEx's layout,
 * so PSFEx-aware readers see our model and we read theirs.
 */

import { Header } from '../../fits/header.ts';
import type { FitsFile, HduInput } from '../../fits/index.ts';
import { readImage, readTable } from '../../fits/index.ts';
import { BadInputError } from '../../util/errors.ts';
import { GridPsf, normaliseFlux, type PsfPolynomial, polynomialTerms, recentre } from './grid.ts';

/** Read a PSF from a parsed FITS file: PSFEx's PSF_DATA table when present, else the first image. */
export function psfFromFits(fits: FitsFile, options: { size?: number } = {}): GridPsf {
  const table = fits.hdus.find((h) => h.kind === 'bintable' && (h.name ?? '').toUpperCase() === 'PSF_DATA');
  if (table) return psfFromPsfex(fits, table.index, options);
  const hdu =
    fits.hdus.find((h) => h.kind === 'image' && h.shape.length >= 2 && h.shape[0] > 0) ??
    fits.hdus.find((h) => h.kind === 'compressed-image');
  if (!hdu) throw new BadInputError(`${fits.file ?? 'PSF file'}: no PSF image or PSF_DATA table`);
  const img = readImage(hdu);
  const samp = hdu.header.optionalNumber('PSF_SAMP');
  const over = hdu.header.optionalNumber('OVERSAMP');
  const step = samp ?? (over ? 1 / over : 1);
  return psfFromImage(
    Float64Array.from(img.data as ArrayLike<number>),
    img.width,
    img.height,
    step,
    options.size,
    fits.file,
  );
}

/**
 * A constant PSF from an image of it (sampled every `step` pixels). Rejected (exit 65) when it
 * is not square, has non-finite values or a non-positive sum; normalised to unit sum and
 * re-centred on its centroid.
 */
export function psfFromImage(
  data: ArrayLike<number>,
  width: number,
  height: number,
  step = 1,
  size?: number,
  source = 'PSF',
): GridPsf {
  if (width !== height)
    throw new BadInputError(`${source}: a PSF image must be square, got ${width}×${height}`);
  if (width < 3)
    throw new BadInputError(`${source}: a PSF image needs at least 3×3 pixels, got ${width}×${height}`);
  let sum = 0;
  for (let i = 0; i < width * height; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) throw new BadInputError(`${source}: the PSF has non-finite values`);
    sum += v;
  }
  if (!(sum > 0)) throw new BadInputError(`${source}: the PSF's sum is not positive (${sum})`);
  const grid = new Float32Array(width * height);
  // Grid semantics: Σ nodes · step² = 1.
  for (let i = 0; i < grid.length; i++) grid[i] = data[i] / sum / (step * step);
  const extent = Math.floor(((width - 1) / 2) * step);
  const psf = new GridPsf([grid], width, step, undefined, size ?? 2 * extent + 1);
  return normaliseFlux(recentre(psf));
}

/** PSFEx's model from its PSF_DATA table. PSFEx's positions are 1-based (X_IMAGE), ours 0-based. */
export function psfFromPsfex(fits: FitsFile, hduIndex: number, options: { size?: number } = {}): GridPsf {
  const hdu = fits.hdu(hduIndex);
  const h = hdu.header;
  const where = `${fits.file ?? 'PSF file'}, HDU ${hduIndex}`;
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
  const extent = Math.floor(((a1 - 1) / 2) * step);
  return new GridPsf(terms, a1, step, polynomial, options.size ?? 2 * extent + 1);
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
