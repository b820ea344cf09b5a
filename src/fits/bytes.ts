/**
 * Big-endian bytes <-> native typed arrays. FITS stores every binary value big-endian; the
 * hosts we run on are little-endian. Decoding copies the bytes once into the result's own
 * buffer and swaps them in place with Buffer's native swap16/32/64, which is several times
 * faster than a DataView loop and allocates nothing else.
 */
import { endianness } from 'node:os';

export const LITTLE_ENDIAN_HOST = endianness() === 'LE';

export type NumericArray =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

export type NumericArrayConstructor =
  | Uint8ArrayConstructor
  | Int8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

/** Reverse the byte order of every `size`-byte element of `bytes`, in place. */
export function swapInPlace(bytes: Uint8Array, size: number): void {
  if (size === 1 || bytes.length === 0) return;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (size === 2) b.swap16();
  else if (size === 4) b.swap32();
  else if (size === 8) b.swap64();
  else throw new RangeError(`cannot swap elements of ${size} bytes`);
}

/** Convert between big-endian and host order in place (a no-op on big-endian hosts). */
export function toHostOrder(bytes: Uint8Array, size: number): void {
  if (LITTLE_ENDIAN_HOST) swapInPlace(bytes, size);
}

/**
 * Copy and swap in pieces that stay in the CPU cache: copying 64 MB and then swapping it would
 * pull every byte through main memory twice.
 */
export const CHUNK = 1 << 18;

/**
 * A new typed array of `n` elements decoded from big-endian `src` starting at byte `offset`.
 * The caller has checked that the bytes are there.
 */
export function decodeBigEndian<C extends NumericArrayConstructor>(
  Ctor: C,
  src: Uint8Array,
  offset: number,
  n: number,
): InstanceType<C> {
  const out = new Ctor(n) as InstanceType<C>;
  copyToHost(
    src.subarray(offset, offset + n * Ctor.BYTES_PER_ELEMENT),
    new Uint8Array(out.buffer, 0, out.byteLength),
    Ctor.BYTES_PER_ELEMENT,
  );
  return out;
}

/** Copy `src` to `dest` (same length) reversing the byte order of each `size`-byte element on the way. */
export function copyToHost(src: Uint8Array, dest: Uint8Array, size: number): void {
  for (let start = 0; start < src.length; start += CHUNK) {
    const piece = dest.subarray(start, Math.min(src.length, start + CHUNK));
    piece.set(src.subarray(start, start + piece.length));
    toHostOrder(piece, size);
  }
}

/** Write the elements of `a` big-endian into `dest` at byte `offset`. */
export function encodeBigEndian(a: NumericArray, dest: Uint8Array, offset: number): void {
  const size = a.BYTES_PER_ELEMENT;
  const n = a.length * size;
  copyToHost(new Uint8Array(a.buffer, a.byteOffset, n), dest.subarray(offset, offset + n), size);
}

export function isNumericArray(a: unknown): a is NumericArray {
  return ArrayBuffer.isView(a) && !(a instanceof DataView);
}
