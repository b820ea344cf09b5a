/**
 * Rice decompression (RICE_1) of one tile, as defined by the FITS tiled image compression
 * convention (Pence et al. 2009; FITS Standard 4.0, section 10.4.1) and implemented by
 * cfitsio's fits_rdecomp, fits_rdecomp_short and fits_rdecomp_byte.
 *
 * The stream holds the first pixel verbatim (BYTEPIX bytes, big-endian), then blocks of
 * BLOCKSIZE pixel differences. Each block starts with a code of FSBITS bits: fs + 1. Code 0
 * means all differences are zero; the largest code means the differences are stored verbatim;
 * otherwise each difference is Rice coded with fs low bits. Differences are zig-zag mapped
 * (0, -1, 1, -2, ... -> 0, 1, 2, 3, ...) and added modulo 2^(8 BYTEPIX).
 *
 * A corrupt stream ends in a BadInputError, never in a read past the end.
 */
import { BadInputError } from '../util/errors.ts';

/** FSBITS and FSMAX per BYTEPIX (cfitsio). */
const PARAMS: Record<number, { fsbits: number; fsmax: number }> = {
  1: { fsbits: 3, fsmax: 6 },
  2: { fsbits: 4, fsmax: 14 },
  4: { fsbits: 5, fsmax: 25 },
};

/**
 * Decode `n` pixels from `c` into `out` (length >= n). Values are the signed integers of
 * BYTEPIX bytes (for BYTEPIX 1 the unsigned byte), as stored before compression.
 * `where` names the tile for messages.
 */
export function riceDecode(
  c: Uint8Array,
  n: number,
  blocksize: number,
  bytepix: number,
  out: Int32Array,
  where: string,
): void {
  const p = PARAMS[bytepix];
  if (p === undefined)
    throw new BadInputError(`${where}: Rice BYTEPIX = ${bytepix} is not supported (1, 2 or 4)`);
  if (!(blocksize > 0)) throw new BadInputError(`${where}: Rice BLOCKSIZE = ${blocksize} is not valid`);
  const { fsbits, fsmax } = p;
  const bbits = 8 * bytepix;
  const len = c.length;
  if (n === 0) return;
  if (len < bytepix + 1) throw new BadInputError(`${where}: Rice stream of ${len} bytes is too short`);
  const truncated = (): BadInputError =>
    new BadInputError(`${where}: Rice stream ends before all ${n} pixels are decoded (corrupt tile)`);

  // Wrap a sum to the stored integer type.
  const wrap =
    bytepix === 4
      ? (v: number) => v | 0
      : bytepix === 2
        ? (v: number) => (v << 16) >> 16
        : (v: number) => v & 0xff;

  let lastpix = 0;
  for (let k = 0; k < bytepix; k++) lastpix = lastpix * 256 + c[k];
  lastpix = wrap(lastpix);
  let pos = bytepix;
  // Bit buffer: `b` holds `nbits` unread bits (fewer than 32 at any time).
  let b = c[pos++];
  let nbits = 8;
  let i = 0;
  while (i < n) {
    nbits -= fsbits;
    while (nbits < 0) {
      if (pos >= len) throw truncated();
      b = ((b << 8) | c[pos++]) >>> 0;
      nbits += 8;
    }
    const fs = (b >>> nbits) - 1;
    b &= (1 << nbits) - 1;
    const imax = Math.min(i + blocksize, n);
    if (fs < 0) {
      for (; i < imax; i++) out[i] = lastpix;
    } else if (fs === fsmax) {
      // Differences stored verbatim in bbits bits each.
      for (; i < imax; i++) {
        let diff = b;
        let have = nbits;
        while (have < bbits) {
          if (pos >= len) throw truncated();
          diff = diff * 256 + c[pos++];
          have += 8;
        }
        // Keep the bits beyond bbits for the next value.
        const extra = have - bbits;
        const scale = 2 ** extra;
        const value = Math.floor(diff / scale);
        b = diff - value * scale;
        nbits = extra;
        const d = value % 2 === 0 ? value / 2 : -(value + 1) / 2;
        lastpix = wrap(lastpix + d);
        out[i] = lastpix;
      }
    } else {
      const mul = 2 ** fs;
      for (; i < imax; i++) {
        // Unary part: count zero bits up to the next 1.
        while (b === 0) {
          if (pos >= len) throw truncated();
          nbits += 8;
          b = c[pos++];
        }
        const top = 31 - Math.clz32(b); // position of the leading one
        const nzero = nbits - 1 - top;
        nbits = top;
        b ^= 1 << nbits;
        // Then fs bits.
        nbits -= fs;
        while (nbits < 0) {
          if (pos >= len) throw truncated();
          b = ((b << 8) | c[pos++]) >>> 0;
          nbits += 8;
        }
        const low = b >>> nbits;
        b &= (1 << nbits) - 1;
        const value = nzero * mul + low;
        // Zig-zag: integer arithmetic while the value fits 31 bits (always, but in corrupt streams).
        const d =
          value < 0x80000000 ? (value >>> 1) ^ -(value & 1) : value % 2 === 0 ? value / 2 : -(value + 1) / 2;
        lastpix = bytepix === 4 ? (lastpix + d) | 0 : wrap(lastpix + d);
        out[i] = lastpix;
      }
    }
  }
}
