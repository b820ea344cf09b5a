/**
 * Binary tables (BINTABLE, FITS Standard 4.0, section 7.3): column descriptions, reading
 * columns into typed arrays, and encoding columns for writing.
 *
 * Column types when read (PHYSICAL values, TSCALn/TZEROn applied):
 *   TFORM  TZERO (TSCAL = 1)       data
 *   L                               Uint8Array: 1 = T, 0 = F or undefined
 *   X                               Uint8Array of bits (0/1), `repeat` bits per row
 *   B      none / -128              Uint8Array / Int8Array
 *   I      none / 32768             Int16Array / Uint16Array
 *   J      none / 2147483648        Int32Array / Uint32Array
 *   K      none / 2^63              BigInt64Array / BigUint64Array
 *   B,I,J,K other TSCAL/TZERO       Float64Array, TNULL -> NaN
 *   E, D                            Float32Array, Float64Array
 *   C, M                            Float32Array, Float64Array: re, im interleaved (2 per element)
 *   A                               string[] (trailing blanks and NULs removed)
 *   P, Q (variable length)          one typed array (or string) per row
 * A column of `repeat` elements per row holds nrows * repeat values, row after row, so row r's
 * elements are data[r * repeat ... r * repeat + repeat - 1] (`repeat` = 1 for scalars).
 * Unscaled integer columns keep TNULL values as stored; `nullValue` says which value that is.
 */
import { BadInputError } from '../util/errors.ts';
import { decodeBigEndian, isNumericArray, type NumericArray, toHostOrder } from './bytes.ts';
import type { Hdu } from './hdu.ts';
import type { CardValue, Header } from './header.ts';

export type ColumnCode = 'L' | 'X' | 'B' | 'I' | 'J' | 'K' | 'A' | 'E' | 'D' | 'C' | 'M' | 'P' | 'Q';

/** Bytes per element of each TFORM type (P and Q: per descriptor). */
const ELEMENT_BYTES: Record<ColumnCode, number> = {
  L: 1,
  X: 1,
  B: 1,
  I: 2,
  J: 4,
  K: 8,
  A: 1,
  E: 4,
  D: 8,
  C: 8,
  M: 16,
  P: 8,
  Q: 16,
};

/** Bytes per element of a TFORM type code (P, Q: per array descriptor). */
export function elementBytes(code: ColumnCode): number {
  return ELEMENT_BYTES[code];
}

/** A column as described by the header (TTYPEn, TFORMn, ...). */
export interface ColumnInfo {
  /** TTYPEn (or `COLn` when absent). */
  name: string;
  /** 1-based column number. */
  number: number;
  /** TFORMn as written. */
  format: string;
  code: ColumnCode;
  /** Elements per row (bits for X, characters for A, 0 or 1 for P/Q). */
  repeat: number;
  /** Element type of a variable-length (P/Q) column. */
  arrayCode?: Exclude<ColumnCode, 'P' | 'Q'>;
  /** Bytes of this field in a row, and its offset from the start of the row. */
  width: number;
  offset: number;
  unit?: string;
  scale: number;
  zero: number | bigint;
  nullValue?: number | bigint | string;
  dim?: number[];
}

export interface FitsColumn {
  name: string;
  /** TFORMn. */
  format: string;
  code: ColumnCode;
  /** Elements per row; the values of row r are data[r*repeat ... r*repeat+repeat-1]. */
  repeat: number;
  unit?: string;
  data: NumericArray | string[] | (NumericArray | string)[];
  /** TNULLn of an integer column kept as stored. */
  nullValue?: number | bigint | string;
  /** TDIMn, when given. */
  dim?: number[];
}

export interface FitsTable {
  nrows: number;
  columns: FitsColumn[];
  header: Header;
  /** Column names in order. */
  names: string[];
  /** A column by name (case-insensitive); BadInputError naming the table when absent. */
  column(name: string): FitsColumn;
}

const TFORM = /^\s*(\d*)\s*([LXBIJKAEDCMPQ])(.*)$/;

function numberOrBigint(v: CardValue | undefined): number | bigint | undefined {
  return typeof v === 'number' || typeof v === 'bigint' ? v : undefined;
}

/** Parse TFORMn and the other column keywords; checks that the widths add up to NAXIS1. */
export function tableColumns(header: Header, where: string): ColumnInfo[] {
  const tfields = header.integer('TFIELDS');
  const rowBytes = header.integer('NAXIS1');
  const columns: ColumnInfo[] = [];
  let offset = 0;
  for (let n = 1; n <= tfields; n++) {
    const tform = header.get(`TFORM${n}`);
    if (typeof tform !== 'string') {
      throw new BadInputError(
        `${where}: column ${n} has ${tform === undefined ? 'no TFORM' : 'a TFORM that is not a string'}${tform === undefined ? `${n}` : ''}; TFIELDS = ${tfields}`,
      );
    }
    const m = TFORM.exec(tform);
    if (!m)
      throw new BadInputError(`${header.where(`TFORM${n}`)}: TFORM${n} = '${tform}' is not a valid format`);
    const repeat = m[1] === '' ? 1 : Number(m[1]);
    const code = m[2] as ColumnCode;
    let arrayCode: ColumnInfo['arrayCode'];
    if (code === 'P' || code === 'Q') {
      const am = /^([LXBIJKAEDCM])/.exec(m[3].trim());
      if (!am || repeat > 1) {
        throw new BadInputError(
          `${header.where(`TFORM${n}`)}: variable-length format '${tform}' is not valid`,
        );
      }
      arrayCode = am[1] as ColumnInfo['arrayCode'];
    }
    const width =
      code === 'X'
        ? Math.ceil(repeat / 8)
        : code === 'P' || code === 'Q'
          ? repeat * ELEMENT_BYTES[code]
          : repeat * ELEMENT_BYTES[code];
    const nameValue = header.get(`TTYPE${n}`);
    const unitValue = header.get(`TUNIT${n}`);
    const tdim = header.get(`TDIM${n}`);
    let dim: number[] | undefined;
    if (typeof tdim === 'string') {
      const dm = /^\s*\(\s*(\d+(\s*,\s*\d+)*)\s*\)\s*$/.exec(tdim);
      if (dm) dim = dm[1].split(',').map((s) => Number(s.trim()));
    }
    const tnull = header.get(`TNULL${n}`);
    const info: ColumnInfo = {
      name: typeof nameValue === 'string' && nameValue.trim() !== '' ? nameValue.trim() : `COL${n}`,
      number: n,
      format: tform.trim(),
      code,
      repeat,
      arrayCode,
      width,
      offset,
      unit: typeof unitValue === 'string' && unitValue.trim() !== '' ? unitValue.trim() : undefined,
      scale: header.optionalNumber(`TSCAL${n}`) ?? 1,
      zero: numberOrBigint(header.get(`TZERO${n}`)) ?? 0,
      nullValue:
        typeof tnull === 'number' || typeof tnull === 'bigint' || typeof tnull === 'string'
          ? tnull
          : undefined,
      dim,
    };
    columns.push(info);
    offset += width;
  }
  if (offset !== rowBytes) {
    throw new BadInputError(
      `${header.where('NAXIS1')}: the columns' TFORMs add up to ${offset} bytes per row but NAXIS1 = ${rowBytes}`,
    );
  }
  return columns;
}

/** Gather a fixed-width field of every row into one contiguous byte array. */
function gather(data: Uint8Array, rowBytes: number, nrows: number, col: ColumnInfo, dest: Uint8Array): void {
  const w = col.width;
  if (w === rowBytes) {
    dest.set(data.subarray(0, nrows * w));
    return;
  }
  let src = col.offset;
  let dst = 0;
  if (w <= 16) {
    for (let r = 0; r < nrows; r++, src += rowBytes) for (let k = 0; k < w; k++) dest[dst++] = data[src + k];
  } else {
    for (let r = 0; r < nrows; r++, src += rowBytes, dst += w) dest.set(data.subarray(src, src + w), dst);
  }
}

const CTOR = {
  B: Uint8Array,
  I: Int16Array,
  J: Int32Array,
  K: BigInt64Array,
  E: Float32Array,
  D: Float64Array,
  C: Float32Array,
  M: Float64Array,
} as const;

type NumericCode = keyof typeof CTOR;

/** Decode `count` elements of a numeric type from contiguous big-endian bytes. */
function decodeNumeric(code: NumericCode, bytes: Uint8Array, count: number): NumericArray {
  const n = code === 'C' || code === 'M' ? count * 2 : count;
  return decodeBigEndian(CTOR[code], bytes, 0, n);
}

const TWO63 = 2n ** 63n;

/** Apply TSCAL/TZERO/TNULL: unsigned conventions in place, other scaling to Float64Array. */
function physical(raw: NumericArray, col: ColumnInfo): { data: NumericArray; nullValue?: number | bigint } {
  const { code, scale } = col;
  const zero = col.zero;
  const zeroNum = Number(zero);
  const tnull = typeof col.nullValue === 'string' ? undefined : col.nullValue;
  if (code === 'E' || code === 'D' || code === 'C' || code === 'M') {
    if (scale !== 1 || zeroNum !== 0) {
      const a = raw as Float32Array | Float64Array;
      for (let i = 0; i < a.length; i++) a[i] = a[i] * scale + zeroNum;
    }
    return { data: raw };
  }
  if (scale === 1 && zeroNum === 0) return { data: raw, nullValue: tnull };
  if (scale === 1) {
    if (code === 'B' && zeroNum === -128) {
      const a = new Int8Array(raw.buffer, raw.byteOffset, raw.length);
      for (let i = 0; i < a.length; i++) a[i] ^= -128;
      return { data: a, nullValue: tnull === undefined ? undefined : Number(tnull) - 128 };
    }
    if (code === 'I' && zeroNum === 32768) {
      const a = new Uint16Array(raw.buffer, raw.byteOffset, raw.length);
      for (let i = 0; i < a.length; i++) a[i] ^= 0x8000;
      return { data: a, nullValue: tnull === undefined ? undefined : Number(tnull) + 32768 };
    }
    if (code === 'J' && zeroNum === 2147483648) {
      const a = new Uint32Array(raw.buffer, raw.byteOffset, raw.length);
      for (let i = 0; i < a.length; i++) a[i] ^= 0x80000000;
      return { data: a, nullValue: tnull === undefined ? undefined : Number(tnull) + 2147483648 };
    }
    if (code === 'K' && (typeof zero === 'bigint' ? zero === TWO63 : zeroNum === 2 ** 63)) {
      const a = new BigUint64Array(raw.buffer, raw.byteOffset, raw.length);
      for (let i = 0; i < a.length; i++) a[i] ^= TWO63;
      return { data: a, nullValue: tnull === undefined ? undefined : BigInt(tnull) + TWO63 };
    }
  }
  const out = new Float64Array(raw.length);
  const nullNum = tnull === undefined ? undefined : Number(tnull);
  for (let i = 0; i < raw.length; i++) {
    const v = Number(raw[i]);
    out[i] = v === nullNum ? Number.NaN : v * scale + zeroNum;
  }
  return { data: out };
}

function decodeStrings(bytes: Uint8Array, count: number, width: number): string[] {
  const out: string[] = new Array(count);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < count; i++) {
    const start = i * width;
    let end = start;
    // The string ends at the first NUL (Standard 7.3.3.1); trailing blanks are not significant.
    while (end < start + width && buf[end] !== 0) end++;
    out[i] = buf.toString('latin1', start, end).trimEnd();
  }
  return out;
}

function decodeLogical(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] === 0x54 ? 1 : 0;
  return out;
}

function decodeBits(bytes: Uint8Array, nrows: number, nbits: number, width: number): Uint8Array {
  const out = new Uint8Array(nrows * nbits);
  for (let r = 0; r < nrows; r++) {
    for (let k = 0; k < nbits; k++) out[r * nbits + k] = (bytes[r * width + (k >> 3)] >> (7 - (k & 7))) & 1;
  }
  return out;
}

/** Decode `count` elements of type `code` from contiguous bytes (physical values). */
function decodeElements(
  code: Exclude<ColumnCode, 'P' | 'Q'>,
  bytes: Uint8Array,
  count: number,
  col: ColumnInfo,
): NumericArray | string {
  switch (code) {
    case 'A':
      return decodeStrings(bytes, 1, count)[0];
    case 'L':
      return decodeLogical(bytes.subarray(0, count));
    case 'X':
      return decodeBits(bytes, 1, count, Math.ceil(count / 8));
    default:
      return physical(decodeNumeric(code, bytes, count), col).data;
  }
}

function readVariable(
  hdu: Hdu,
  data: Uint8Array,
  col: ColumnInfo,
  nrows: number,
  rowBytes: number,
): (NumericArray | string)[] {
  const header = hdu.header;
  const heapStart = header.integer('THEAP', rowBytes * nrows);
  const heapEnd = data.length;
  if (heapStart < rowBytes * nrows || heapStart > heapEnd) {
    throw new BadInputError(`${header.where('THEAP')}: THEAP = ${heapStart} is outside the data unit`);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const code = col.arrayCode!;
  const size = code === 'X' ? 0 : ELEMENT_BYTES[code];
  const out: (NumericArray | string)[] = new Array(nrows);
  for (let r = 0; r < nrows; r++) {
    const at = r * rowBytes + col.offset;
    let count: number;
    let offset: number;
    if (col.code === 'P') {
      count = view.getInt32(at);
      offset = view.getInt32(at + 4);
    } else {
      count = Number(view.getBigInt64(at));
      offset = Number(view.getBigInt64(at + 8));
    }
    const nbytes = code === 'X' ? Math.ceil(count / 8) : count * size;
    const start = heapStart + offset;
    if (count < 0 || offset < 0 || start + nbytes > heapEnd) {
      throw new BadInputError(
        `${hdu.where}: column ${col.name} (${col.format}), row ${r + 1}: array descriptor (${count} elements at heap offset ${offset}) points outside the heap`,
      );
    }
    out[r] = decodeElements(code, data.subarray(start, start + nbytes), count, col);
  }
  return out;
}

/** Read every column of a BINTABLE HDU. */
export function readTable(hdu: Hdu): FitsTable {
  if (hdu.kind === 'unknown') {
    throw new BadInputError(
      `${hdu.header.where('XTENSION')}: extension type XTENSION = '${hdu.xtension ?? 'none'}' is not standard; its data cannot be read as a table`,
    );
  }
  if (hdu.kind === 'table') {
    throw new BadInputError(
      `${hdu.where} is an ASCII table (XTENSION = 'TABLE'); only its header is read, not its rows`,
    );
  }
  if (hdu.kind !== 'bintable' && hdu.kind !== 'compressed-image') {
    throw new BadInputError(
      `${hdu.where} is ${hdu.typeName === 'image' ? 'an' : 'a'} ${hdu.typeName}, not a binary table`,
    );
  }
  const header = hdu.header;
  const infos = tableColumns(header, hdu.where);
  const rowBytes = header.integer('NAXIS1');
  const nrows = header.integer('NAXIS2');
  // Rows of zero bytes take no space, so NAXIS2 alone could ask for absurd arrays.
  if (rowBytes === 0 && nrows > 0xffffffff)
    throw new BadInputError(`${header.where('NAXIS2')}: NAXIS2 = ${nrows} rows of 0 bytes`);
  const data = hdu.data;
  const columns: FitsColumn[] = [];
  for (const col of infos) {
    let values: FitsColumn['data'];
    let nullValue: FitsColumn['nullValue'];
    let repeat = col.repeat;
    if (col.code === 'P' || col.code === 'Q') {
      values = readVariable(hdu, data, col, nrows, rowBytes);
    } else {
      const bytes = new Uint8Array(nrows * col.width);
      gather(data, rowBytes, nrows, col, bytes);
      if (col.code === 'A') {
        // With TDIMn = (w, k, ...) the field holds several strings of w characters.
        const w = col.dim && col.dim[0] > 0 && col.repeat % col.dim[0] === 0 ? col.dim[0] : col.repeat;
        const per = w > 0 ? col.repeat / w : 0;
        values = w > 0 ? decodeStrings(bytes, nrows * per, w) : new Array<string>(nrows).fill('');
        repeat = w > 0 ? per : 1;
        nullValue = typeof col.nullValue === 'string' ? col.nullValue : undefined;
      } else if (col.code === 'L') {
        values = decodeLogical(bytes);
      } else if (col.code === 'X') {
        values = decodeBits(bytes, nrows, col.repeat, col.width);
      } else {
        const p = physical(decodeNumeric(col.code, bytes, nrows * col.repeat), col);
        values = p.data;
        nullValue = p.nullValue;
      }
    }
    columns.push({
      name: col.name,
      format: col.format,
      code: col.code,
      repeat,
      unit: col.unit,
      data: values,
      nullValue,
      dim: col.dim,
    });
  }
  const names = columns.map((c) => c.name);
  return {
    nrows,
    columns,
    header,
    names,
    column(name: string): FitsColumn {
      const k = name.trim().toUpperCase();
      const c = columns.find((x) => x.name.toUpperCase() === k);
      if (!c)
        throw new BadInputError(`${hdu.where}: no column named '${name}' (columns: ${names.join(', ')})`);
      return c;
    },
  };
}

// ---- writing ------------------------------------------------------------------------------

export type ColumnValues = NumericArray | number[] | string[] | boolean[] | bigint[];

export interface ColumnInput {
  name: string;
  data: ColumnValues;
  /** TFORM, e.g. 'E', '6E', '20A'; inferred from the data when absent. */
  format?: string;
  /** Elements per row of a vector column (when `format` does not say). */
  repeat?: number;
  unit?: string;
  /** TNULL of an integer column. */
  null?: number | bigint;
  /** TDIM, e.g. [3, 2]. */
  dim?: number[];
  /** TDISP, e.g. 'F8.3'. */
  disp?: string;
}

/** A column ready to be written: its header keywords and a function that fills the rows. */
export interface EncodedColumn {
  cards: { key: string; value: CardValue; comment?: string }[];
  width: number;
  nrows: number;
  write(dest: DataView, rowBytes: number, offset: number): void;
}

function inferCode(data: ColumnValues): { code: ColumnCode; zero?: number | bigint } {
  if (data instanceof Float64Array) return { code: 'D' };
  if (data instanceof Float32Array) return { code: 'E' };
  if (data instanceof Int16Array) return { code: 'I' };
  if (data instanceof Uint16Array) return { code: 'I', zero: 32768 };
  if (data instanceof Int32Array) return { code: 'J' };
  if (data instanceof Uint32Array) return { code: 'J', zero: 2147483648 };
  if (data instanceof BigInt64Array) return { code: 'K' };
  if (data instanceof BigUint64Array) return { code: 'K', zero: TWO63 };
  if (data instanceof Uint8Array || data instanceof Uint8ClampedArray) return { code: 'B' };
  if (data instanceof Int8Array) return { code: 'B', zero: -128 };
  if (Array.isArray(data)) {
    const first = data.find((v) => v !== undefined && v !== null);
    if (typeof first === 'string') return { code: 'A' };
    if (typeof first === 'boolean') return { code: 'L' };
    if (typeof first === 'bigint') return { code: 'K' };
    return { code: 'D' };
  }
  throw new TypeError('column data must be a typed array or an array of numbers, strings or booleans');
}

/** TZERO implied by writing unsigned data into a signed FITS type. */
function unsignedZero(data: ColumnValues, code: ColumnCode): number | bigint | undefined {
  if (code === 'B' && data instanceof Int8Array) return -128;
  if (code === 'I' && data instanceof Uint16Array) return 32768;
  if (code === 'J' && data instanceof Uint32Array) return 2147483648;
  if (code === 'K' && data instanceof BigUint64Array) return TWO63;
  return undefined;
}

const INT_RANGE: Record<string, [number, number]> = {
  B: [0, 255],
  I: [-32768, 32767],
  J: [-2147483648, 2147483647],
};

/** Prepare a column for writing. Throws RangeError/TypeError on inconsistent input. */
export function encodeColumn(col: ColumnInput, number: number): EncodedColumn {
  const data = col.data;
  if (!isNumericArray(data) && !Array.isArray(data)) {
    throw new TypeError(`column ${col.name}: data must be a typed array or an array`);
  }
  let code: ColumnCode;
  let repeat: number;
  let zero: number | bigint | undefined;
  if (col.format !== undefined) {
    const m = TFORM.exec(col.format);
    if (m?.[3].trim() !== '' || m[2] === 'P' || m[2] === 'Q' || m[2] === 'X') {
      throw new RangeError(`column ${col.name}: format '${col.format}' is not supported for writing`);
    }
    code = m[2] as ColumnCode;
    repeat = m[1] === '' ? (code === 'A' ? 0 : (col.repeat ?? 1)) : Number(m[1]);
    zero = unsignedZero(data, code);
  } else {
    const inferred = inferCode(data);
    code = inferred.code;
    zero = inferred.zero;
    repeat = code === 'A' ? 0 : (col.repeat ?? 1);
  }
  const isString = code === 'A';
  if (isString) {
    if (!Array.isArray(data) || data.some((s) => typeof s !== 'string')) {
      throw new TypeError(`column ${col.name}: format A needs an array of strings`);
    }
    const strings = data as string[];
    for (const s of strings) {
      if (!/^[\x20-\x7e]*$/.test(s))
        throw new RangeError(`column ${col.name}: strings must be printable ASCII`);
    }
    const longest = strings.reduce((m, s) => Math.max(m, s.length), 0);
    if (repeat === 0) repeat = Math.max(1, longest);
    if (longest > repeat)
      throw new RangeError(`column ${col.name}: a string of ${longest} characters exceeds ${repeat}A`);
  }
  if (!Number.isInteger(repeat) || repeat < 0)
    throw new RangeError(`column ${col.name}: bad repeat ${repeat}`);
  const perRow = isString ? 1 : code === 'C' || code === 'M' ? repeat * 2 : repeat;
  const nrows = perRow === 0 ? 0 : data.length / perRow;
  if (!Number.isInteger(nrows)) {
    throw new RangeError(
      `column ${col.name}: ${data.length} values is not a whole number of rows of ${perRow}`,
    );
  }
  const size = ELEMENT_BYTES[code];
  const width = repeat * size;
  const cards: EncodedColumn['cards'] = [
    { key: `TTYPE${number}`, value: col.name },
    { key: `TFORM${number}`, value: `${repeat}${code}` },
  ];
  if (col.unit) cards.push({ key: `TUNIT${number}`, value: col.unit });
  if (col.null !== undefined) {
    if (!'BIJK'.includes(code))
      throw new RangeError(`column ${col.name}: TNULL applies to integer columns only`);
    cards.push({ key: `TNULL${number}`, value: col.null });
  }
  if (zero !== undefined) {
    cards.push({ key: `TSCAL${number}`, value: 1 });
    cards.push({ key: `TZERO${number}`, value: zero });
  }
  if (col.dim) cards.push({ key: `TDIM${number}`, value: `(${col.dim.join(',')})` });
  if (col.disp) cards.push({ key: `TDISP${number}`, value: col.disp });

  const write = (view: DataView, rowBytes: number, offset: number): void => {
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    if (isString) {
      const strings = data as string[];
      for (let r = 0; r < nrows; r++) {
        const at = r * rowBytes + offset;
        bytes.fill(0x20, at, at + width);
        Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).write(strings[r], at, 'latin1');
      }
      return;
    }
    const n = nrows * perRow;
    // Fast path: a typed array already of the stored type, no TZERO: copy rows, swap in place.
    const same =
      zero === undefined &&
      ((code === 'D' && data instanceof Float64Array) ||
        (code === 'E' && data instanceof Float32Array) ||
        (code === 'C' && data instanceof Float32Array) ||
        (code === 'M' && data instanceof Float64Array) ||
        (code === 'I' && data instanceof Int16Array) ||
        (code === 'J' && data instanceof Int32Array) ||
        (code === 'K' && data instanceof BigInt64Array) ||
        (code === 'B' && data instanceof Uint8Array));
    if (same) {
      const src = data as NumericArray;
      const srcBytes = new Uint8Array(src.buffer, src.byteOffset, n * src.BYTES_PER_ELEMENT);
      for (let r = 0; r < nrows; r++) {
        const at = r * rowBytes + offset;
        const piece = bytes.subarray(at, at + width);
        piece.set(srcBytes.subarray(r * width, (r + 1) * width));
        toHostOrder(piece, code === 'C' ? 4 : code === 'M' ? 8 : size);
      }
      return;
    }
    const values = data as ArrayLike<number | bigint | boolean>;
    const elemSize = code === 'C' ? 4 : code === 'M' ? 8 : size;
    const tnull = col.null;
    for (let i = 0; i < n; i++) {
      const r = Math.floor(i / perRow);
      const at = r * rowBytes + offset + (i - r * perRow) * elemSize;
      const v = values[i];
      switch (code) {
        case 'L':
          view.setUint8(at, v === undefined || v === null ? 0 : v ? 0x54 : 0x46);
          break;
        case 'E':
        case 'C':
          view.setFloat32(at, Number(v));
          break;
        case 'D':
        case 'M':
          view.setFloat64(at, Number(v));
          break;
        case 'K': {
          let x: bigint;
          if (typeof v === 'bigint') x = v;
          else if (typeof v === 'number' && Number.isNaN(v) && tnull !== undefined) x = BigInt(tnull);
          else x = BigInt(Math.round(Number(v)));
          if (zero !== undefined) x -= BigInt(zero);
          view.setBigInt64(at, BigInt.asIntN(64, x));
          break;
        }
        default: {
          let x = Number(v);
          if (Number.isNaN(x)) {
            if (tnull === undefined)
              throw new RangeError(`column ${col.name}: NaN in an integer column without null`);
            x = Number(tnull);
          } else {
            x = Math.round(x);
            if (zero !== undefined) x -= Number(zero);
          }
          const [lo, hi] = INT_RANGE[code];
          if (x < lo || x > hi)
            throw new RangeError(`column ${col.name}: value ${v} does not fit format ${code}`);
          if (code === 'B') view.setUint8(at, x);
          else if (code === 'I') view.setInt16(at, x);
          else view.setInt32(at, x);
        }
      }
    }
  };
  return { cards, width, nrows, write };
}
