/**
 * Cutouts for alert packets: a square stamp (63×63 by default) centred on a source, as a gzipped
 * FITS image (BITPIX −32) whose header carries the stamp's own WCS.
 *
 * Conventions: positions are 0-based pixel centres (x along a row); the stamp's centre pixel is
 * the parent pixel nearest the position, floor(x + 0.5), floor(y + 0.5), so a source sits within
 * half a pixel of the stamp centre. Stamp pixels that fall outside the parent image are NaN.
 * The stamp's WCS is the parent's with CRPIX shifted by the stamp's origin; SIP and TPV terms
 * are relative to CRPIX (SIP) or to intermediate coordinates (TPV), so they carry over
 * unchanged and the stamp maps every pixel to exactly the parent's sky position.
 */
import { gzipSync } from 'node:zlib';
import { Header } from '../fits/header.ts';
import { encodeFits } from '../fits/write.ts';
import { UsageError } from '../util/errors.ts';
import { Wcs } from '../wcs/wcs.ts';

/** The alert packets' stamp side (odd, so that one pixel is the centre). */
export const CUTOUT_SIZE = 63;

export interface CutoutOptions {
  /** Side of the square stamp, odd; default 63. */
  size?: number;
  /** gzip level, 1 (fastest) … 9; default 6. */
  level?: number;
  /** Extra cards for the stamp's header (e.g. what the stamp shows: 'science', 'template'). */
  header?: Header;
}

export interface Stamp {
  /** Parent pixel (0-based) of the stamp's pixel (0, 0). */
  x0: number;
  y0: number;
  size: number;
  data: Float32Array;
}

/**
 * The pixels of a size×size stamp centred on the parent pixel nearest (x, y), NaN where the
 * stamp leaves the image. `image` holds width×height values, x fastest.
 */
export function cutStamp(
  image: ArrayLike<number>,
  width: number,
  height: number,
  x: number,
  y: number,
  size = CUTOUT_SIZE,
): Stamp {
  if (!Number.isInteger(size) || size < 1 || size % 2 === 0)
    throw new UsageError(`cutout size must be an odd whole number, got ${size}`);
  if (image.length !== width * height)
    throw new UsageError(`image holds ${image.length} values, not ${width} × ${height}`);
  if (!Number.isFinite(x) || !Number.isFinite(y))
    throw new UsageError(`cutout centre must be finite, got (${x}, ${y})`);
  const half = (size - 1) / 2;
  const x0 = Math.floor(x + 0.5) - half;
  const y0 = Math.floor(y + 0.5) - half;
  const data = new Float32Array(size * size).fill(Number.NaN);
  // Only the overlap of the stamp and the image is copied, one row at a time.
  const i0 = Math.max(0, -x0);
  const i1 = Math.min(size, width - x0);
  const j0 = Math.max(0, -y0);
  const j1 = Math.min(size, height - y0);
  const typed = ArrayBuffer.isView(image) ? (image as unknown as Float32Array) : undefined;
  for (let j = j0; j < j1; j++) {
    const src = (y0 + j) * width + x0;
    const dst = j * size;
    if (typed) data.set(typed.subarray(src + i0, src + i1), dst + i0);
    else for (let i = i0; i < i1; i++) data[dst + i] = image[src + i];
  }
  return { x0, y0, size, data };
}

/** The WCS of a stamp whose pixel (0, 0) is the parent's pixel (x0, y0). */
export function stampWcs(parent: Wcs, x0: number, y0: number, size: number): Wcs {
  const p = parent.parameters;
  return new Wcs({ ...p, crpix: [p.crpix[0] - x0, p.crpix[1] - y0], width: size, height: size });
}

/**
 * A gzipped FITS cutout centred on (x, y) (0-based parent pixels) with the stamp's WCS, plus the
 * IRAF LTV1/LTV2 cards (stamp pixel = parent pixel + LTV) so viewers can show parent coordinates.
 */
export function cutout(
  image: ArrayLike<number>,
  width: number,
  height: number,
  x: number,
  y: number,
  wcs: Wcs,
  options: CutoutOptions = {},
): Uint8Array {
  const stamp = cutStamp(image, width, height, x, y, options.size ?? CUTOUT_SIZE);
  const header = options.header?.clone() ?? new Header();
  stampWcs(wcs, stamp.x0, stamp.y0, stamp.size).writeToHeader(header);
  header.set('LTV1', -stamp.x0, 'stamp x = parent x + LTV1 (1-based pixels)');
  header.set('LTV2', -stamp.y0, 'stamp y = parent y + LTV2 (1-based pixels)');
  const fits = encodeFits([{ data: stamp.data, shape: [stamp.size, stamp.size], header }]);
  return gzipSync(fits, { level: options.level ?? 6 });
}
