/**
 * Image data: decoding pixels into PHYSICAL values and encoding them for writing
 * (FITS Standard 4.0, sections 5.2-5.3 and 4.4.2.5: BSCALE, BZERO, BLANK).
 *
 * Result type by BITPIX and scaling (what `readImage` returns):
 *   BITPIX  BSCALE / BZERO             data
 *   8       none                       Uint8Array
 *   8       1 / -128                   Int8Array   (signed-byte convention)
 *   16      none                       Int16Array
 *   16      1 / 32768                  Uint16Array (unsigned 16-bit convention)
 *   32      none                       Int32Array
 *   32      1 / 2147483648             Uint32Array
 *   64      none                       BigInt64Array (Number would lose digits beyond 2^53)
 *   64      1 / 9223372036854775808    BigUint64Array
 *   8, 16   anything else              Float32Array, BLANK pixels -> NaN
 *   32, 64  anything else              Float64Array, BLANK pixels -> NaN
 *   -32                                Float32Array (BSCALE/BZERO applied in float32 if present)
 *   -64                                Float64Array
 * Integer results keep BLANK pixels as stored; `blank` then gives that (physical) value.
 * Pixels are in FITS order, x fastest: data[y * width + x] (0-based), then planes.
 */
import { BadInputError } from '../util/errors.ts';
import { encodeBigEndian, type NumericArray, toHostOrder } from './bytes.ts';
import { decompressImage, type StoredImage } from './compress.ts';
import { type Bitpix, type Hdu, isBitpix } from './hdu.ts';
import type { Header } from './header.ts';
import type { ByteSource } from './source.ts';

export type ImageData =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

export interface FitsImage {
  /** NAXIS1 (0 when NAXIS = 0). */
  width: number;
  /** NAXIS2 (1 for a one-dimensional image). */
  height: number;
  /** NAXIS1, NAXIS2, ...; data.length is their product. */
  shape: number[];
  /** Physical values, x fastest. */
  data: ImageData;
  /** BITPIX as stored (ZBITPIX for a compressed image). */
  bitpix: Bitpix;
  bscale: number;
  bzero: number;
  /** The value of undefined pixels in an integer result (BLANK, in physical units). */
  blank?: number | bigint;
  /** The image's header (for a compressed image, that of the uncompressed image). */
  header: Header;
}

const TWO63 = 2n ** 63n;

/**
 * The stored pixels as a new array of the stored type: the bytes are read (from memory or
 * straight from the file) into the array's own buffer and swapped there, with no other copy.
 * With `shared`, that buffer is a SharedArrayBuffer (worker threads can then use the pixels
 * without a copy).
 */
function decodeStored(
  source: ByteSource,
  offset: number,
  n: number,
  bitpix: Bitpix,
  shared: boolean,
): StoredImage {
  const bytes = (Math.abs(bitpix) / 8) * n;
  const buffer = shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  const out =
    bitpix === 8
      ? new Uint8Array(buffer)
      : bitpix === 16
        ? new Int16Array(buffer)
        : bitpix === 32
          ? new Int32Array(buffer)
          : bitpix === 64
            ? new BigInt64Array(buffer)
            : bitpix === -32
              ? new Float32Array(buffer)
              : new Float64Array(buffer);
  const size = out.BYTES_PER_ELEMENT;
  source.readInto(new Uint8Array(out.buffer, 0, out.byteLength), offset, (piece) => toHostOrder(piece, size));
  return out;
}

/**
 * Stored values to physical values (see the table above). Works in place where the result
 * type has the stored width (floats, the unsigned conventions), so no second array is made.
 */
export function toPhysical(
  stored: StoredImage,
  bitpix: Bitpix,
  header: Header,
): { data: ImageData; bscale: number; bzero: number; blank?: number | bigint } {
  const bscale = header.optionalNumber('BSCALE') ?? 1;
  const bzeroValue = header.get('BZERO');
  const bzero = typeof bzeroValue === 'number' || typeof bzeroValue === 'bigint' ? Number(bzeroValue) : 0;
  if (
    bzeroValue !== undefined &&
    bzeroValue !== null &&
    typeof bzeroValue !== 'number' &&
    typeof bzeroValue !== 'bigint'
  ) {
    throw new BadInputError(`${header.where('BZERO')}: BZERO is not a number`);
  }
  const blankValue = header.get('BLANK');
  if (bitpix < 0) {
    if (bscale !== 1 || bzero !== 0) {
      const a = stored as Float32Array | Float64Array;
      for (let i = 0; i < a.length; i++) a[i] = a[i] * bscale + bzero;
    }
    return { data: stored, bscale, bzero };
  }
  const blank = typeof blankValue === 'number' || typeof blankValue === 'bigint' ? blankValue : undefined;
  if (bscale === 1 && bzero === 0) return { data: stored, bscale, bzero, blank };
  if (bscale === 1) {
    if (bitpix === 8 && bzero === -128) {
      const a = new Int8Array(stored.buffer, stored.byteOffset, stored.length);
      for (let i = 0; i < a.length; i++) a[i] ^= -128;
      return { data: a, bscale, bzero, blank: blank === undefined ? undefined : Number(blank) - 128 };
    }
    if (bitpix === 16 && bzero === 32768) {
      const a = new Uint16Array(stored.buffer, stored.byteOffset, stored.length);
      for (let i = 0; i < a.length; i++) a[i] ^= 0x8000;
      return { data: a, bscale, bzero, blank: blank === undefined ? undefined : Number(blank) + 32768 };
    }
    if (bitpix === 32 && bzero === 2147483648) {
      const a = new Uint32Array(stored.buffer, stored.byteOffset, stored.length);
      for (let i = 0; i < a.length; i++) a[i] ^= 0x80000000;
      return { data: a, bscale, bzero, blank: blank === undefined ? undefined : Number(blank) + 2147483648 };
    }
    if (bitpix === 64 && bzero === 2 ** 63) {
      const a = new BigUint64Array(stored.buffer, stored.byteOffset, stored.length);
      for (let i = 0; i < a.length; i++) a[i] ^= TWO63;
      return { data: a, bscale, bzero, blank: blank === undefined ? undefined : BigInt(blank) + TWO63 };
    }
  }
  // General linear scaling: floats, with BLANK -> NaN.
  const out = bitpix <= 16 ? new Float32Array(stored.length) : new Float64Array(stored.length);
  if (stored instanceof BigInt64Array) {
    const b = blank === undefined ? undefined : BigInt(blank);
    for (let i = 0; i < stored.length; i++) {
      out[i] = stored[i] === b ? Number.NaN : Number(stored[i]) * bscale + bzero;
    }
  } else {
    const a = stored as Uint8Array | Int16Array | Int32Array;
    const b = blank === undefined ? Number.NaN : Number(blank);
    for (let i = 0; i < a.length; i++) out[i] = a[i] === b ? Number.NaN : a[i] * bscale + bzero;
  }
  return { data: out, bscale, bzero };
}

/** The error for an HDU whose data we cannot decode (non-standard extension, random groups). */
export function unreadable(hdu: Hdu, as: string): BadInputError {
  if (hdu.xtension !== undefined) {
    return new BadInputError(
      `${hdu.header.where('XTENSION')}: extension type XTENSION = '${hdu.xtension}' is not standard; its data cannot be read as ${as}`,
    );
  }
  return new BadInputError(
    `${hdu.where}: random-groups data (GROUPS = T) are not supported; they cannot be read as ${as}`,
  );
}

/**
 * The image of an image or compressed-image HDU, as physical values. With `shared`, the pixels
 * of an uncompressed image whose physical values have the stored width (floats, unscaled
 * integers) are in a SharedArrayBuffer.
 */
export function readImage(hdu: Hdu, options: { shared?: boolean } = {}): FitsImage {
  if (hdu.kind === 'unknown') throw unreadable(hdu, 'an image');
  if (hdu.kind !== 'image' && hdu.kind !== 'compressed-image') {
    throw new BadInputError(`${hdu.where} is a ${hdu.typeName} HDU, not an image`);
  }
  const shape = hdu.shape;
  const n = shape.reduce((a, b) => a * b, shape.length > 0 ? 1 : 0);
  if (n === 0) {
    const hint = hdu.index === 0 ? '; the image may be in an extension (HDU 1)' : '';
    throw new BadInputError(
      `${hdu.where} holds no image data (NAXIS = ${shape.length}, shape ${shape.join(' x ') || '-'})${hint}`,
    );
  }
  const bitpix = hdu.bitpix;
  if (!isBitpix(bitpix)) throw new BadInputError(`${hdu.where}: unknown BITPIX = ${bitpix}`);
  const header = hdu.imageHeader;
  const stored =
    hdu.kind === 'compressed-image'
      ? decompressImage(hdu)
      : decodeStored(hdu.source, hdu.dataStart, n, bitpix, options.shared === true);
  const p = toPhysical(stored, bitpix, header);
  return {
    width: shape[0],
    height: shape.length > 1 ? shape[1] : 1,
    shape: [...shape],
    data: p.data,
    bitpix,
    bscale: p.bscale,
    bzero: p.bzero,
    blank: p.blank,
    header,
  };
}

/**
 * Does an image HDU hold a pixel with a value: a finite one (floating-point BITPIX), one that is
 * not BLANK (integer BITPIX)? Read from the stored bytes without decoding them, stopping at the
 * first: a usable image costs next to nothing. A compressed image is decompressed (so every
 * tile must decode). BadInputError when the HDU holds no image, as readImage.
 */
export function anyValidPixel(hdu: Hdu): boolean {
  const n = hdu.shape.reduce((a, b) => a * b, hdu.shape.length > 0 ? 1 : 0);
  if (hdu.kind !== 'image' || n === 0 || !isBitpix(hdu.bitpix)) {
    const img = readImage(hdu);
    const d = img.data;
    if (d instanceof Float32Array || d instanceof Float64Array) return d.some(Number.isFinite);
    if (img.blank === undefined) return d.length > 0;
    const blank = img.blank;
    if (d instanceof BigInt64Array || d instanceof BigUint64Array) return d.some((v) => v !== BigInt(blank));
    return (d as Exclude<ImageData, BigInt64Array | BigUint64Array>).some((v) => v !== Number(blank));
  }
  const bitpix = hdu.bitpix;
  const blank = hdu.header.get('BLANK');
  if (bitpix > 0 && typeof blank !== 'number' && typeof blank !== 'bigint') return true;
  const size = Math.abs(bitpix) / 8;
  const total = n * size;
  const piece = 1 << 18;
  for (let start = 0; start < total; start += piece) {
    const b = hdu.source.bytes(hdu.dataStart + start, Math.min(piece, total - start));
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    // An IEEE value is NaN or infinite when its exponent bits are all ones.
    if (bitpix === -32) {
      for (let i = 0; i + 4 <= b.length; i += 4)
        if ((b[i] & 0x7f) !== 0x7f || (b[i + 1] & 0x80) !== 0x80) return true;
    } else if (bitpix === -64) {
      for (let i = 0; i + 8 <= b.length; i += 8)
        if ((b[i] & 0x7f) !== 0x7f || (b[i + 1] & 0xf0) !== 0xf0) return true;
    } else if (bitpix === 64) {
      const v = BigInt(blank as number | bigint);
      for (let i = 0; i + 8 <= b.length; i += 8) if (view.getBigInt64(i) !== v) return true;
    } else {
      const v = Number(blank);
      const get =
        bitpix === 8
          ? (i: number) => b[i]
          : bitpix === 16
            ? (i: number) => view.getInt16(i)
            : (i: number) => view.getInt32(i);
      for (let i = 0; i + size <= b.length; i += size) if (get(i) !== v) return true;
    }
  }
  return false;
}

// ---- writing ------------------------------------------------------------------------------

/** How an image will be stored: BITPIX, scaling keywords, and a function that writes the bytes. */
export interface EncodedImage {
  bitpix: Bitpix;
  bscale?: number;
  bzero?: number | bigint;
  blank?: number | bigint;
  byteLength: number;
  write(dest: Uint8Array, offset: number): void;
}

export interface ImageEncoding {
  bitpix?: Bitpix;
  bscale?: number;
  bzero?: number;
  /** BLANK for an integer BITPIX: the stored value that NaN pixels become. */
  blank?: number;
}

/** The BITPIX that holds a typed array exactly, and the BZERO of the unsigned conventions. */
function natural(data: ArrayLike<number | bigint>): { bitpix: Bitpix; bzero?: number | bigint } {
  if (data instanceof Float32Array) return { bitpix: -32 };
  if (data instanceof Float64Array) return { bitpix: -64 };
  if (data instanceof Uint8Array || data instanceof Uint8ClampedArray) return { bitpix: 8 };
  if (data instanceof Int8Array) return { bitpix: 8, bzero: -128 };
  if (data instanceof Int16Array) return { bitpix: 16 };
  if (data instanceof Uint16Array) return { bitpix: 16, bzero: 32768 };
  if (data instanceof Int32Array) return { bitpix: 32 };
  if (data instanceof Uint32Array) return { bitpix: 32, bzero: 2147483648 };
  if (data instanceof BigInt64Array) return { bitpix: 64 };
  if (data instanceof BigUint64Array) return { bitpix: 64, bzero: TWO63 };
  return { bitpix: -64 };
}

const RANGE: Record<number, [number, number]> = {
  8: [0, 255],
  16: [-32768, 32767],
  32: [-2147483648, 2147483647],
  64: [-(2 ** 63), 2 ** 63 - 1],
};

/**
 * Plan how to store image values. Without explicit `bitpix`/`bscale`/`bzero` a typed array is
 * stored exactly in its own type (unsigned types with the BZERO conventions); otherwise values
 * are converted: stored = round((value - BZERO) / BSCALE) for an integer BITPIX, NaN -> BLANK.
 */
export function encodeImage(data: ArrayLike<number | bigint>, enc: ImageEncoding = {}): EncodedImage {
  const nat = natural(data);
  const n = data.length;
  const exact =
    (enc.bitpix === undefined || enc.bitpix === nat.bitpix) &&
    enc.bscale === undefined &&
    enc.bzero === undefined &&
    ArrayBuffer.isView(data);
  if (exact) {
    const a = data as unknown as NumericArray;
    const size = Math.abs(nat.bitpix) / 8;
    return {
      bitpix: nat.bitpix,
      bscale: nat.bzero !== undefined ? 1 : undefined,
      bzero: nat.bzero,
      blank: nat.bitpix > 0 ? enc.blank : undefined,
      byteLength: n * size,
      write(dest, offset) {
        encodeBigEndian(a, dest, offset);
        if (nat.bzero === undefined) return;
        // Unsigned conventions: stored = value - BZERO, i.e. the top bit flipped. After the swap
        // to big-endian the top bit is in the first byte of each element.
        const end = offset + n * size;
        for (let i = offset; i < end; i += size) dest[i] ^= 0x80;
      },
    };
  }
  const bitpix = enc.bitpix ?? nat.bitpix;
  if (!isBitpix(bitpix)) throw new RangeError(`BITPIX ${bitpix} is not valid`);
  const bscale = enc.bscale ?? 1;
  const bzero = enc.bzero ?? 0;
  if (bscale === 0 || !Number.isFinite(bscale) || !Number.isFinite(bzero)) {
    throw new RangeError(`BSCALE/BZERO must be finite and BSCALE non-zero (got ${bscale}, ${bzero})`);
  }
  const size = Math.abs(bitpix) / 8;
  let blank = enc.blank;
  const stored: NumericArray =
    bitpix === 8
      ? new Uint8Array(n)
      : bitpix === 16
        ? new Int16Array(n)
        : bitpix === 32
          ? new Int32Array(n)
          : bitpix === 64
            ? new BigInt64Array(n)
            : bitpix === -32
              ? new Float32Array(n)
              : new Float64Array(n);
  if (bitpix < 0) {
    const s = stored as Float32Array | Float64Array;
    for (let i = 0; i < n; i++) s[i] = (Number(data[i]) - bzero) / bscale;
  } else {
    const [lo, hi] = RANGE[bitpix];
    let bad = 0;
    for (let i = 0; i < n; i++) {
      const v = Number(data[i]);
      let x: number;
      if (Number.isNaN(v)) {
        if (blank === undefined) blank = bitpix === 8 ? 255 : lo;
        x = blank;
      } else {
        x = Math.round((v - bzero) / bscale);
        if (x < lo || x > hi) {
          bad++;
          x = Math.min(hi, Math.max(lo, x));
        }
      }
      if (bitpix === 64) (stored as BigInt64Array)[i] = BigInt(x);
      else (stored as Uint8Array | Int16Array | Int32Array)[i] = x;
    }
    if (bad > 0) {
      throw new RangeError(
        `${bad} of ${n} values do not fit BITPIX ${bitpix} with BSCALE ${bscale}, BZERO ${bzero}; choose other scaling`,
      );
    }
  }
  return {
    bitpix,
    bscale: enc.bscale !== undefined || enc.bzero !== undefined ? bscale : undefined,
    bzero: enc.bscale !== undefined || enc.bzero !== undefined ? bzero : undefined,
    blank: bitpix > 0 ? blank : undefined,
    byteLength: n * size,
    write(dest, offset) {
      encodeBigEndian(stored, dest, offset);
    },
  };
}
