/**
 * Gzip-compressed FITS files (.fits.gz), decompressed under limits (issue 17): a few megabytes
 * of gzip can hold gigabytes of zeros, so the output is checked as it streams out, against what
 * the file's own headers promise and against a global cap.
 *
 * - The start must be FITS: output that does not begin with SIMPLE is refused at once.
 * - Each header is parsed as soon as its END card arrives; its mandatory keywords (BITPIX,
 *   NAXISn, PCOUNT, GCOUNT) give the size of its data unit. A header that takes the file past
 *   the cap is refused before its data are inflated.
 * - After the last HDU, at most TRAILING_SLACK bytes of fill or junk are tolerated (as they are
 *   in uncompressed files); more output is refused: the data go on past what the headers promise.
 * - Nothing is ever inflated beyond the cap: RAPID_MAX_DECOMPRESSED_BYTES bytes (default 1 GiB,
 *   DEFAULT_MAX_DECOMPRESSED_BYTES), which is more than 16 times a 4088 x 4088 float32 image.
 *
 * Every refusal is a BadInputError (exit 65) of one line. The streaming form keeps only the
 * headers when asked to (`headersOnly`), so listing the HDUs of a large file costs the time to
 * inflate it but not its size in memory.
 */
import { constants as bufferConstants } from 'node:buffer';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, gunzipSync, constants as zlibConstants } from 'node:zlib';
import { BadInputError, RapidError, UsageError } from '../util/errors.ts';
import { hduLayout, hduWhere } from './hdu.ts';
import { BLOCK_LENGTH, CARD_LENGTH, Header } from './header.ts';
import { type ByteSource, MemorySource } from './source.ts';

/** The cap when RAPID_MAX_DECOMPRESSED_BYTES is not set: 1 GiB. */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 2 ** 30;
/** The environment variable that changes the cap (bytes; K, M, G, T suffixes are powers of 1024). */
export const MAX_DECOMPRESSED_ENV = 'RAPID_MAX_DECOMPRESSED_BYTES';
/** Bytes tolerated after the last HDU a file's headers describe. */
export const TRAILING_SLACK = 1 << 20;
/** Longest header accepted without an END card: 10,000 blocks (360,000 cards). */
export const MAX_HEADER_BYTES = 10_000 * BLOCK_LENGTH;

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/**
 * The cap on decompressed bytes: RAPID_MAX_DECOMPRESSED_BYTES (e.g. 4294967296, 4G, 512M) or
 * DEFAULT_MAX_DECOMPRESSED_BYTES. A value that is not a size is a usage error (64).
 */
export function maxDecompressedBytes(env: NodeJS.ProcessEnv = process.env): number {
  const text = env[MAX_DECOMPRESSED_ENV]?.trim();
  if (text === undefined || text === '') return DEFAULT_MAX_DECOMPRESSED_BYTES;
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(text);
  const bytes = m ? Math.floor(Number(m[1]) * UNITS[m[2].toUpperCase()]) : Number.NaN;
  if (!(bytes > 0) || !Number.isSafeInteger(bytes)) {
    throw new UsageError(
      `${MAX_DECOMPRESSED_ENV} = '${text}' is not a size in bytes (e.g. 2147483648, 2G or 512M)`,
    );
  }
  return bytes;
}

function latin1(bytes: Uint8Array, start: number, length: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, Math.min(length, bytes.length - start)).toString(
    'latin1',
  );
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  return parts.length === 1 ? parts[0] : Buffer.concat(parts, length);
}

/** A stretch of decompressed bytes that was kept (headers, and the start of what follows the last HDU). */
export interface Segment {
  offset: number;
  bytes: Uint8Array;
}

/**
 * Follows the structure of a FITS file as its bytes arrive and throws a BadInputError as soon
 * as they are not FITS, go on past what the headers promise, or past the cap. With
 * `keepHeaders`, the header bytes (and the first block after the last HDU) are kept in
 * `segments`, so that the file's structure can be parsed without its data.
 */
export class FitsGuard {
  readonly file: string;
  readonly limit: number;
  /** Bytes seen so far. */
  offset = 0;
  /** Where the current HDU's data unit (with its fill) ends, while in it. */
  private dataEnd = 0;
  readonly segments: Segment[] = [];
  private state: 'header' | 'data' | 'trailing' = 'header';
  private index = 0;
  private head: Uint8Array[] = [];
  private headLength = 0;
  private identified = false;
  private trailingStart = 0;
  private readonly keepHeaders: boolean;

  constructor(file: string, limit: number, options: { keepHeaders?: boolean } = {}) {
    this.file = file;
    this.limit = limit;
    this.keepHeaders = options.keepHeaders === true;
  }

  /** How long the output will be at least: the end of the data unit being inflated, or what has arrived. */
  get expectedLength(): number {
    return this.state === 'data' ? this.dataEnd : this.offset;
  }

  /** The next decompressed bytes. */
  push(chunk: Uint8Array): void {
    let p = 0;
    while (p < chunk.length) {
      if (this.state === 'data') {
        const n = Math.min(chunk.length - p, this.dataEnd - this.offset);
        p += n;
        this.offset += n;
        if (this.offset === this.dataEnd) this.nextHdu();
      } else if (this.state === 'trailing') {
        const n = chunk.length - p;
        const kept = this.segments.at(-1);
        if (
          this.keepHeaders &&
          kept &&
          kept.offset === this.trailingStart &&
          kept.bytes.length < BLOCK_LENGTH
        ) {
          const more = chunk.subarray(p, p + BLOCK_LENGTH - kept.bytes.length);
          kept.bytes = Buffer.concat([kept.bytes, more]);
        }
        p += n;
        this.offset += n;
        if (this.offset - this.trailingStart > TRAILING_SLACK) {
          throw new BadInputError(
            `${this.file}: the gzip data go on past the ${this.trailingStart} bytes its FITS headers describe ` +
              `(more than ${TRAILING_SLACK} bytes further); the file is damaged or not what it claims`,
          );
        }
      } else {
        // A header, block by block.
        const n = Math.min(chunk.length - p, BLOCK_LENGTH - (this.headLength % BLOCK_LENGTH));
        this.head.push(Uint8Array.prototype.slice.call(chunk, p, p + n));
        this.headLength += n;
        this.offset += n;
        p += n;
        if (!this.identified && this.headLength >= 8) this.identify();
        if (this.state === 'header' && this.headLength % BLOCK_LENGTH === 0) this.headerBlock();
      }
      if (this.offset > this.limit) throw this.overLimit();
    }
  }

  /** The output has ended (short files are left to the parser, which says what is missing). */
  end(): void {
    if (this.state === 'header' && this.headLength > 0) {
      if (!this.identified) this.identify();
      if (this.state === 'header' && this.keepHeaders)
        this.segments.push({
          offset: this.offset - this.headLength,
          bytes: concat(this.head, this.headLength),
        });
    }
  }

  private overLimit(): BadInputError {
    return new BadInputError(
      `${this.file}: gzip data decompress to more than ${this.limit} bytes, the limit (${MAX_DECOMPRESSED_ENV}); ` +
        'gunzip the file first or raise the limit',
    );
  }

  /** The first bytes of a header: SIMPLE for the primary HDU, else XTENSION or what follows the last HDU. */
  private identify(): void {
    this.identified = true;
    const start = latin1(concat(this.head, this.headLength), 0, 8);
    if (this.index === 0) {
      if (!start.startsWith('SIMPLE')) {
        throw new BadInputError(
          `${this.file}: not a FITS file (its gzip-compressed content does not begin with SIMPLE)`,
        );
      }
      return;
    }
    if (start === 'XTENSION') return;
    // Not an extension: fill or junk after the last HDU (the parser warns or refuses).
    this.state = 'trailing';
    this.trailingStart = this.offset - this.headLength;
    if (this.keepHeaders)
      this.segments.push({ offset: this.trailingStart, bytes: concat(this.head, this.headLength) });
    this.head = [];
    this.headLength = 0;
  }

  /** A header block has arrived: is END in it? (The same test as Header.parse.) */
  private headerBlock(): void {
    const block = this.head[this.head.length - 1];
    const blockStart = this.headLength - BLOCK_LENGTH;
    for (let c = 0; c < BLOCK_LENGTH; c += CARD_LENGTH) {
      const image = latin1(block, c, CARD_LENGTH);
      if (image.slice(0, 8).trimEnd() === 'END' && image.slice(8).trim() === '') {
        this.headerDone();
        return;
      }
      // A card that is not text: let the parser say which and where.
      if (!/^[\x20-\x7e]*$/.test(image)) {
        const where = { file: this.file, hdu: this.index };
        Header.parse(concat(this.head, this.headLength), 0, where);
        throw new BadInputError(
          `${hduWhere(this.file, this.index)}: header card ${(blockStart + c) / CARD_LENGTH + 1} is not text; the file is corrupted or not FITS`,
        );
      }
    }
    if (this.headLength >= MAX_HEADER_BYTES) {
      throw new BadInputError(
        `${hduWhere(this.file, this.index)}: no END card in the first ${MAX_HEADER_BYTES} bytes of the header; the file is damaged or not FITS`,
      );
    }
  }

  /** A whole header: what its data unit will take. */
  private headerDone(): void {
    const bytes = concat(this.head, this.headLength);
    const ctx = { file: this.file, warn: () => {} };
    const { header } = Header.parse(bytes, 0, { file: this.file, hdu: this.index });
    const layout = hduLayout(header, this.index, ctx);
    const padded = Math.ceil(layout.dataLength / BLOCK_LENGTH) * BLOCK_LENGTH;
    if (this.offset + padded > this.limit) {
      throw new BadInputError(
        `${hduWhere(this.file, this.index)}: the header (BITPIX = ${layout.bitpix}, NAXISn = ${layout.shape.join(' x ') || '-'}) ` +
          `promises ${layout.dataLength} bytes of data, which would take the file past ${this.limit} bytes decompressed, ` +
          `the limit (${MAX_DECOMPRESSED_ENV}); gunzip the file first or raise the limit`,
      );
    }
    if (this.keepHeaders) this.segments.push({ offset: this.offset - this.headLength, bytes });
    this.head = [];
    this.headLength = 0;
    this.dataEnd = this.offset + padded;
    if (this.dataEnd === this.offset) this.nextHdu();
    else this.state = 'data';
  }

  private nextHdu(): void {
    this.index++;
    this.state = 'header';
    this.identified = false;
  }
}

/**
 * The headers of a gzip-compressed file whose data units were not kept: enough to parse its
 * structure (iterateHdus), not to decode data. Asking for data is a bug in the caller (which
 * read the file with `headersOnly`), not a problem of the file.
 */
export class HeadersOnlySource implements ByteSource {
  readonly length: number;
  private readonly segments: Segment[];
  private readonly file: string;
  constructor(segments: Segment[], length: number, file: string) {
    this.segments = segments;
    this.length = length;
    this.file = file;
  }
  bytes(offset: number, length: number): Uint8Array {
    if (length <= 0 || offset >= this.length) return new Uint8Array(0);
    const s = this.segments.find((x) => x.offset <= offset && offset < x.offset + x.bytes.length);
    if (!s) {
      throw new Error(
        `${this.file}: bytes ${offset}.. were not kept: the file was read with headersOnly, so its data cannot be decoded`,
      );
    }
    return s.bytes.subarray(offset - s.offset, Math.min(s.bytes.length, offset - s.offset + length));
  }
  readInto(dest: Uint8Array, offset: number, each?: (piece: Uint8Array) => void): void {
    const bytes = this.bytes(offset, dest.length);
    if (bytes.length < dest.length) this.bytes(offset + bytes.length, 1); // throws
    dest.set(bytes);
    each?.(dest);
  }
}

/**
 * Decompressed bytes in one buffer, grown to what the headers promise: a file of one image is
 * allocated once, at its size (not collected in pieces and copied, which took twice the memory).
 */
class Output {
  private buffer: Buffer = Buffer.allocUnsafe(0);
  private readonly cap: number;
  length = 0;
  /** `cap`: never allocate more (unless more is needed). */
  constructor(cap: number) {
    this.cap = cap;
  }
  /** Append `chunk`; `expected` is how long the output will be at least. */
  add(chunk: Uint8Array, expected: number): void {
    const need = this.length + chunk.length;
    if (need > this.buffer.length) {
      const size = Math.min(this.cap, Math.max(expected, Math.floor(1.5 * this.buffer.length)));
      const grown = Buffer.allocUnsafe(Math.max(need, size));
      grown.set(this.buffer.subarray(0, this.length));
      this.buffer = grown;
    }
    this.buffer.set(chunk, this.length);
    this.length = need;
  }
  get bytes(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
}

function corrupt(file: string, err: unknown): BadInputError {
  return new BadInputError(
    `${file}: gzip data is corrupt or truncated (${(err as Error).message}); check the file is complete`,
    { cause: err },
  );
}

function isZlibError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}

export interface InflateOptions {
  /** The file's name, for messages. */
  file?: string;
  /** Keep only the headers (see HeadersOnlySource). */
  headersOnly?: boolean;
  /** The cap (default: maxDecompressedBytes()). */
  limit?: number;
}

/** Pieces of a buffer, so that a large one is inflated as a stream. */
function* pieces(bytes: Uint8Array, size = 1 << 20): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

/**
 * Inflate a gzip-compressed FITS file (a stream of its compressed bytes, or the bytes) under
 * the guard described above. Resolves to the decompressed bytes (or, with `headersOnly`, to
 * their headers).
 */
export async function inflateFits(
  input: Uint8Array | AsyncIterable<Uint8Array>,
  options: InflateOptions = {},
): Promise<ByteSource> {
  const file = options.file ?? 'input';
  const limit = options.limit ?? maxDecompressedBytes();
  const headersOnly = options.headersOnly === true;
  const guard = new FitsGuard(file, limit, { keepHeaders: headersOnly });
  const out = new Output(limit + BLOCK_LENGTH);
  const source = input instanceof Uint8Array ? Readable.from(pieces(input)) : input;
  // What the guard threw (the pipeline itself rejects with the AbortError of its streams).
  let refused: unknown;
  try {
    await pipeline(source, createGunzip({ chunkSize: 1 << 20 }), async (stream: AsyncIterable<Buffer>) => {
      try {
        for await (const chunk of stream) {
          guard.push(chunk);
          if (!headersOnly) out.add(chunk, guard.expectedLength);
        }
      } catch (err) {
        refused ??= err;
        throw err;
      }
    });
  } catch (err) {
    // The guard's refusal, else the gzip error, else the input's (not the AbortErrors that follow).
    const causes = [refused, err];
    const rapidError = causes.find((e) => e instanceof RapidError);
    if (rapidError) throw rapidError;
    const zlibError = causes.find(isZlibError);
    if (zlibError) throw corrupt(file, zlibError);
    throw causes.find((e) => e !== undefined && (e as Error).name !== 'AbortError') ?? err;
  }
  guard.end();
  return headersOnly
    ? new HeadersOnlySource(guard.segments, guard.offset, file)
    : new MemorySource(out.bytes);
}

/** The decompressed bytes of a gzip-compressed FITS file held in memory (see inflateFits). */
export async function gunzipFits(bytes: Uint8Array, options: Omit<InflateOptions, 'headersOnly'> = {}) {
  return ((await inflateFits(bytes, options)) as MemorySource).data;
}

/**
 * The same, synchronously (for parseFits). Node's zlib cannot inflate a stream synchronously,
 * so this looks at the start first (refusing what is not FITS, or a first header over the cap,
 * at once) and then inflates the whole with the cap as maxOutputLength: memory stays within
 * the cap, and what the headers promise is checked once the output is there.
 */
export function gunzipFitsSync(
  bytes: Uint8Array,
  options: Omit<InflateOptions, 'headersOnly'> = {},
): Uint8Array {
  const file = options.file ?? 'input';
  const limit = options.limit ?? maxDecompressedBytes();
  new FitsGuard(file, limit).push(gunzipStart(bytes, 4 * BLOCK_LENGTH, file));
  // One buffer can hold no more than MAX_LENGTH bytes, whatever the cap.
  const max = Math.min(limit, bufferConstants.MAX_LENGTH - 1);
  let out: Uint8Array;
  try {
    out = gunzipSync(bytes, { maxOutputLength: max + 1 });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new BadInputError(
        `${file}: gzip data decompress to more than ${max} bytes, the limit (${MAX_DECOMPRESSED_ENV}); gunzip the file first or raise the limit`,
      );
    }
    throw corrupt(file, err);
  }
  const guard = new FitsGuard(file, limit);
  guard.push(out);
  guard.end();
  return out;
}

/**
 * About the first `want` decompressed bytes (fewer when the file is shorter; possibly more),
 * inflating growing prefixes of the input: each step inflates at most about 1,000 times its
 * input, and a step is only taken while the output is still short.
 */
function gunzipStart(bytes: Uint8Array, want: number, file: string): Uint8Array {
  for (let n = 1024; ; n *= 4) {
    const whole = n >= bytes.length;
    try {
      const out = gunzipSync(bytes.subarray(0, n), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
      if (out.length >= want || whole) return out;
    } catch (err) {
      if (whole) throw corrupt(file, err);
    }
  }
}
