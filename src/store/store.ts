/**
 * Object stores: where images, manifests, products and result records live. Two backends with
 * one interface: a folder (the default) and S3 (or any S3-compatible store).
 *
 * - Objects are named by URI: an absolute path for a folder store, s3://bucket/key for S3.
 * - Writes are atomic: a reader sees the old object or the whole new one, never a part.
 * - Every write returns the object's checksum (sha256); the S3 backend also records it in the
 *   object's metadata. Reads verify the checksum the caller holds (from a manifest or a result
 *   record) or, failing that, the one the store recorded: a mismatch is bad input (exit 65).
 * - A missing object is a missing input (exit 66); a store that cannot be reached is a
 *   temporary failure (exit 75).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { BadInputError } from '../util/errors.ts';

export interface StoredObject {
  uri: string;
  checksum: string;
  bytes: number;
}

export interface ListedObject {
  uri: string;
  bytes: number;
}

export type PutData = Uint8Array | string | { path: string };

export interface ObjectStore {
  /** 'folder' or 's3'. */
  readonly kind: 'folder' | 's3';
  /** The store's root URI (no trailing slash). */
  readonly root: string;
  /** The URI of a key relative to the root ('a/b.json' → <root>/a/b.json). */
  uri(key: string): string;
  /** Does this store hold URIs like this one? */
  owns(uri: string): boolean;
  /** Write atomically; resolves to the object's URI, checksum and size. */
  put(uri: string, data: PutData, options?: { contentType?: string }): Promise<StoredObject>;
  /** Read an object, verifying `checksum` when given (else the store's recorded one, if any). */
  get(uri: string, checksum?: string): Promise<Uint8Array>;
  /** Read a text object (UTF-8). */
  getText(uri: string, checksum?: string): Promise<string>;
  /**
   * A local path to the object's content, verified: the file itself for a folder store, a
   * download into `tmpDir` for S3.
   */
  localPath(uri: string, tmpDir: string, checksum?: string): Promise<string>;
  exists(uri: string): Promise<boolean>;
  /** Objects whose URI starts with `prefix`, in no particular order. */
  list(prefix: string): AsyncIterable<ListedObject>;
  delete(uri: string): Promise<void>;
  close(): Promise<void>;
}

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export async function sha256File(path: string): Promise<{ checksum: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { checksum: `sha256:${hash.digest('hex')}`, bytes };
}

export function checkChecksum(uri: string, expected: string | undefined, actual: string): void {
  if (expected !== undefined && expected !== actual) {
    throw new BadInputError(
      `${uri}: checksum mismatch (expected ${expected}, found ${actual}); the object is corrupt or was replaced`,
    );
  }
}

/** Bytes of a put's data, for backends that need them in memory. */
export function toBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}
