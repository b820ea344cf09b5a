/**
 * Loading an image for a command or a job: pixels from the chosen HDU (or the first HDU holding an
 * image), as the shared Image type, with the header a user would expect to apply: the image
 * HDU's cards, completed by the primary header's (OpenUniverse keeps the WCS and metadata in
 * HDU 0 and the pixels in HDU 1).
 */
import { access } from 'node:fs/promises';
import { Header } from '../fits/header.ts';
import { type FitsFile, readFits, readImage } from '../fits/index.ts';
import type { Image } from '../image/image.ts';
import { psfFromFits } from '../image/psf/index.ts';
import type { PsfModel } from '../image/psf/model.ts';
import { type ExposureMetadata, exposureMetadata } from '../instrument/exposure.ts';
import { BadInputError, MissingInputError } from '../util/errors.ts';

export interface LoadedImage {
  image: Image;
  /** The image HDU's header completed by the primary's (effectiveHeader). */
  header: Header;
  /** The exposure's metadata from that header (gain, zero point, saturation, …). */
  metadata: ExposureMetadata;
  fits: FitsFile;
  hdu: number;
}

/** Read a FITS file; MissingInputError (66) when it does not exist. */
export async function openFits(path: string): Promise<FitsFile> {
  try {
    await access(path);
  } catch {
    throw new MissingInputError(`${path}: no such file; check the path`);
  }
  return readFits(path, { warn: (m) => console.error(`rapid: warning: ${m}`) });
}

/** The image HDU's header with the primary header's cards it lacks. */
export function effectiveHeader(fits: FitsFile, index: number): Header {
  const own = fits.hdus[index].imageHeader;
  if (index === 0) return own.clone();
  const merged = new Header();
  const primary = fits.hdus[0].header;
  for (const c of primary.cards) if (c.value !== undefined && !own.has(c.key)) merged.cards.push({ ...c });
  for (const c of own.cards) merged.cards.push({ ...c });
  return merged;
}

/**
 * The one way a command or a job reads an exposure: the pixels of the chosen HDU (or the first
 * holding an image) as Float32, integer BLANK pixels as NaN, a cube accepted only when its
 * further axes are 1; an image with no valid pixel is refused. With `shared`, the pixels are in
 * shared memory when they can be (worker threads then read them without a copy).
 */
export function exposureImage(
  fits: FitsFile,
  hdu?: string | number,
  options: { shared?: boolean } = {},
): Omit<LoadedImage, 'fits'> {
  const h = hdu === undefined ? fits.firstImage() : fits.hdu(hdu);
  const where = `${fits.file ?? 'FITS file'}, HDU ${h.index}`;
  const img = readImage(h, { shared: options.shared });
  if (img.shape.length < 2 || img.width < 1 || img.height < 1)
    throw new BadInputError(`${where}: expected a 2-D image, got shape ${img.shape.join('×') || 'none'}`);
  if (img.shape.slice(2).some((n) => n > 1))
    throw new BadInputError(`${where}: a cube (${img.shape.join('×')}); give a 2-D image`);
  const n = img.width * img.height;
  const src = img.data;
  // Float pixels are used as read (they are ours to change); others are converted once.
  let data: Float32Array;
  if (src instanceof Float32Array && src.length === n) data = src;
  else if (src instanceof BigInt64Array || src instanceof BigUint64Array)
    data = Float32Array.from(src.subarray(0, n), Number);
  else data = Float32Array.from((src as Exclude<typeof src, BigInt64Array | BigUint64Array>).subarray(0, n));
  // Integer BLANK pixels have no data.
  if (img.blank !== undefined && !(src instanceof Float32Array || src instanceof Float64Array)) {
    const blank = Number(img.blank);
    for (let i = 0; i < n; i++) if (Number(src[i]) === blank) data[i] = Number.NaN;
  }
  let valid = false;
  for (let i = 0; i < n && !valid; i++) valid = !Number.isNaN(data[i]);
  if (!valid) throw new BadInputError(`${where}: no valid pixels (all NaN or BLANK)`);
  const header = effectiveHeader(fits, h.index);
  return {
    image: { width: img.width, height: img.height, data },
    header,
    metadata: exposureMetadata(header),
    hdu: h.index,
  };
}

/** Read an exposure from a file (see exposureImage); 66 when it does not exist, 65 when unusable. */
export async function loadImage(
  path: string,
  hdu?: string | number,
  options: { shared?: boolean } = {},
): Promise<LoadedImage> {
  const fits = await openFits(path);
  return { ...exposureImage(fits, hdu, options), fits };
}

/** A PSF from a file: any FITS PSF image (any size, normalisation, oversampling) or PSFEx .psf. */
export async function loadPsf(path: string): Promise<PsfModel> {
  return psfFromFits(await openFits(path));
}
