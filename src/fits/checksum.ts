/**
 * The FITS checksum convention (FITS Standard 4.0, appendix J; Seaman, Pence & Rots 2002).
 *
 * DATASUM is the 32-bit ones' complement sum of the data unit's big-endian 32-bit words, as an
 * unsigned decimal string. CHECKSUM is 16 characters chosen so that the ones' complement sum of
 * the whole HDU (header with that card, and data) is -0, i.e. all bits set.
 */

/**
 * Ones' complement sum of big-endian 32-bit words of `bytes` (length a multiple of 4), added
 * to `initial`. Works on two 16-bit halves with the carries folded at the end, which stays
 * exact in doubles for any file under 2^37 bytes.
 */
export function onesComplementSum(bytes: Uint8Array, initial = 0): number {
  let hi = Math.floor(initial / 65536);
  let lo = initial % 65536;
  const n = bytes.length - (bytes.length % 4);
  // Sum in chunks so the partial sums never leave the exact range of doubles.
  const CHUNK = 1 << 24;
  for (let start = 0; start < n; start += CHUNK) {
    const end = Math.min(n, start + CHUNK);
    let h = 0;
    let l = 0;
    for (let i = start; i < end; i += 4) {
      h += (bytes[i] << 8) | bytes[i + 1];
      l += (bytes[i + 2] << 8) | bytes[i + 3];
    }
    hi += h;
    lo += l;
    [hi, lo] = fold(hi, lo);
  }
  return hi * 65536 + lo;
}

function fold(hi: number, lo: number): [number, number] {
  let hicarry = Math.floor(hi / 65536);
  let locarry = Math.floor(lo / 65536);
  while (hicarry !== 0 || locarry !== 0) {
    hi = (hi % 65536) + locarry;
    lo = (lo % 65536) + hicarry;
    hicarry = Math.floor(hi / 65536);
    locarry = Math.floor(lo / 65536);
  }
  return [hi, lo];
}

/** Ones' complement addition of two 32-bit sums. */
export function addSums(a: number, b: number): number {
  const s = a + b;
  return s > 0xffffffff ? s - 0xffffffff : s;
}

const EXCLUDE = new Set([0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x40, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f, 0x60]);
const OFFSET = 0x30; // '0'

/**
 * Encode a 32-bit value as the 16 characters of CHECKSUM (the convention's char_encode):
 * four bytes, each spread over four alphanumeric characters, rotated right by one.
 * Pass the complement of the HDU's sum computed with CHECKSUM = '0000000000000000'.
 */
export function encodeChecksum(value: number): string {
  const asc = new Array<number>(16);
  for (let i = 0; i < 4; i++) {
    const byte = Math.floor(value / 2 ** (8 * (3 - i))) & 0xff;
    const quotient = Math.floor(byte / 4) + OFFSET;
    const remainder = byte % 4;
    const ch = [quotient + remainder, quotient, quotient, quotient];
    // Move away from punctuation, keeping each pair's sum unchanged.
    let check = true;
    while (check) {
      check = false;
      for (const ex of EXCLUDE) {
        for (let j = 0; j < 4; j += 2) {
          if (ch[j] === ex || ch[j + 1] === ex) {
            ch[j]++;
            ch[j + 1]--;
            check = true;
          }
        }
      }
    }
    for (let j = 0; j < 4; j++) asc[4 * j + i] = ch[j];
  }
  let out = '';
  for (let i = 0; i < 16; i++) out += String.fromCharCode(asc[(i + 15) % 16]);
  return out;
}

/** Complement of a 32-bit value. */
export function complement(v: number): number {
  return 0xffffffff - v;
}
