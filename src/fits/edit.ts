/**
 * Editing a header in place of a file's bytes: the data units are kept byte for byte, the
 * header is rewritten (growing by whole blocks when needed) and CHECKSUM is recomputed when the
 * HDU has one (DATASUM is unchanged, as the data are). For stamping ids into products after the
 * fact without decoding and re-encoding their pixels.
 */
import { addSums, complement, encodeChecksum, onesComplementSum } from './checksum.ts';
import { parseFits } from './file.ts';
import type { CardValue, Header } from './header.ts';

export interface CardEdit {
  key: string;
  value: CardValue;
  comment?: string;
}

/**
 * Set `cards` in the header of HDU `index`. Resolves to the new bytes, or to the same array
 * when every card already has its value (so that stamping twice changes nothing).
 */
export function setHeaderCards(
  bytes: Uint8Array,
  index: number,
  cards: readonly CardEdit[],
  file?: string,
): Uint8Array {
  const fits = parseFits(bytes, { file });
  const hdu = fits.hdus[index];
  if (!hdu) throw new RangeError(`${file ?? 'FITS'}: no HDU ${index}`);
  const header = hdu.header.clone();
  if (cards.every((c) => header.get(c.key) === c.value)) return bytes;
  // Cards go before CHECKSUM/DATASUM, so those stay last, as writers put them.
  const anchor = header.has('CHECKSUM') ? 'CHECKSUM' : undefined;
  for (const c of cards) {
    if (header.has(c.key)) header.set(c.key, c.value, c.comment);
    else insertBefore(header, anchor, c);
  }
  const hadChecksum = header.has('CHECKSUM');
  if (hadChecksum) header.set('CHECKSUM', '0000000000000000');
  const headerBytes = Buffer.from(header.toBytes());
  const tail = bytes.subarray(hdu.dataStart);
  const out = new Uint8Array(hdu.headerStart + headerBytes.length + tail.length);
  out.set(bytes.subarray(0, hdu.headerStart), 0);
  out.set(headerBytes, hdu.headerStart);
  out.set(tail, hdu.headerStart + headerBytes.length);
  if (hadChecksum) {
    const dataStart = hdu.headerStart + headerBytes.length;
    const dataEnd = dataStart + (hdu.end - hdu.dataStart);
    const datasum = onesComplementSum(out.subarray(dataStart, dataEnd));
    const hsum = onesComplementSum(out.subarray(hdu.headerStart, dataStart));
    const value = encodeChecksum(complement(addSums(hsum, datasum)));
    // The value sits in the quotes of the CHECKSUM card: find that card in the new header.
    const text = headerBytes.toString('latin1');
    for (let at = 0; at < text.length; at += 80) {
      if (text.startsWith('CHECKSUM=', at)) {
        const q = text.indexOf("'", at) + 1;
        Buffer.from(out.buffer, out.byteOffset).write(value, hdu.headerStart + q, 'latin1');
        break;
      }
    }
  }
  return out;
}

function insertBefore(header: Header, anchor: string | undefined, c: CardEdit): void {
  header.set(c.key, c.value, c.comment);
  if (anchor === undefined) return;
  // Header.set appends a new key at the end; move it in front of the anchor.
  const i = header.indexOf(c.key);
  const card = header.cards.splice(i, 1)[0];
  header.cards.splice(header.indexOf(anchor), 0, card);
}
