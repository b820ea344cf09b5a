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
import { BadInputError, MissingInputError } from '../util/errors.ts';

export interface LoadedImage {
  image: Image;
  header: Header;
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

export async function loadImage(path: string, hdu?: string | number): Promise<LoadedImage> {
  const fits = await openFits(path);
  const h = hdu === undefined ? fits.firstImage() : fits.hdu(hdu);
  const img = readImage(h);
  if (img.shape.length !== 2) {
    throw new BadInputError(
      `${path}, HDU ${h.index}: expected a 2-D image, got shape ${img.shape.join('×') || 'none'}`,
    );
  }
  const data = img.data instanceof Float32Array ? img.data : Float32Array.from(img.data as ArrayLike<number>);
  return {
    image: { width: img.width, height: img.height, data },
    header: effectiveHeader(fits, h.index),
    fits,
    hdu: h.index,
  };
}
