/**
 * Writing FITS files, strictly (fitsverify reports nothing): the mandatory keywords are
 * generated in the required order and fixed format, the user's cards follow (structural ones
 * dropped so nothing is duplicated), and the whole file is encoded into one buffer that is
 * written in one call. Optional CHECKSUM/DATASUM per HDU (checksum.ts).
 */
import { open, rename, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { addSums, complement, encodeChecksum, onesComplementSum } from './checksum.ts';
import type { Bitpix } from './hdu.ts';
import { BLOCK_LENGTH, CARD_LENGTH, type Card, type CardValue, formatCard, type Header } from './header.ts';
import { encodeImage, type ImageData } from './image.ts';
import { type ColumnInput, encodeColumn } from './table.ts';

export interface ImageHduInput {
  kind?: 'image';
  /** Physical values, x fastest; empty with shape [] for a header-only HDU. */
  data: ImageData | number[];
  /** NAXIS1, NAXIS2, ... */
  shape: number[];
  /** Cards to keep (structural keywords and BSCALE/BZERO/BLANK are regenerated). */
  header?: Header;
  /** Stored type; default: the data's own type (see image.ts). */
  bitpix?: Bitpix;
  bscale?: number;
  bzero?: number;
  /** BLANK for integer BITPIX: NaN values are stored as this. */
  blank?: number;
  /** EXTNAME. */
  name?: string;
}

export interface TableHduInput {
  kind: 'bintable';
  columns: ColumnInput[];
  name?: string;
  header?: Header;
}

export type HduInput = ImageHduInput | TableHduInput;

export interface WriteOptions {
  /** Add CHECKSUM and DATASUM to every HDU. */
  checksum?: boolean;
}

/** Keywords the writer generates, or that would be false of the written data. */
const STRUCTURAL = new Set([
  'SIMPLE',
  'XTENSION',
  'BITPIX',
  'NAXIS',
  'EXTEND',
  'PCOUNT',
  'GCOUNT',
  'GROUPS',
  'TFIELDS',
  'THEAP',
  'END',
  'CHECKSUM',
  'DATASUM',
  'BSCALE',
  'BZERO',
  'BLANK',
  // The tiled-compression convention: meaningless once an image is written uncompressed.
  'ZIMAGE',
  'ZSIMPLE',
  'ZTENSION',
  'ZBITPIX',
  'ZNAXIS',
  'ZCMPTYPE',
  'ZQUANTIZ',
  'ZDITHER0',
  'ZEXTEND',
  'ZBLOCKED',
  'ZPCOUNT',
  'ZGCOUNT',
  'ZHECKSUM',
  'ZDATASUM',
  'ZBLANK',
  'ZSCALE',
  'ZZERO',
]);
const STRUCTURAL_INDEXED =
  /^(NAXIS|ZNAXIS|ZTILE|ZNAME|ZVAL|TTYPE|TFORM|TUNIT|TSCAL|TZERO|TNULL|TDIM|TDISP|TBCOL|TDMIN|TDMAX|TLMIN|TLMAX)\d+$/;

const VALID_KEY = /^[A-Z0-9_-]{0,8}$/;
const PRINTABLE = /^[\x20-\x7e]*$/;

function isStructural(key: string): boolean {
  return STRUCTURAL.has(key) || STRUCTURAL_INDEXED.test(key);
}

/** A read card's original image, if it is strictly valid; otherwise it is formatted anew. */
function cleanRaw(card: Card): string | undefined {
  const raw = card.raw;
  if (raw === undefined || raw.length % CARD_LENGTH !== 0 || !PRINTABLE.test(raw)) return undefined;
  const key = raw.slice(0, 8);
  if (key === 'HIERARCH') return raw;
  if (!/^[A-Z0-9_-]*\s*$/.test(key) || key.trimEnd() !== card.key) return undefined;
  if (card.value !== undefined && raw.slice(8, 10) !== '= ') return undefined;
  return raw;
}

/** Format a card strictly; throws RangeError for a keyword or text FITS cannot hold. */
function strictCard(card: Card): string {
  const raw = cleanRaw(card);
  if (raw !== undefined) return raw;
  const key = card.key;
  if (key.length <= 8 && !key.includes(' ') && !VALID_KEY.test(key)) {
    throw new RangeError(`header keyword '${key}' is not valid FITS (A-Z, 0-9, _ and - only)`);
  }
  const text = formatCard({ key: card.key, value: card.value, comment: card.comment });
  if (!PRINTABLE.test(text))
    throw new RangeError(`header card ${key} holds characters that are not printable ASCII`);
  return text;
}

interface Plan {
  cards: string[];
  dataLength: number;
  writeData(dest: Uint8Array, offset: number): void;
}

function card(key: string, value: CardValue, comment?: string): string {
  return formatCard({ key, value, comment });
}

function userCards(header: Header | undefined, dropName: boolean): string[] {
  if (!header) return [];
  const out: string[] = [];
  for (const c of header.cards) {
    if (c.key === 'END') continue;
    if (isStructural(c.key) && c.value !== undefined) continue;
    if (dropName && c.key === 'EXTNAME') continue;
    out.push(strictCard(c));
  }
  // Long strings (CONTINUE cards): declare the convention, as fitsverify recommends.
  if (out.some((c) => c.length > CARD_LENGTH) && !header.has('LONGSTRN')) {
    out.unshift(card('LONGSTRN', 'OGIP 1.0', 'The OGIP long string convention may be used'));
  }
  return out;
}

function planImage(input: ImageHduInput, primary: boolean): Plan {
  const shape = input.shape;
  for (const s of shape) {
    if (!Number.isInteger(s) || s < 0)
      throw new RangeError(`image shape ${JSON.stringify(shape)} is not valid`);
  }
  if (shape.length > 999) throw new RangeError('an image has at most 999 axes');
  const n = shape.reduce((a, b) => a * b, shape.length > 0 ? 1 : 0);
  if (input.data.length !== n) {
    throw new RangeError(
      `image data has ${input.data.length} values but shape ${shape.join(' x ') || '[]'} needs ${n}`,
    );
  }
  const enc = encodeImage(input.data as ArrayLike<number | bigint>, {
    bitpix: input.bitpix,
    bscale: input.bscale,
    bzero: input.bzero,
    blank: input.blank,
  });
  const cards: string[] = [];
  if (primary) cards.push(card('SIMPLE', true, 'conforms to FITS standard'));
  else cards.push(card('XTENSION', 'IMAGE', 'image extension'));
  cards.push(card('BITPIX', enc.bitpix, 'array data type'));
  cards.push(card('NAXIS', shape.length, 'number of array dimensions'));
  shape.forEach((s, i) => {
    cards.push(card(`NAXIS${i + 1}`, s));
  });
  if (primary) cards.push(card('EXTEND', true));
  else cards.push(card('PCOUNT', 0, 'number of parameters'), card('GCOUNT', 1, 'number of groups'));
  if (input.name !== undefined) cards.push(card('EXTNAME', input.name, 'extension name'));
  if (enc.bscale !== undefined) cards.push(card('BSCALE', enc.bscale));
  if (enc.bzero !== undefined) cards.push(card('BZERO', enc.bzero));
  if (enc.blank !== undefined) cards.push(card('BLANK', enc.blank));
  cards.push(...userCards(input.header, input.name !== undefined));
  return {
    cards,
    dataLength: n === 0 ? 0 : enc.byteLength,
    writeData: (dest, offset) => enc.write(dest, offset),
  };
}

function planTable(input: TableHduInput): Plan {
  const encoded = input.columns.map((c, i) => encodeColumn(c, i + 1));
  if (encoded.length > 999) throw new RangeError('a table has at most 999 columns');
  const nrows = encoded.length > 0 ? encoded[0].nrows : 0;
  encoded.forEach((e, i) => {
    if (e.nrows !== nrows) {
      throw new RangeError(
        `column ${input.columns[i].name} has ${e.nrows} rows but ${input.columns[0].name} has ${nrows}`,
      );
    }
  });
  const rowBytes = encoded.reduce((a, e) => a + e.width, 0);
  const cards: string[] = [
    card('XTENSION', 'BINTABLE', 'binary table extension'),
    card('BITPIX', 8, 'array data type'),
    card('NAXIS', 2, 'number of array dimensions'),
    card('NAXIS1', rowBytes, 'length of dimension 1'),
    card('NAXIS2', nrows, 'length of dimension 2'),
    card('PCOUNT', 0, 'number of group parameters'),
    card('GCOUNT', 1, 'number of groups'),
    card('TFIELDS', encoded.length, 'number of table fields'),
  ];
  for (const e of encoded) for (const c of e.cards) cards.push(card(c.key, c.value, c.comment));
  if (input.name !== undefined) cards.push(card('EXTNAME', input.name, 'extension name'));
  cards.push(...userCards(input.header, input.name !== undefined));
  return {
    cards,
    dataLength: rowBytes * nrows,
    writeData(dest, offset) {
      const region = dest.subarray(offset, offset + rowBytes * nrows);
      region.fill(0);
      const view = new DataView(region.buffer, region.byteOffset, region.byteLength);
      let colOffset = 0;
      for (const e of encoded) {
        e.write(view, rowBytes, colOffset);
        colOffset += e.width;
      }
    },
  };
}

const EMPTY_PRIMARY: ImageHduInput = { data: new Uint8Array(0), shape: [] };

function blocks(n: number): number {
  return Math.ceil(n / BLOCK_LENGTH) * BLOCK_LENGTH;
}

/** Encode HDUs as a FITS file in memory. The first input is the primary HDU; a table first gets an empty primary before it. */
export function encodeFits(hdus: HduInput[], options: WriteOptions = {}): Uint8Array {
  if (hdus.length === 0) throw new RangeError('nothing to write: no HDUs');
  const inputs: HduInput[] = hdus[0].kind === 'bintable' ? [EMPTY_PRIMARY, ...hdus] : hdus;
  const plans = inputs.map((h, i) => (h.kind === 'bintable' ? planTable(h) : planImage(h, i === 0)));
  const checksum = options.checksum === true;
  const DATASUM_PLACEHOLDER = card('DATASUM', '0', 'data unit checksum');
  const CHECKSUM_PLACEHOLDER = card('CHECKSUM', '0000000000000000', 'HDU checksum');
  if (checksum) for (const p of plans) p.cards.push(CHECKSUM_PLACEHOLDER, DATASUM_PLACEHOLDER);
  let total = 0;
  for (const p of plans) total += blocks((p.cards.length + 1) * CARD_LENGTH) + blocks(p.dataLength);
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  for (const p of plans) {
    const headerStart = pos;
    const text = `${p.cards.join('')}${'END'.padEnd(CARD_LENGTH)}`;
    const headerLength = blocks(text.length);
    out.write(text, pos, 'latin1');
    out.fill(0x20, pos + text.length, pos + headerLength);
    pos += headerLength;
    const dataStart = pos;
    p.writeData(out, pos);
    out.fill(0, pos + p.dataLength, pos + blocks(p.dataLength));
    pos += blocks(p.dataLength);
    if (checksum) {
      // The placeholders are the last two cards before END (entries may span several cards).
      const datasumAt = headerStart + text.length - 2 * CARD_LENGTH;
      const checksumAt = datasumAt - CARD_LENGTH;
      const datasum = onesComplementSum(out.subarray(dataStart, pos));
      out.write(card('DATASUM', String(datasum), 'data unit checksum'), datasumAt, 'latin1');
      const hsum = onesComplementSum(out.subarray(headerStart, dataStart));
      const value = encodeChecksum(complement(addSums(hsum, datasum)));
      out.write(value, checksumAt + 11, 'latin1');
    }
  }
  return out;
}

const gzipAsync = promisify(gzip);
/** Makes temporary names unique among concurrent writes of one process. */
let writes = 0;

/**
 * Write HDUs to a file (gzip-compressed when the path ends in .gz). The file is written under
 * a temporary name and renamed, so a failure never leaves a partial file at `path`.
 */
export async function writeFits(path: string, hdus: HduInput[], options: WriteOptions = {}): Promise<void> {
  const bytes = encodeFits(hdus, options);
  const out = /\.gz$/i.test(path) ? await gzipAsync(bytes) : bytes;
  const tmp = `${path}.tmp-${process.pid}-${++writes}`;
  try {
    // One write call for the whole buffer (fs.writeFile would split it into 512 kB requests).
    const fh = await open(tmp, 'w');
    try {
      for (let done = 0; done < out.length; )
        done += (await fh.write(out, done, out.length - done)).bytesWritten;
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
