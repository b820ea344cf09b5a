/**
 * A FITS file in memory: its HDUs in order, selected by index or EXTNAME. Reading is lenient
 * (non-standard but common forms are read with a warning) and never trusts the input: every
 * problem is a BadInputError naming the file, HDU and card.
 *
 * Gzip-compressed files are recognised by their magic bytes, whatever their name, and inflated
 * under limits (gzip.ts: what the headers promise, and RAPID_MAX_DECOMPRESSED_BYTES).
 * Tile-compressed (.fz) files need nothing special here: their compressed HDUs are decoded by
 * readImage.
 */
import { createReadStream } from 'node:fs';
import { BadInputError, MissingInputError } from '../util/errors.ts';
import { gunzipFitsSync, inflateFits } from './gzip.ts';
import { type Hdu, iterateHdus } from './hdu.ts';
import type { WarningSink } from './header.ts';
import { type ByteSource, FileSource, MemorySource } from './source.ts';

export interface ReadOptions {
  /** Called with each warning about non-standard content (they are also kept in `warnings`). */
  warn?: WarningSink;
  /**
   * Only the headers will be used (listing HDUs, reading keywords): the data units of a
   * gzip-compressed file are inflated and dropped, not kept in memory, and decoding them is then
   * an error (a bug in the caller). No effect on other files, whose data are read on demand.
   */
  headersOnly?: boolean;
}

export class FitsFile {
  readonly hdus: Hdu[];
  readonly warnings: string[];
  /** The file name given when reading, for messages. */
  readonly file?: string;

  constructor(hdus: Hdu[], warnings: string[], file?: string) {
    this.hdus = hdus;
    this.warnings = warnings;
    this.file = file;
  }

  /**
   * An HDU by 0-based index or by EXTNAME (case-insensitive; 'PRIMARY' is HDU 0). A string of
   * digits is an index. BadInputError listing the HDUs when there is no such HDU.
   */
  hdu(selector: number | string): Hdu {
    const list = () =>
      this.hdus
        .map((h) => `${h.index}${h.name !== undefined ? ` ${h.name}` : h.index === 0 ? ' PRIMARY' : ''}`)
        .join(', ');
    const file = this.file ?? 'input';
    if (typeof selector === 'string' && /^\s*\d+\s*$/.test(selector)) selector = Number(selector);
    if (typeof selector === 'number') {
      const h = Number.isInteger(selector) ? this.hdus[selector] : undefined;
      if (!h)
        throw new BadInputError(`${file}: no HDU ${selector}; the file has ${this.hdus.length} (${list()})`);
      return h;
    }
    const name = selector.trim().toUpperCase();
    const h =
      this.hdus.find((x) => x.name?.toUpperCase() === name) ??
      this.hdus.find(
        (x) =>
          String(x.header.get('EXTNAME') ?? '')
            .trim()
            .toUpperCase() === name,
      ) ??
      (name === 'PRIMARY' ? this.hdus[0] : undefined);
    if (!h) throw new BadInputError(`${file}: no HDU named '${selector}' (HDUs: ${list()})`);
    return h;
  }

  /**
   * The first HDU that holds an image (an image with data, or a compressed image): HDU 0 for a
   * plain image, HDU 1 for an fpack'ed file or a file with an empty primary HDU.
   */
  firstImage(): Hdu {
    const h = this.hdus.find(
      (x) =>
        (x.kind === 'image' && x.shape.length > 0 && x.shape.every((n) => n > 0)) ||
        x.kind === 'compressed-image',
    );
    if (!h) throw new BadInputError(`${this.file ?? 'input'}: no HDU holds an image`);
    return h;
  }
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function parseSource(source: ByteSource, options: ReadOptions, file: string | undefined): FitsFile {
  const warnings: string[] = [];
  const warn: WarningSink = (m) => {
    warnings.push(m);
    options.warn?.(m);
  };
  const hdus = [...iterateHdus(source, { file, warn })];
  return new FitsFile(hdus, warnings, file);
}

/**
 * Parse a FITS file held in memory (gzip-compressed or not). The HDUs keep views of `bytes`.
 * A gzip-compressed file is inflated at once, within the cap (gunzipFitsSync); readFitsBytes
 * inflates it as a stream, checking what its headers promise as it goes, and is to be preferred
 * for files from outside.
 */
export function parseFits(bytes: Uint8Array, options: ReadOptions & { file?: string } = {}): FitsFile {
  const data = isGzip(bytes) ? gunzipFitsSync(bytes, { file: options.file }) : bytes;
  return parseSource(new MemorySource(data), options, options.file);
}

/**
 * Parse a FITS file held in memory (gzip-compressed or not), a gzip-compressed one inflated as
 * a stream under the limits of gzip.ts (and, with `headersOnly`, without keeping its data).
 */
export async function readFitsBytes(
  bytes: Uint8Array,
  options: ReadOptions & { file?: string } = {},
): Promise<FitsFile> {
  const source = isGzip(bytes)
    ? await inflateFits(bytes, { file: options.file, headersOnly: options.headersOnly })
    : new MemorySource(bytes);
  return parseSource(source, options, options.file);
}

/**
 * Read a FITS file (.fits, .fits.gz, .fz, ...). Only the headers are read now; each data unit
 * is read when decoded (readImage, readTable), straight into its result. A gzip-compressed file
 * is decompressed into memory as it is read, under the limits of gzip.ts (with `headersOnly`,
 * only its headers are kept). MissingInputError when the file does not exist.
 */
export async function readFits(path: string, options: ReadOptions = {}): Promise<FitsFile> {
  let source: FileSource;
  try {
    source = new FileSource(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new MissingInputError(`${path}: no such file; check the path`, { cause: err });
    }
    if (code === 'EISDIR')
      throw new BadInputError(`${path}: is a directory, not a FITS file`, { cause: err });
    throw err;
  }
  if (isGzip(source.bytes(0, 2))) {
    const stream = createReadStream(path, { highWaterMark: 1 << 20 });
    return parseSource(
      await inflateFits(stream, { file: path, headersOnly: options.headersOnly }),
      options,
      path,
    );
  }
  return parseSource(source, options, path);
}
