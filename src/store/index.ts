/** Object stores: open one by its root URI (a folder path or s3://bucket/prefix). */
import { FolderStore } from './folder.ts';
import { S3Store } from './s3.ts';
import type { ObjectStore } from './store.ts';

export { FolderStore } from './folder.ts';
export { parseS3Uri, S3Store } from './s3.ts';
export * from './store.ts';

export interface OpenStoreOptions {
  /** Endpoint of an S3-compatible server (s3rver, MinIO, …). */
  endpoint?: string;
  region?: string;
}

export function openStore(root: string, options: OpenStoreOptions = {}): ObjectStore {
  if (root.startsWith('s3://')) return new S3Store(root, options);
  return new FolderStore(root);
}

/** Join a prefix URI and a relative key with exactly one slash. */
export function joinUri(prefix: string, key: string): string {
  return `${prefix.replace(/\/+$/, '')}/${key.replace(/^\/+/, '')}`;
}
