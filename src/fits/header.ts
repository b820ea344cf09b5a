/**
 * FITS headers: 80-character cards in 2880-byte blocks (FITS Standard 4.0, section 4).
 *
 * Reading is lenient where files in the wild commonly bend the rules (free-format mandatory
 * keywords, lower-case keywords, `D` exponents): such cards are read and a warning is
 * recorded. Writing is strict: fixed format for values, quotes doubled, long strings split
 * with CONTINUE, so that fitsverify reports nothing.
 *
 * A card that was read and not changed is written back byte for byte, so unknown cards
 * survive a round trip unchanged.
 */
import { BadInputError } from '../util/errors.ts';

export const CARD_LENGTH = 80;
export const BLOCK_LENGTH = 2880;
const CARDS_PER_BLOCK = BLOCK_LENGTH / CARD_LENGTH;

/** A header value. `null` is FITS's undefined value (`KEY =` with nothing after it). */
export type CardValue = string | number | bigint | boolean | null;

export interface Card {
  /** Keyword, upper case; for HIERARCH cards the words after HIERARCH joined by single spaces. */
  key: string;
  /** Value of a value card; absent for commentary cards (COMMENT, HISTORY, blank). */
  value?: CardValue;
  /** Comment after the `/` of a value card, or the text of a commentary card. */
  comment?: string;
  /** The original 80-character images of this card (several with CONTINUE), kept while unchanged. */
  raw?: string;
}

/** Where a header comes from, for error messages. */
export interface HeaderSource {
  file?: string;
  hdu?: number;
}

export type WarningSink = (message: string) => void;

/** Keywords whose cards carry text, not a value. */
const COMMENTARY = new Set(['COMMENT', 'HISTORY', '']);

function where(src: HeaderSource, cardIndex?: number): string {
  const parts: string[] = [];
  if (src.file !== undefined) parts.push(src.file);
  if (src.hdu !== undefined) parts.push(`HDU ${src.hdu}`);
  if (cardIndex !== undefined) parts.push(`card ${cardIndex + 1}`);
  return parts.join(', ');
}

export class Header {
  readonly cards: Card[];
  /** Where this header was read from; named in the errors of the typed accessors. */
  source?: HeaderSource;

  constructor(cards: Card[] = [], source?: HeaderSource) {
    this.cards = cards;
    this.source = source;
  }

  // ---- typed access -------------------------------------------------------------------

  /** Index in `cards` of the first value card with this keyword, or -1. */
  indexOf(key: string): number {
    const k = key.toUpperCase();
    return this.cards.findIndex((c) => c.key === k && c.value !== undefined);
  }

  private index(key: string): number {
    return this.indexOf(key);
  }

  /** "file, HDU n, card k (KEY)" for messages about a keyword of this header. */
  where(key: string): string {
    const i = this.index(key);
    const src = this.source ?? {};
    const at = where(src, i >= 0 ? this.cardNumber(i) : undefined);
    const k = key.toUpperCase();
    return at === '' ? k : i >= 0 ? `${at} (${k})` : `${at}`;
  }

  /** 0-based card position in the header of cards[i], counting CONTINUE cards. */
  private cardNumber(i: number): number {
    let n = 0;
    for (let j = 0; j < i; j++)
      n += Math.max(1, Math.round((this.cards[j].raw?.length ?? CARD_LENGTH) / CARD_LENGTH));
    return n;
  }

  private missing(key: string): BadInputError {
    const at = where(this.source ?? {});
    return new BadInputError(`${at ? `${at}: ` : ''}header keyword ${key.toUpperCase()} is missing`);
  }

  has(key: string): boolean {
    return this.index(key) >= 0;
  }

  /** The value of the first card with this keyword, or undefined when there is none. */
  get(key: string): CardValue | undefined {
    const i = this.index(key);
    return i >= 0 ? this.cards[i].value : undefined;
  }

  /** A numeric value (integers included); `fallback` when absent; an error when not a number. */
  number(key: string, fallback?: number): number {
    const v = this.get(key);
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw this.missing(key);
    }
    if (typeof v === 'number') return v;
    if (typeof v === 'bigint') return Number(v);
    throw new BadInputError(
      `${this.where(key)}: header keyword ${key} is not a number: ${JSON.stringify(v)}`,
    );
  }

  /** A numeric value or undefined when the keyword is absent or undefined. */
  optionalNumber(key: string): number | undefined {
    const v = this.get(key);
    if (v === undefined || v === null) return undefined;
    return this.number(key);
  }

  /** An integer value; an error when absent (without fallback) or not an integer. */
  integer(key: string, fallback?: number): number {
    const n = this.number(key, fallback);
    if (!Number.isInteger(n)) {
      throw new BadInputError(`${this.where(key)}: header keyword ${key} is not an integer: ${n}`);
    }
    return n;
  }

  string(key: string, fallback?: string): string {
    const v = this.get(key);
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw this.missing(key);
    }
    return typeof v === 'string' ? v : String(v);
  }

  optionalString(key: string): string | undefined {
    const v = this.get(key);
    if (v === undefined || v === null) return undefined;
    return typeof v === 'string' ? v : String(v);
  }

  boolean(key: string, fallback?: boolean): boolean {
    const v = this.get(key);
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw this.missing(key);
    }
    if (typeof v === 'boolean') return v;
    throw new BadInputError(
      `${this.where(key)}: header keyword ${key} is not a logical value: ${JSON.stringify(v)}`,
    );
  }

  comment(key: string): string | undefined {
    const i = this.index(key);
    return i >= 0 ? this.cards[i].comment : undefined;
  }

  /** Text of every HISTORY card, in order. */
  history(): string[] {
    return this.cards.filter((c) => c.key === 'HISTORY').map((c) => c.comment ?? '');
  }

  /** Text of every COMMENT card, in order. */
  comments(): string[] {
    return this.cards.filter((c) => c.key === 'COMMENT').map((c) => c.comment ?? '');
  }

  /** Keywords of the value cards, in order (duplicates kept). */
  keys(): string[] {
    return this.cards.filter((c) => c.value !== undefined).map((c) => c.key);
  }

  // ---- editing ------------------------------------------------------------------------

  /**
   * Set a value: replaces the first card with this keyword (keeping its comment unless a new
   * one is given), or appends a card. `after` places a new card after that keyword.
   */
  set(key: string, value: CardValue, comment?: string, options: { after?: string } = {}): this {
    const k = key.toUpperCase();
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new RangeError(`FITS header values must be finite: ${k} = ${value}`);
    }
    const i = this.index(k);
    if (i >= 0) {
      const old = this.cards[i];
      this.cards[i] = { key: k, value, comment: comment ?? old.comment };
      return this;
    }
    const card: Card = { key: k, value, comment };
    if (options.after !== undefined) {
      const j = this.index(options.after);
      if (j >= 0) {
        this.cards.splice(j + 1, 0, card);
        return this;
      }
    }
    this.cards.push(card);
    return this;
  }

  /** Remove every value card with this keyword. Returns how many were removed. */
  delete(key: string): number {
    const k = key.toUpperCase();
    let n = 0;
    for (let i = this.cards.length - 1; i >= 0; i--) {
      if (this.cards[i].key === k && this.cards[i].value !== undefined) {
        this.cards.splice(i, 1);
        n++;
      }
    }
    return n;
  }

  addHistory(text: string): this {
    for (const line of splitText(text)) this.cards.push({ key: 'HISTORY', comment: line });
    return this;
  }

  addComment(text: string): this {
    for (const line of splitText(text)) this.cards.push({ key: 'COMMENT', comment: line });
    return this;
  }

  clone(): Header {
    return new Header(
      this.cards.map((c) => ({ ...c })),
      this.source,
    );
  }

  /** Plain object of keyword to value (first occurrence wins), for JSON output. */
  toJSON(): Record<string, string | number | boolean | null> {
    const out: Record<string, string | number | boolean | null> = {};
    for (const c of this.cards) {
      if (c.value === undefined || c.key in out) continue;
      out[c.key] = typeof c.value === 'bigint' ? c.value.toString() : c.value;
    }
    return out;
  }

  // ---- serialisation ------------------------------------------------------------------

  /** The header as text: 80-character cards including END, padded with blanks to whole blocks. */
  toString(): string {
    const cards: string[] = [];
    for (const c of this.cards) {
      if (c.key === 'END') continue;
      cards.push(c.raw ?? formatCard(c));
    }
    let text = cards.join('') + 'END'.padEnd(CARD_LENGTH);
    const nCards = text.length / CARD_LENGTH;
    const padded = Math.ceil(nCards / CARDS_PER_BLOCK) * CARDS_PER_BLOCK;
    text = text.padEnd(padded * CARD_LENGTH, ' ');
    return text;
  }

  toBytes(): Uint8Array {
    return Buffer.from(this.toString(), 'latin1');
  }

  /**
   * Parse a header starting at `offset` in `bytes`. Returns the header and the offset of the
   * first byte after its last block. Throws BadInputError when no END card is found.
   */
  static parse(
    bytes: Uint8Array,
    offset = 0,
    source: HeaderSource = {},
    warn: WarningSink = () => {},
  ): { header: Header; end: number } {
    const cards: Card[] = [];
    let pos = offset;
    let cardIndex = 0;
    let foundEnd = false;
    while (pos + CARD_LENGTH <= bytes.length) {
      const image = latin1(bytes, pos, CARD_LENGTH);
      pos += CARD_LENGTH;
      const key = image.slice(0, 8).trimEnd();
      if (key === 'END' && image.slice(8).trim() === '') {
        foundEnd = true;
        break;
      }
      checkPrintable(image, source, cardIndex);
      const card = parseCard(image, source, cardIndex, warn);
      // Long strings: a string ending with & continues on the following CONTINUE cards.
      if (typeof card.value === 'string') {
        while (card.value.endsWith('&') && pos + CARD_LENGTH <= bytes.length) {
          const next = latin1(bytes, pos, CARD_LENGTH);
          if (next.slice(0, 8) !== 'CONTINUE') break;
          const cont = parseContinue(next);
          if (cont === undefined) break;
          card.value = card.value.slice(0, -1) + cont.text;
          if (cont.comment !== undefined) card.comment = (card.comment ?? '') + cont.comment;
          card.raw += next;
          pos += CARD_LENGTH;
          cardIndex++;
        }
      }
      cards.push(card);
      cardIndex++;
    }
    if (!foundEnd) {
      throw new BadInputError(
        `${where(source)}: header has no END card (file truncated or not FITS); check the file is complete`,
      );
    }
    // Skip the blank fill of the last header block.
    const used = pos - offset;
    const end = offset + Math.ceil(used / BLOCK_LENGTH) * BLOCK_LENGTH;
    if (end > bytes.length) {
      throw new BadInputError(`${where(source)}: header block is truncated; check the file is complete`);
    }
    return { header: new Header(cards, source), end };
  }

  /**
   * Parse bare header text: 80-character cards with or without line breaks (the `.hdr` files
   * of astropy's test data, or a header saved one card per line).
   */
  static fromText(text: string, source: HeaderSource = {}, warn: WarningSink = () => {}): Header {
    let cardsText: string;
    if (/\r?\n/.test(text) && !text.startsWith('SIMPLE  =') && text.split(/\r?\n/)[0].length <= CARD_LENGTH) {
      cardsText = text
        .split(/\r?\n/)
        .filter((l) => l.length > 0)
        .map((l) => l.padEnd(CARD_LENGTH).slice(0, CARD_LENGTH))
        .join('');
    } else {
      cardsText = text.replace(/\r?\n/g, '');
    }
    if (!/^END {77}/m.test(cardsText.match(/.{1,80}/g)?.find((c) => c.startsWith('END')) ?? '')) {
      cardsText =
        cardsText.padEnd(Math.ceil(cardsText.length / CARD_LENGTH) * CARD_LENGTH) + 'END'.padEnd(80);
    }
    const bytes = Buffer.from(
      cardsText.padEnd(Math.ceil(cardsText.length / BLOCK_LENGTH) * BLOCK_LENGTH),
      'latin1',
    );
    return Header.parse(bytes, 0, source, warn).header;
  }
}

function latin1(bytes: Uint8Array, start: number, length: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, length).toString('latin1');
}

function checkPrintable(image: string, source: HeaderSource, cardIndex: number): void {
  for (let i = 0; i < image.length; i++) {
    const c = image.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) {
      throw new BadInputError(
        `${where(source, cardIndex)}: header card contains a non-ASCII or control byte (0x${c.toString(16).padStart(2, '0')}) at column ${i + 1}; the file is corrupted or not FITS`,
      );
    }
  }
}

function splitText(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < Math.max(text.length, 1); i += 72) out.push(text.slice(i, i + 72));
  return out;
}

const MANDATORY_FIXED = new Set([
  'SIMPLE',
  'BITPIX',
  'NAXIS',
  'EXTEND',
  'XTENSION',
  'PCOUNT',
  'GCOUNT',
  'TFIELDS',
]);

/** Parse one 80-character card image (not CONTINUE handling). */
export function parseCard(
  image: string,
  source: HeaderSource = {},
  cardIndex = 0,
  warn: WarningSink = () => {},
): Card {
  const keyField = image.slice(0, 8);
  let rest: string;
  let key: string;
  if (keyField === 'HIERARCH') {
    // ESO convention: HIERARCH word word ... = value / comment
    const eq = image.indexOf('=', 8);
    if (eq < 0) return { key: 'HIERARCH', comment: image.slice(8).trimEnd(), raw: image };
    key = image.slice(8, eq).trim().split(/\s+/).join(' ').toUpperCase();
    rest = image.slice(eq + 1);
    const { value, comment } = parseValue(rest, key, source, cardIndex);
    return { key, value, comment, raw: image };
  }
  key = keyField.trimEnd();
  if (key !== key.toUpperCase()) {
    warn(`${where(source, cardIndex)}: keyword '${key}' is not upper case; read as '${key.toUpperCase()}'`);
    key = key.toUpperCase();
  }
  if (/[^A-Z0-9_-]/.test(key)) {
    // Lenient: e.g. a keyword with a space inside; keep it as commentary-like text.
    warn(`${where(source, cardIndex)}: keyword '${key}' has characters FITS does not allow`);
  }
  const indicator = image.slice(8, 10);
  if (COMMENTARY.has(key) || key === 'CONTINUE') {
    return { key, comment: image.slice(8).trimEnd(), raw: image };
  }
  if (indicator !== '= ') {
    if (indicator[0] === '=') {
      warn(`${where(source, cardIndex)}: keyword ${key} has no blank after '='; read anyway`);
    } else {
      // No value indicator: a commentary card with a non-standard keyword.
      return { key, comment: image.slice(8).trimEnd(), raw: image };
    }
  }
  rest = image.slice(9);
  const { value, comment, fixed } = parseValue(rest, key, source, cardIndex);
  if (MANDATORY_FIXED.has(key) && !fixed) {
    warn(
      `${where(source, cardIndex)}: mandatory keyword ${key} is not in fixed format (value not right-justified to column 30); read anyway`,
    );
  }
  return { key, value, comment, raw: image };
}

/** Parse the value field (after `=`) of a card. `fixed` tells whether a non-string value ends at column 30. */
function parseValue(
  field: string,
  key: string,
  source: HeaderSource,
  cardIndex: number,
): { value: CardValue; comment?: string; fixed: boolean } {
  let i = 0;
  while (i < field.length && field[i] === ' ') i++;
  if (i >= field.length) return { value: null, fixed: true };
  if (field[i] === "'") {
    // Quoted string: '' inside is one quote; trailing blanks are not significant.
    let s = '';
    let j = i + 1;
    let closed = false;
    while (j < field.length) {
      if (field[j] === "'") {
        if (field[j + 1] === "'") {
          s += "'";
          j += 2;
          continue;
        }
        closed = true;
        j++;
        break;
      }
      s += field[j++];
    }
    if (!closed) {
      throw new BadInputError(
        `${where(source, cardIndex)}: string value of ${key} has no closing quote; the header card is malformed`,
      );
    }
    const after = field.slice(j);
    const slash = after.indexOf('/');
    if (slash < 0 && after.trim() !== '') {
      throw new BadInputError(
        `${where(source, cardIndex)}: unexpected text after the string value of ${key}: '${after.trim()}'`,
      );
    }
    const comment = slash >= 0 ? after.slice(slash + 1).trim() : undefined;
    return { value: s.trimEnd(), comment, fixed: true };
  }
  if (field[i] === '/') {
    return { value: null, comment: field.slice(i + 1).trim(), fixed: true };
  }
  // Non-string: the token runs to a '/' or the end.
  const slash = field.indexOf('/', i);
  const token = (slash >= 0 ? field.slice(i, slash) : field.slice(i)).trim();
  const comment = slash >= 0 ? field.slice(slash + 1).trim() : undefined;
  // Fixed format: the value's last character is in column 30, i.e. index 20 of the field after "= ".
  const tokenEnd = field.indexOf(token, i) + token.length; // index in field (field starts at column 10)
  const fixed = tokenEnd === 21;
  const value = parseToken(token);
  if (value === undefined) {
    throw new BadInputError(`${where(source, cardIndex)}: cannot read the value of ${key}: '${token}'`);
  }
  return { value, comment, fixed };
}

function parseToken(token: string): CardValue | undefined {
  if (token === 'T') return true;
  if (token === 'F') return false;
  if (/^[+-]?\d+$/.test(token)) {
    const n = Number(token);
    if (Number.isSafeInteger(n)) return n;
    return BigInt(token);
  }
  if (/^[+-]?(\d+\.?\d*|\.\d+)([EeDd][+-]?\d+)?$/.test(token)) {
    return Number(token.replace(/[Dd]/, 'E'));
  }
  // Complex values (re, im) are kept as their text.
  if (/^\(\s*[^,]+,\s*[^)]+\)$/.test(token)) return token;
  return undefined;
}

function parseContinue(image: string): { text: string; comment?: string } | undefined {
  const field = image.slice(8);
  const m = /^\s*'/.exec(field);
  if (!m) return undefined;
  const { value, comment } = parseValue(field, 'CONTINUE', {}, 0);
  if (typeof value !== 'string') return undefined;
  return { text: value, comment };
}

// ---- formatting ---------------------------------------------------------------------------

/** Format a number as a FITS value: integers as integers, reals always with '.' or 'E'. */
export function formatNumber(v: number | bigint): string {
  if (typeof v === 'bigint') return v.toString();
  if (!Number.isFinite(v)) throw new RangeError(`FITS header values must be finite, got ${v}`);
  if (Number.isInteger(v) && Math.abs(v) < 1e16) {
    // A real that happens to be whole keeps its '.0' only when we know it is real; integers
    // stay integers. Callers who need a real use formatReal.
    return v.toFixed(0);
  }
  return formatReal(v);
}

/**
 * Always a real: the shortest digits that read back to the same double, upper-case E, a
 * decimal point. Up to 20 characters it fits the fixed-format field; longer values (17
 * significant digits) use the free format, which FITS allows for non-mandatory keywords, so
 * that a WCS written and read back is exactly the same.
 */
export function formatReal(v: number): string {
  const exponential = (x: number) => {
    let [mant, exp] = x.toExponential().toUpperCase().split('E');
    if (!mant.includes('.')) mant += '.0';
    const sign = exp.startsWith('-') ? '-' : '+';
    exp = exp.replace(/^[+-]/, '').padStart(2, '0');
    return `${mant}E${sign}${exp}`;
  };
  let s = String(v).toUpperCase();
  if (s.includes('E')) return exponential(v);
  if (!s.includes('.')) s += '.0';
  if (s.length > 20) {
    const e = exponential(v);
    if (e.length < s.length) s = e;
  }
  return s;
}

function quote(s: string): string {
  return `'${s.replace(/'/g, "''").padEnd(8)}'`;
}

/** Format a card (without a raw image) as one or more 80-character images. */
export function formatCard(card: Card): string {
  const key = card.key;
  if (card.value === undefined) {
    const text = (card.comment ?? '').slice(0, 72);
    return (key.padEnd(8) + text).padEnd(CARD_LENGTH);
  }
  const isHierarch = key.length > 8 || key.includes(' ');
  const prefix = isHierarch ? `HIERARCH ${key} = ` : `${key.padEnd(8)}= `;
  const v = card.value;
  if (typeof v === 'string') {
    return formatStringCard(prefix, v, card.comment);
  }
  let text: string;
  if (v === null) text = ''.padStart(20);
  else if (typeof v === 'boolean') text = (v ? 'T' : 'F').padStart(20);
  else text = formatNumber(v).padStart(20);
  let line = prefix + text;
  if (card.comment) line += ` / ${card.comment}`;
  if (line.length > CARD_LENGTH) line = line.slice(0, CARD_LENGTH);
  return line.padEnd(CARD_LENGTH);
}

function formatStringCard(prefix: string, value: string, comment?: string): string {
  const whole = prefix + quote(value);
  if (whole.length <= CARD_LENGTH) {
    // Pad the value field to column 30 like cfitsio and astropy, so a comment starts at
    // column 32 and a card they re-render (e.g. CHECKSUM) comes out byte-identical.
    let line = comment ? prefix + quote(value).padEnd(20) : whole;
    if (comment) line += ` / ${comment}`;
    return line.slice(0, CARD_LENGTH).padEnd(CARD_LENGTH);
  }
  // Long string convention: pieces ending with '&', continued on CONTINUE cards.
  const out: string[] = [];
  let rest = value;
  let first = true;
  while (rest.length > 0) {
    const head = first ? prefix : 'CONTINUE  ';
    const room = CARD_LENGTH - head.length - 2; // two quotes
    // Room for at least one doubled quote and the '&', else no progress would be made.
    if (room < 3) throw new RangeError(`keyword too long for a string value: ${prefix.trim()}`);
    // Take as many characters as fit once quotes are doubled, leaving room for '&'.
    let take = 0;
    let used = 0;
    while (take < rest.length) {
      const w = rest[take] === "'" ? 2 : 1;
      if (used + w > room - 1) break;
      used += w;
      take++;
    }
    const piece = rest.slice(0, take);
    rest = rest.slice(take);
    const text = rest.length > 0 ? `${piece.replace(/'/g, "''")}&` : piece.replace(/'/g, "''");
    out.push(`${head}'${text}'`.padEnd(CARD_LENGTH));
    first = false;
  }
  if (comment) {
    const last = out.length - 1;
    const line = `${out[last].trimEnd()} / ${comment}`;
    if (line.length <= CARD_LENGTH) {
      out[last] = line.padEnd(CARD_LENGTH);
    } else {
      // No room after the last piece: continue it with an empty string that carries the comment.
      // Pieces leave one column for this '&'.
      const piece = out[last].trimEnd();
      out[last] = `${piece.slice(0, -1)}&'`.padEnd(CARD_LENGTH);
      out.push(`CONTINUE  '' / ${comment}`.slice(0, CARD_LENGTH).padEnd(CARD_LENGTH));
    }
  }
  return out.join('');
}
