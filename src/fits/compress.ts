/**
 * Tiled image compression (FITS Standard 4.0, section 10; the `.fz` files of fpack): an image
 * stored as a BINTABLE with ZIMAGE = T, one row per tile, each tile compressed on its own.
 *
 * Read support: RICE_1 (integer images and quantized floating-point images), GZIP_1, GZIP_2 and
 * NOCOMPRESS; quantization with NO_DITHER, SUBTRACTIVE_DITHER_1 and SUBTRACTIVE_DITHER_2
 * (ZSCALE / ZZERO / ZBLANK as columns or keywords); tiles stored losslessly in
 * GZIP_COMPRESSED_DATA or UNCOMPRESSED_DATA. PLIO_1 and HCOMPRESS_1 are refused with a clear
 * error (funpack decompresses them).
 */
import { constants } from 'node:buffer';
import { gunzipSync } from 'node:zlib';
import { BadInputError } from '../util/errors.ts';
import { decodeBigEndian, type NumericArray } from './bytes.ts';
import { MAX_DECOMPRESSED_ENV, maxDecompressedBytes } from './gzip.ts';
import type { Hdu } from './hdu.ts';
import { type Card, Header } from './header.ts';
import { riceDecode } from './rice.ts';
import { type ColumnInfo, elementBytes, tableColumns } from './table.ts';

// ---- header of the compressed image --------------------------------------------------------

/** Keywords of the table that holds the image, and of the compression convention itself. */
const TABLE_ONLY = new Set([
  'XTENSION',
  'BITPIX',
  'NAXIS',
  'PCOUNT',
  'GCOUNT',
  'TFIELDS',
  'THEAP',
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
  'CHECKSUM',
  'DATASUM',
]);
const TABLE_INDEXED =
  /^(NAXIS|ZNAXIS|ZTILE|ZNAME|ZVAL|TTYPE|TFORM|TUNIT|TSCAL|TZERO|TNULL|TDIM|TDISP|TBCOL)\d+$/;

/**
 * The header of the image held by a compressed-image HDU: what funpack would write. `primary`
 * tells whether the table is itself the primary HDU (never in valid files; kept for safety).
 */
export function imageHeaderOf(header: Header, primary: boolean): Header {
  const get = (k: string) => header.get(k);
  const cards: Card[] = [];
  const zsimple = get('ZSIMPLE');
  const asPrimary = zsimple !== undefined || primary;
  if (asPrimary) cards.push({ key: 'SIMPLE', value: true, comment: 'file does conform to FITS standard' });
  else cards.push({ key: 'XTENSION', value: String(get('ZTENSION') ?? 'IMAGE'), comment: 'IMAGE extension' });
  cards.push({ key: 'BITPIX', value: get('ZBITPIX') ?? null, comment: 'number of bits per data pixel' });
  const znaxis = Number(get('ZNAXIS') ?? 0);
  cards.push({ key: 'NAXIS', value: znaxis, comment: 'number of data axes' });
  for (let i = 1; i <= znaxis; i++) {
    cards.push({ key: `NAXIS${i}`, value: get(`ZNAXIS${i}`) ?? null, comment: `length of data axis ${i}` });
  }
  if (asPrimary) {
    const zextend = get('ZEXTEND');
    if (zextend !== undefined) cards.push({ key: 'EXTEND', value: zextend });
  } else {
    cards.push({ key: 'PCOUNT', value: get('ZPCOUNT') ?? 0, comment: 'required keyword; must = 0' });
    cards.push({ key: 'GCOUNT', value: get('ZGCOUNT') ?? 1, comment: 'required keyword; must = 1' });
  }
  const zbitpix = Number(get('ZBITPIX'));
  const zblank = get('ZBLANK');
  if (zbitpix > 0 && zblank !== undefined && !header.has('BLANK'))
    cards.push({ key: 'BLANK', value: zblank });
  for (const c of header.cards) {
    if (c.value !== undefined && (TABLE_ONLY.has(c.key) || TABLE_INDEXED.test(c.key))) continue;
    // fpack names the table of a compressed primary image; the image itself had no name.
    if (c.key === 'EXTNAME' && c.value === 'COMPRESSED_IMAGE') continue;
    cards.push(c);
  }
  const zhecksum = get('ZHECKSUM');
  const zdatasum = get('ZDATASUM');
  if (zhecksum !== undefined) cards.push({ key: 'CHECKSUM', value: zhecksum });
  if (zdatasum !== undefined) cards.push({ key: 'DATASUM', value: zdatasum });
  return new Header(
    cards.map((c) => ({ ...c })),
    header.source,
  );
}

// ---- decompression --------------------------------------------------------------------------

/** Image values as stored (integer images) or restored floats (floating-point images). */
export type StoredImage = Uint8Array | Int16Array | Int32Array | BigInt64Array | Float32Array | Float64Array;

const N_RANDOM = 10000;
const MAX_LENGTH = constants.MAX_LENGTH;
let randoms: Float32Array | undefined;

/**
 * The dither sequence of the convention (Standard 10.2.1): Park & Miller's minimal standard
 * generator, stored as float32 exactly as cfitsio does, so that dithered values match.
 */
function ditherSequence(): Float32Array {
  if (randoms) return randoms;
  const r = new Float32Array(N_RANDOM);
  const a = 16807;
  const m = 2147483647;
  let seed = 1;
  for (let i = 0; i < N_RANDOM; i++) {
    const temp = a * seed;
    seed = temp - m * Math.trunc(temp / m);
    r[i] = seed / m;
  }
  randoms = r;
  return r;
}

const NULL_ZERO_VALUE = -2147483646; // SUBTRACTIVE_DITHER_2's code for an exact 0.0

type Dither = 'NO_DITHER' | 'SUBTRACTIVE_DITHER_1' | 'SUBTRACTIVE_DITHER_2';

/** Reverse GZIP_2's byte shuffle: all first bytes, then all second bytes, ... */
function unshuffle(bytes: Uint8Array, size: number): Uint8Array {
  if (size === 1) return bytes;
  const n = bytes.length / size;
  const out = new Uint8Array(bytes.length);
  for (let k = 0; k < size; k++) for (let i = 0; i < n; i++) out[i * size + k] = bytes[k * n + i];
  return out;
}

function integerArray(bitpix: number, n: number): Uint8Array | Int16Array | Int32Array | BigInt64Array {
  switch (bitpix) {
    case 8:
      return new Uint8Array(n);
    case 16:
      return new Int16Array(n);
    case 32:
      return new Int32Array(n);
    default:
      return new BigInt64Array(n);
  }
}

function beArray(size: number, float: boolean, bytes: Uint8Array, n: number): NumericArray {
  if (float)
    return size === 4
      ? decodeBigEndian(Float32Array, bytes, 0, n)
      : decodeBigEndian(Float64Array, bytes, 0, n);
  switch (size) {
    case 1:
      return new Uint8Array(bytes.subarray(0, n));
    case 2:
      return decodeBigEndian(Int16Array, bytes, 0, n);
    case 4:
      return decodeBigEndian(Int32Array, bytes, 0, n);
    default:
      return decodeBigEndian(BigInt64Array, bytes, 0, n);
  }
}

/** Decompress the image of a compressed-image HDU (values before BSCALE/BZERO). */
export function decompressImage(hdu: Hdu): StoredImage {
  const h = hdu.header;
  const where = hdu.where;
  const shape = hdu.shape;
  const zbitpix = hdu.bitpix;
  const cmptype = h.string('ZCMPTYPE').trim().toUpperCase();
  const ndim = shape.length;
  const npix = shape.reduce((a, b) => a * b, ndim > 0 ? 1 : 0);
  const tile = shape.map((s, i) => h.integer(`ZTILE${i + 1}`, i === 0 ? s : 1));
  for (let i = 0; i < ndim; i++) {
    if (tile[i] < 1)
      throw new BadInputError(`${h.where(`ZTILE${i + 1}`)}: ZTILE${i + 1} = ${tile[i]} is not valid`);
  }
  let blocksize = 32;
  let bytepix = 4;
  for (let i = 1; h.has(`ZNAME${i}`); i++) {
    const name = String(h.get(`ZNAME${i}`))
      .trim()
      .toUpperCase();
    if (name === 'BLOCKSIZE') blocksize = h.integer(`ZVAL${i}`);
    else if (name === 'BYTEPIX') bytepix = h.integer(`ZVAL${i}`);
  }
  const columns = tableColumns(h, where);
  const column = (name: string): ColumnInfo | undefined => columns.find((c) => c.name.toUpperCase() === name);
  const cdata = column('COMPRESSED_DATA');
  if (!cdata || (cdata.code !== 'P' && cdata.code !== 'Q')) {
    throw new BadInputError(`${where}: compressed image has no variable-length COMPRESSED_DATA column`);
  }
  const gzipColumn = column('GZIP_COMPRESSED_DATA');
  const rawColumn = column('UNCOMPRESSED_DATA');
  const scaleColumn = column('ZSCALE');
  const zeroColumn = column('ZZERO');
  const blankColumn = column('ZBLANK');

  const rowBytes = h.integer('NAXIS1');
  const nrows = h.integer('NAXIS2');
  const counts = shape.map((s, i) => Math.ceil(s / tile[i]));
  const ntiles = npix === 0 ? 0 : counts.reduce((a, b) => a * b, 1);
  if (nrows !== ntiles) {
    throw new BadInputError(
      `${where}: ${nrows} table rows but the image (${shape.join(' x ')}) in tiles of ${tile.join(' x ')} needs ${ntiles}`,
    );
  }

  const float = zbitpix < 0;
  const quantized = float && (scaleColumn !== undefined || h.has('ZSCALE'));
  const quantizeName = (h.optionalString('ZQUANTIZ') ?? 'NO_DITHER').trim().toUpperCase();
  let dither: Dither;
  if (quantizeName === 'NONE') {
    dither = 'NO_DITHER'; // lossless: no ZSCALE, so nothing to undo
  } else if (
    quantizeName === 'NO_DITHER' ||
    quantizeName === 'SUBTRACTIVE_DITHER_1' ||
    quantizeName === 'SUBTRACTIVE_DITHER_2'
  ) {
    dither = quantizeName;
  } else {
    throw new BadInputError(
      `${h.where('ZQUANTIZ')}: unknown quantization method ZQUANTIZ = '${quantizeName}'`,
    );
  }
  const dither0 = h.integer('ZDITHER0', 1);

  if (!['RICE_1', 'RICE_ONE', 'GZIP_1', 'GZIP_2', 'NOCOMPRESS'].includes(cmptype)) {
    throw new BadInputError(
      `${h.where('ZCMPTYPE')}: compression ZCMPTYPE = '${cmptype}' is not supported (RICE_1, GZIP_1, GZIP_2 are); decompress it with funpack first`,
    );
  }
  if (!float && zbitpix === 64 && cmptype.startsWith('RICE')) {
    throw new BadInputError(`${where}: RICE_1 compression of a 64-bit integer image is not supported`);
  }

  const bytesPerPixel = Math.abs(zbitpix) / 8;
  if (npix * bytesPerPixel > MAX_LENGTH) {
    throw new BadInputError(
      `${where}: the compressed image is too large to hold in memory (${shape.join(' x ')})`,
    );
  }
  // The image is what decompression produces: the same cap as for gzip-compressed files.
  const limit = maxDecompressedBytes();
  if (npix * bytesPerPixel > limit) {
    throw new BadInputError(
      `${where}: the compressed image (ZBITPIX = ${zbitpix}, ZNAXISn = ${shape.join(' x ')}) would take ` +
        `${npix * bytesPerPixel} bytes decompressed, more than the limit of ${limit} (${MAX_DECOMPRESSED_ENV}); raise the limit to read it`,
    );
  }
  let out: StoredImage;
  try {
    out = float
      ? zbitpix === -32
        ? new Float32Array(npix)
        : new Float64Array(npix)
      : integerArray(zbitpix, npix);
  } catch (err) {
    throw new BadInputError(`${where}: not enough memory for the image (${shape.join(' x ')})`, {
      cause: err,
    });
  }

  const data = hdu.data;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const heapStart = h.integer('THEAP', rowBytes * nrows);
  if (heapStart < rowBytes * nrows || heapStart > data.length) {
    throw new BadInputError(`${h.where('THEAP')}: THEAP = ${heapStart} is outside the data unit`);
  }

  /** The bytes of a variable-length cell (row r, 0-based). */
  const cell = (col: ColumnInfo, r: number): Uint8Array => {
    const at = r * rowBytes + col.offset;
    const count = col.code === 'P' ? view.getInt32(at) : Number(view.getBigInt64(at));
    const offset = col.code === 'P' ? view.getInt32(at + 4) : Number(view.getBigInt64(at + 8));
    const nbytes = count * elementBytes(col.arrayCode ?? 'B');
    const start = heapStart + offset;
    if (count < 0 || offset < 0 || start + nbytes > data.length) {
      throw new BadInputError(
        `${where}: tile ${r + 1}: ${col.name} descriptor (${count} elements at heap offset ${offset}) points outside the heap`,
      );
    }
    return data.subarray(start, start + nbytes);
  };
  const fixed = (
    col: ColumnInfo | undefined,
    r: number,
    keyword: string,
    fallback?: number,
  ): number | undefined => {
    if (col) {
      const at = r * rowBytes + col.offset;
      if (col.code === 'D') return view.getFloat64(at);
      if (col.code === 'E') return view.getFloat32(at);
      if (col.code === 'J') return view.getInt32(at);
      if (col.code === 'I') return view.getInt16(at);
      if (col.code === 'K') return Number(view.getBigInt64(at));
      throw new BadInputError(`${where}: column ${col.name} has unexpected format ${col.format}`);
    }
    return h.optionalNumber(keyword) ?? fallback;
  };

  const maxTile = tile.reduce((a, b) => a * b, 1);
  const ints = new Int32Array(Math.min(maxTile, Math.max(npix, 1)));
  const restored = float
    ? zbitpix === -32
      ? new Float32Array(ints.length)
      : new Float64Array(ints.length)
    : undefined;
  const rand = quantized && dither !== 'NO_DITHER' ? ditherSequence() : undefined;
  const storedSize = float ? (quantized ? 4 : -zbitpix / 8) : Math.abs(zbitpix) / 8;

  const origin = new Array<number>(ndim).fill(0);
  const ext = new Array<number>(ndim).fill(0);
  const tileIndex = new Array<number>(ndim).fill(0);
  for (let r = 0; r < ntiles; r++) {
    // Tile geometry: tiles are numbered with the first axis varying fastest.
    let tileLen = 1;
    for (let k = 0; k < ndim; k++) {
      origin[k] = tileIndex[k] * tile[k];
      ext[k] = Math.min(tile[k], shape[k] - origin[k]);
      tileLen *= ext[k];
    }
    const tileWhere = `${where}, tile ${r + 1}`;
    let values: NumericArray;
    const compressed = cell(cdata, r);
    if (compressed.length === 0 && float && (gzipColumn || rawColumn)) {
      // A tile that could not be quantized is kept losslessly.
      if (gzipColumn && cell(gzipColumn, r).length > 0) {
        const raw = gunzip(cell(gzipColumn, r), tileWhere, (tileLen * -zbitpix) / 8);
        values = beArray(-zbitpix / 8, true, raw, Math.floor(raw.length / (-zbitpix / 8)));
        checkLength(values, tileLen, tileWhere);
      } else if (rawColumn) {
        const bytes = cell(rawColumn, r);
        const code = rawColumn.arrayCode ?? 'E';
        values = beArray(
          elementBytes(code),
          code === 'E' || code === 'D',
          bytes,
          bytes.length / elementBytes(code),
        );
        checkLength(values, tileLen, tileWhere);
      } else {
        throw new BadInputError(`${tileWhere}: the tile has no data`);
      }
    } else {
      if (cmptype.startsWith('RICE')) {
        riceDecode(compressed, tileLen, blocksize, bytepix, ints, tileWhere);
        values = ints.subarray(0, tileLen);
      } else {
        let bytes =
          cmptype === 'NOCOMPRESS' ? compressed : gunzip(compressed, tileWhere, tileLen * storedSize);
        if (bytes.length !== tileLen * storedSize) {
          throw new BadInputError(
            `${tileWhere}: decompressed tile has ${bytes.length} bytes, expected ${tileLen * storedSize}`,
          );
        }
        if (cmptype === 'GZIP_2') bytes = unshuffle(bytes, storedSize);
        values = beArray(storedSize, float && !quantized, bytes, tileLen);
      }
      if (quantized) {
        const scale = fixed(scaleColumn, r, 'ZSCALE');
        const zero = fixed(zeroColumn, r, 'ZZERO', 0);
        if (scale === undefined || zero === undefined) {
          throw new BadInputError(`${tileWhere}: quantized tile without ZSCALE/ZZERO`);
        }
        const blank = fixed(blankColumn, r, 'ZBLANK');
        unquantize(
          values as Int32Array,
          restored!,
          tileLen,
          scale,
          zero,
          blank,
          dither,
          rand,
          r + 1 + dither0 - 1,
        );
        values = restored!.subarray(0, tileLen);
      }
    }
    place(out, values, shape, origin, ext);
    for (let k = 0; k < ndim; k++) {
      if (++tileIndex[k] < counts[k]) break;
      tileIndex[k] = 0;
    }
  }
  return out;
}

function checkLength(values: NumericArray, n: number, where: string): void {
  if (values.length !== n)
    throw new BadInputError(`${where}: tile holds ${values.length} values, expected ${n}`);
}

/**
 * Inflate a tile, which can never be more than `expected` bytes (its pixels, as ZTILEn give
 * them): a tile that inflates to more is refused as soon as it does, without holding the rest.
 */
function gunzip(bytes: Uint8Array, where: string, expected: number): Uint8Array {
  try {
    return gunzipSync(bytes, { maxOutputLength: Math.max(1, expected) });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new BadInputError(
        `${where}: gzip-compressed tile inflates to more than the ${expected} bytes of its pixels (ZTILEn); the file is corrupt`,
        { cause: err },
      );
    }
    throw new BadInputError(`${where}: gzip-compressed tile is corrupt (${(err as Error).message})`, {
      cause: err,
    });
  }
}

/**
 * Undo quantization (Standard 10.2): value = (i - r + 0.5) * ZSCALE + ZZERO with the dither r
 * taken from the sequence at a place set by the tile's row and ZDITHER0, or i * ZSCALE + ZZERO
 * without dithering; ZBLANK marks NaN. `row` is the 1-based tile row plus ZDITHER0 - 1.
 */
function unquantize(
  ints: Int32Array,
  out: Float32Array | Float64Array,
  n: number,
  scale: number,
  zero: number,
  blank: number | undefined,
  dither: Dither,
  rand: Float32Array | undefined,
  row: number,
): void {
  if (!rand) {
    for (let i = 0; i < n; i++) out[i] = ints[i] === blank ? Number.NaN : ints[i] * scale + zero;
    return;
  }
  let iseed = (((row - 1) % N_RANDOM) + N_RANDOM) % N_RANDOM;
  // cfitsio computes this index in float arithmetic; fround keeps the same truncation.
  let next = Math.floor(Math.fround(rand[iseed] * 500));
  const zeroCode = dither === 'SUBTRACTIVE_DITHER_2';
  for (let i = 0; i < n; i++) {
    const v = ints[i];
    if (v === blank) out[i] = Number.NaN;
    else if (zeroCode && v === NULL_ZERO_VALUE) out[i] = 0;
    else out[i] = (v - rand[next] + 0.5) * scale + zero;
    if (++next === N_RANDOM) {
      iseed = (iseed + 1) % N_RANDOM;
      next = Math.floor(Math.fround(rand[iseed] * 500));
    }
  }
}

/** Copy a tile's values (x fastest) into the image at `origin` with extent `ext`. */
function place(
  out: StoredImage,
  values: NumericArray,
  shape: number[],
  origin: number[],
  ext: number[],
): void {
  const ndim = shape.length;
  const o = out as unknown as { set(a: ArrayLike<number | bigint>, offset: number): void };
  const v = values as unknown as { subarray(a: number, b: number): ArrayLike<number | bigint> };
  const row = ext[0];
  let rows = 1;
  for (let k = 1; k < ndim; k++) rows *= ext[k];
  const counter = new Array<number>(ndim).fill(0);
  let src = 0;
  const bigOut = out instanceof BigInt64Array;
  for (let j = 0; j < rows; j++) {
    let dst = origin[0];
    let stride = shape[0];
    for (let k = 1; k < ndim; k++) {
      dst += (origin[k] + counter[k]) * stride;
      stride *= shape[k];
    }
    const piece = v.subarray(src, src + row);
    if (bigOut && !(values instanceof BigInt64Array)) {
      for (let i = 0; i < row; i++) (out as BigInt64Array)[dst + i] = BigInt((piece as ArrayLike<number>)[i]);
    } else {
      o.set(piece, dst);
    }
    src += row;
    for (let k = 1; k < ndim; k++) {
      if (++counter[k] < ext[k]) break;
      counter[k] = 0;
    }
  }
}
