/**
 * Header-data units: the structure of a FITS file (FITS Standard 4.0, sections 3-4 and 7).
 *
 * An HDU is a header followed by a data unit whose size follows from the mandatory keywords
 * alone, so every HDU, even of an unknown extension type, can be located and skipped without
 * understanding its data. Parsing checks those keywords and the size against the bytes
 * present; decoding the data is left to image.ts, table.ts and compress.ts.
 */
import { BadInputError } from '../util/errors.ts';
import { imageHeaderOf } from './compress.ts';
import { BLOCK_LENGTH, CARD_LENGTH, type CardValue, Header, type WarningSink } from './header.ts';
import { type ByteSource, MemorySource } from './source.ts';

export type HduKind = 'image' | 'bintable' | 'table' | 'compressed-image' | 'unknown';

export const BITPIX_VALUES = [8, 16, 32, 64, -32, -64] as const;
export type Bitpix = (typeof BITPIX_VALUES)[number];

export function isBitpix(v: unknown): v is Bitpix {
  return (BITPIX_VALUES as readonly unknown[]).includes(v);
}

export interface HduInit {
  index: number;
  header: Header;
  kind: HduKind;
  shape: number[];
  bitpix: number;
  file?: string;
  source: ByteSource;
  headerStart: number;
  dataStart: number;
  dataLength: number;
  end: number;
}

export class Hdu {
  /** Position in the file, 0 for the primary HDU. */
  readonly index: number;
  readonly header: Header;
  readonly kind: HduKind;
  /** EXTNAME, trimmed; undefined when the header has none. */
  readonly name?: string;
  /**
   * NAXIS1, NAXIS2, ... (x fastest). For a compressed image, the shape of the image (ZNAXISn);
   * for a binary table, [bytes per row, rows].
   */
  readonly shape: number[];
  /** BITPIX; for a compressed image, that of the image (ZBITPIX). */
  readonly bitpix: number;
  /** XTENSION value, trimmed; undefined for the primary HDU. */
  readonly xtension?: string;
  /** The file the HDU was read from, for messages. */
  readonly file?: string;
  /** The file's bytes; the HDU occupies [headerStart, end). */
  readonly source: ByteSource;
  readonly headerStart: number;
  readonly dataStart: number;
  /** Bytes of data (without the fill to a whole block). */
  readonly dataLength: number;
  /** First byte after this HDU's last block (may be short of a block in a file that lacks fill). */
  readonly end: number;
  private cachedImageHeader?: Header;

  constructor(init: HduInit) {
    this.index = init.index;
    this.header = init.header;
    this.kind = init.kind;
    this.shape = init.shape;
    this.bitpix = init.bitpix;
    this.file = init.file;
    this.source = init.source;
    this.headerStart = init.headerStart;
    this.dataStart = init.dataStart;
    this.dataLength = init.dataLength;
    this.end = init.end;
    const extname = init.header.get('EXTNAME');
    // fpack names the table holding a compressed primary image COMPRESSED_IMAGE; the image has no name.
    const fpackName = init.kind === 'compressed-image' && extname === 'COMPRESSED_IMAGE';
    if (typeof extname === 'string' && extname.trim() !== '' && !fpackName) this.name = extname.trim();
    const xt = init.header.get('XTENSION');
    if (init.index > 0 && typeof xt === 'string') this.xtension = xt.trim();
  }

  /** The data unit's bytes (a view for a file in memory; read anew from a file on disk). */
  get data(): Uint8Array {
    return this.source.bytes(this.dataStart, this.dataLength);
  }

  /**
   * For a compressed image, the header of the image it holds (ZBITPIX -> BITPIX, ZNAXISn ->
   * NAXISn, ..., table keywords removed); otherwise the HDU's own header.
   */
  get imageHeader(): Header {
    if (this.kind !== 'compressed-image') return this.header;
    this.cachedImageHeader ??= imageHeaderOf(this.header, this.index === 0);
    return this.cachedImageHeader;
  }

  /** "file, HDU n (NAME)" for messages. */
  get where(): string {
    return hduWhere(this.file, this.index, this.name);
  }

  /** Type for people: 'image', 'bintable', ..., or the XTENSION value of an unknown extension. */
  get typeName(): string {
    if (this.kind === 'unknown') return `unknown (${this.xtension ?? 'random groups'})`;
    return this.kind;
  }
}

export function hduWhere(file: string | undefined, index: number, name?: string): string {
  const parts: string[] = [];
  if (file !== undefined) parts.push(file);
  parts.push(name !== undefined ? `HDU ${index} (${name})` : `HDU ${index}`);
  return parts.join(', ');
}

export interface ParseContext {
  file?: string;
  warn: WarningSink;
}

function show(v: CardValue | undefined): string {
  if (typeof v === 'string') return `'${v}'`;
  return String(v);
}

/** An integer mandatory keyword, with a message naming file, HDU and card when it is wrong. */
function mandatoryInteger(
  header: Header,
  key: string,
  at: string,
  min: number,
  max: number,
  why = '',
): number {
  const v = header.get(key);
  if (v === undefined || v === null) {
    throw new BadInputError(
      `${at}: mandatory keyword ${key} is missing${why}; the header is incomplete or damaged`,
    );
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new BadInputError(
      `${header.where(key)}: ${key} = ${show(v)} is not valid (an integer from ${min} to ${max} is required)`,
    );
  }
  return v;
}

/** Warn when the mandatory keywords are not the first cards in the required order. */
function checkOrder(header: Header, expected: string[], at: string, warn: WarningSink): void {
  for (let i = 0; i < expected.length; i++) {
    const found = header.cards[i]?.key;
    if (found !== expected[i]) {
      warn(
        `${at}: mandatory keyword ${expected[i]} should be card ${i + 1} but that card is ${found ?? 'missing'}; read anyway`,
      );
      return;
    }
  }
}

/** Largest data unit we accept (beyond any file we could hold in memory). */
const MAX_DATA = Number.MAX_SAFE_INTEGER;

/**
 * Parse the HDU whose header begins at `offset`. Throws BadInputError naming the file, HDU and
 * card when the mandatory keywords are missing or wrong, or the data unit is truncated.
 */
export function parseHdu(source: ByteSource, offset: number, index: number, ctx: ParseContext): Hdu {
  const { header, end: dataStart } = readHeader(source, offset, index, ctx);
  const at = hduWhere(ctx.file, index);
  const { kind, bitpix, shape, dataLength } = hduLayout(header, index, ctx);
  const available = source.length - dataStart;
  if (dataLength > available) {
    throw new BadInputError(
      `${at}: data unit is truncated: the header (BITPIX = ${bitpix}, NAXISn = ${shape.join(' x ') || '-'}) ` +
        `implies ${dataLength} bytes but only ${Math.max(0, available)} remain; the file is incomplete`,
    );
  }
  const padded = Math.ceil(dataLength / BLOCK_LENGTH) * BLOCK_LENGTH;
  let end = dataStart + padded;
  if (end > source.length) {
    ctx.warn(`${at}: the last data block is not padded to ${BLOCK_LENGTH} bytes; read anyway`);
    end = source.length;
  }

  let imageShape = shape;
  let imageBitpix: number = bitpix;
  if (kind === 'compressed-image') {
    const zbitpix = header.get('ZBITPIX');
    if (!isBitpix(zbitpix)) {
      throw new BadInputError(`${header.where('ZBITPIX')}: compressed image has ZBITPIX = ${show(zbitpix)}`);
    }
    imageBitpix = zbitpix;
    const znaxis = mandatoryInteger(header, 'ZNAXIS', at, 0, 999);
    imageShape = [];
    for (let i = 1; i <= znaxis; i++) {
      imageShape.push(mandatoryInteger(header, `ZNAXIS${i}`, at, 0, MAX_DATA, ` (ZNAXIS = ${znaxis})`));
    }
  }

  return new Hdu({
    index,
    header,
    kind,
    shape: imageShape,
    bitpix: imageBitpix,
    file: ctx.file,
    source,
    headerStart: offset,
    dataStart,
    dataLength,
    end,
  });
}

/** What the mandatory keywords of a header say: the HDU's kind, BITPIX, NAXISn and data size. */
export interface HduLayout {
  kind: HduKind;
  bitpix: Bitpix;
  /** NAXIS1, NAXIS2, ... of the HDU itself (for a compressed image, of its table). */
  shape: number[];
  /** Bytes of data (without the fill to a whole block). */
  dataLength: number;
}

/**
 * The layout an HDU's header promises (Standard 4.4.1 and 7): checks the mandatory keywords
 * and computes the size of the data unit, |BITPIX|/8 * GCOUNT * (PCOUNT + NAXIS1*...*NAXISn).
 * Throws BadInputError naming the file, HDU and card when they are missing or wrong.
 */
export function hduLayout(header: Header, index: number, ctx: ParseContext): HduLayout {
  const at = hduWhere(ctx.file, index);
  const first = header.cards[0];
  const primary = index === 0;
  let xtension: string | undefined;
  if (primary) {
    if (first?.key !== 'SIMPLE') {
      throw new BadInputError(
        `${at}: the first card is ${first?.key ?? 'missing'}, not SIMPLE; this is not a FITS file`,
      );
    }
    if (first.value !== true) {
      ctx.warn(
        `${at}: SIMPLE = ${show(first.value)}: the file says it does not conform to FITS; read anyway`,
      );
    }
  } else {
    if (first?.key !== 'XTENSION') {
      throw new BadInputError(
        `${at}: an extension must begin with XTENSION but its first card is ${first?.key ?? 'missing'}`,
      );
    }
    if (typeof first.value !== 'string') {
      throw new BadInputError(`${header.where('XTENSION')}: XTENSION = ${show(first.value)} is not a string`);
    }
    xtension = first.value.trim().toUpperCase();
  }

  const bitpixValue = header.get('BITPIX');
  if (bitpixValue === undefined) {
    throw new BadInputError(
      `${at}: mandatory keyword BITPIX is missing; the header is incomplete or damaged`,
    );
  }
  if (!isBitpix(bitpixValue)) {
    throw new BadInputError(
      `${header.where('BITPIX')}: unknown BITPIX = ${show(bitpixValue)} (FITS allows 8, 16, 32, 64, -32, -64)`,
    );
  }
  const bitpix: Bitpix = bitpixValue;
  const naxis = mandatoryInteger(header, 'NAXIS', at, 0, 999);
  const shape: number[] = [];
  for (let i = 1; i <= naxis; i++) {
    shape.push(mandatoryInteger(header, `NAXIS${i}`, at, 0, MAX_DATA, ` (NAXIS = ${naxis})`));
  }
  const extra = header.get(`NAXIS${naxis + 1}`);
  if (extra !== undefined) {
    ctx.warn(
      `${header.where(`NAXIS${naxis + 1}`)}: NAXIS${naxis + 1} is present but NAXIS = ${naxis}; ignored`,
    );
  }

  const order = primary ? ['SIMPLE', 'BITPIX', 'NAXIS'] : ['XTENSION', 'BITPIX', 'NAXIS'];
  for (let i = 1; i <= naxis; i++) order.push(`NAXIS${i}`);
  let pcount = 0;
  let gcount = 1;
  const randomGroups = primary && naxis > 0 && shape[0] === 0 && header.get('GROUPS') === true;
  if (!primary || randomGroups) {
    pcount = mandatoryInteger(header, 'PCOUNT', at, 0, MAX_DATA);
    gcount = mandatoryInteger(header, 'GCOUNT', at, 0, MAX_DATA);
    if (!primary) order.push('PCOUNT', 'GCOUNT');
  }
  checkOrder(header, order, at, ctx.warn);

  let kind: HduKind;
  if (primary) {
    kind = randomGroups ? 'unknown' : 'image';
  } else {
    switch (xtension) {
      case 'IMAGE':
        kind = 'image';
        break;
      case 'BINTABLE':
      case 'A3DTABLE': // the pre-standard name of BINTABLE
        kind = header.get('ZIMAGE') === true ? 'compressed-image' : 'bintable';
        break;
      case 'TABLE':
        kind = 'table';
        break;
      default:
        kind = 'unknown';
        ctx.warn(`${at}: extension type XTENSION = '${xtension}' is not standard; its data are skipped`);
    }
  }

  if (kind === 'image' && !primary && (pcount !== 0 || gcount !== 1)) {
    throw new BadInputError(
      `${at}: an IMAGE extension needs PCOUNT = 0 and GCOUNT = 1 (found ${pcount}, ${gcount})`,
    );
  }
  if (kind === 'bintable' || kind === 'compressed-image' || kind === 'table') {
    if (bitpix !== 8 || naxis !== 2 || gcount !== 1) {
      throw new BadInputError(
        `${at}: a ${xtension} extension needs BITPIX = 8, NAXIS = 2, GCOUNT = 1 (found ${bitpix}, ${naxis}, ${gcount})`,
      );
    }
    if (kind === 'table' && pcount !== 0) {
      throw new BadInputError(`${header.where('PCOUNT')}: an ASCII TABLE extension needs PCOUNT = 0`);
    }
    mandatoryInteger(header, 'TFIELDS', at, 0, 999);
  }

  // Data size (Standard 4.4.1.1 and 7.1): |BITPIX|/8 * GCOUNT * (PCOUNT + NAXIS1*...*NAXISn).
  let n = naxis > 0 ? 1 : 0;
  for (let i = randomGroups ? 1 : 0; i < naxis; i++) n *= shape[i];
  const dataLength = (Math.abs(bitpix) / 8) * gcount * (pcount + n);
  if (!Number.isSafeInteger(dataLength)) {
    throw new BadInputError(`${at}: the data size implied by NAXISn, PCOUNT and GCOUNT is impossibly large`);
  }
  return { kind, bitpix, shape, dataLength };
}

/** Does this block of header text contain the END card? */
function hasEnd(bytes: Uint8Array): boolean {
  for (let p = 0; p + CARD_LENGTH <= bytes.length; p += CARD_LENGTH) {
    if (bytes[p] !== 0x45 || bytes[p + 1] !== 0x4e || bytes[p + 2] !== 0x44) continue;
    let blank = true;
    for (let k = 3; k < CARD_LENGTH && blank; k++) blank = bytes[p + k] === 0x20;
    if (blank) return true;
  }
  return false;
}

/**
 * Parse the header at `offset`. From a file, blocks are read in growing chunks until one holds
 * END, so that a header costs a few small reads whatever the size of the file.
 */
function readHeader(
  source: ByteSource,
  offset: number,
  index: number,
  ctx: ParseContext,
): { header: Header; end: number } {
  const where = { file: ctx.file, hdu: index };
  const available = source.length - offset;
  if (source instanceof MemorySource) {
    const r = Header.parse(source.bytes(offset, available), 0, where, ctx.warn);
    return { header: r.header, end: offset + r.end };
  }
  for (let blocks = 4; ; blocks *= 4) {
    const length = Math.min(available, blocks * BLOCK_LENGTH);
    const buf = source.bytes(offset, length);
    if (length === available || hasEnd(buf)) {
      const r = Header.parse(buf, 0, where, ctx.warn);
      return { header: r.header, end: offset + r.end };
    }
  }
}

/** True when every byte is 0 or an ASCII blank (fill that some writers leave at the end). */
function isFill(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0 && bytes[i] !== 0x20) return false;
  return true;
}

/** Does this look like a header card (a keyword of FITS characters, blank-padded)? */
function looksLikeCard(bytes: Uint8Array): boolean {
  if (bytes.length < 8) return false;
  const key = Buffer.from(bytes.buffer, bytes.byteOffset, 8).toString('latin1');
  return /^[A-Za-z0-9_-]+ *$/.test(key);
}

function text(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/**
 * Every HDU of a FITS file, in order. Bytes after the last HDU are ignored with a warning when
 * they are fill or binary junk; when they look like header cards that are not an XTENSION, the
 * file is damaged and that is an error.
 */
export function* iterateHdus(source: ByteSource, ctx: ParseContext): Generator<Hdu> {
  const name = ctx.file ?? 'input';
  if (source.length === 0) throw new BadInputError(`${name}: the file is empty; it is not FITS`);
  if (text(source.bytes(0, 6)) !== 'SIMPLE') {
    throw new BadInputError(`${name}: not a FITS file (it does not begin with SIMPLE)`);
  }
  let offset = 0;
  let index = 0;
  while (offset < source.length) {
    if (index > 0) {
      const restLength = source.length - offset;
      const head = source.bytes(offset, Math.min(restLength, BLOCK_LENGTH));
      const startsExtension = head.length >= CARD_LENGTH && text(head.subarray(0, 8)) === 'XTENSION';
      if (!startsExtension) {
        if (looksLikeCard(head)) {
          throw new BadInputError(
            `${hduWhere(ctx.file, index)}: expected XTENSION at byte ${offset}, found '${text(head.subarray(0, 8)).trimEnd()}'; the file is damaged`,
          );
        }
        ctx.warn(
          `${name}: ${restLength} bytes after the last HDU (${isFill(head) ? 'fill' : 'not FITS'}) ignored`,
        );
        return;
      }
    }
    const hdu = parseHdu(source, offset, index, ctx);
    yield hdu;
    offset = hdu.end;
    index++;
  }
}
