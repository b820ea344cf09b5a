/**
 * Where the bytes of a FITS file come from: memory (parseFits, gzip-compressed files) or a file
 * on disk (readFits). A file is not read whole: headers are read block by block and a data unit
 * only when it is decoded, straight into the result's own buffer, so a 67 MB image costs one
 * read and 67 MB of memory, not two copies.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { BadInputError, MissingInputError } from '../util/errors.ts';
import { CHUNK } from './bytes.ts';

export interface ByteSource {
  /** Total bytes. */
  readonly length: number;
  /** Bytes [offset, offset + length): a view of memory, or a fresh read from the file. */
  bytes(offset: number, length: number): Uint8Array;
  /**
   * Fill `dest` with the bytes starting at `offset`, in pieces; `each` is called with every
   * piece once it is filled (to convert it while it is in the cache).
   */
  readInto(dest: Uint8Array, offset: number, each?: (piece: Uint8Array) => void): void;
}

export class MemorySource implements ByteSource {
  readonly data: Uint8Array;
  constructor(data: Uint8Array) {
    this.data = data;
  }
  get length(): number {
    return this.data.length;
  }
  bytes(offset: number, length: number): Uint8Array {
    return this.data.subarray(offset, offset + length);
  }
  readInto(dest: Uint8Array, offset: number, each?: (piece: Uint8Array) => void): void {
    for (let start = 0; start < dest.length; start += CHUNK) {
      const piece = dest.subarray(start, Math.min(dest.length, start + CHUNK));
      piece.set(this.data.subarray(offset + start, offset + start + piece.length));
      each?.(piece);
    }
  }
}

/**
 * A file read on demand. The file is opened for each read rather than held open, so nothing
 * needs closing; if it shrinks after being opened the read ends in a BadInputError.
 */
export class FileSource implements ByteSource {
  readonly path: string;
  readonly length: number;
  constructor(path: string) {
    this.path = path;
    const fd = openSync(path, 'r');
    try {
      const stat = fstatSync(fd);
      if (stat.isDirectory()) throw new BadInputError(`${path}: is a directory, not a FITS file`);
      this.length = stat.size;
    } finally {
      closeSync(fd);
    }
  }
  bytes(offset: number, length: number): Uint8Array {
    const n = Math.max(0, Math.min(length, this.length - offset));
    const out = new Uint8Array(n);
    this.readInto(out, offset);
    return out;
  }
  readInto(dest: Uint8Array, offset: number, each?: (piece: Uint8Array) => void): void {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT')
        throw new MissingInputError(`${this.path}: the file was removed after it was opened`);
      throw err;
    }
    try {
      for (let start = 0; start < dest.length; start += CHUNK) {
        const piece = dest.subarray(start, Math.min(dest.length, start + CHUNK));
        let done = 0;
        while (done < piece.length) {
          const n = readSync(fd, piece, done, piece.length - done, offset + start + done);
          if (n === 0) {
            throw new BadInputError(
              `${this.path}: file ended at byte ${offset + start + done} while reading; it was truncated or changed after it was opened`,
            );
          }
          done += n;
        }
        each?.(piece);
      }
    } finally {
      closeSync(fd);
    }
  }
}
