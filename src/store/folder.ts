/**
 * The folder store: objects are files under a root folder, named by their absolute paths.
 * Writes go to a temporary file in the same folder, are flushed, then renamed into place
 * (atomic on POSIX file systems).
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BadInputError, MissingInputError } from '../util/errors.ts';
import {
  checkChecksum,
  type ListedObject,
  type ObjectStore,
  type PutData,
  type StoredObject,
  sha256,
  sha256File,
  toBytes,
} from './store.ts';

function tmpName(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

function missing(uri: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR')
    return new MissingInputError(`${uri}: no such object; check the path`);
  if (code === 'EISDIR') return new BadInputError(`${uri}: is a folder, not an object`);
  return err as Error;
}

/**
 * mkdir -p that reports why it failed: Node's recursive mkdir says ENOENT when a parent cannot
 * be made (a read-only file system, no permission); level by level gives the real error.
 */
async function mkdirs(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const parent = dirname(dir);
    if (parent !== dir) await mkdirs(parent);
    await mkdir(dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }
}

export class FolderStore implements ObjectStore {
  readonly kind = 'folder' as const;
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root.replace(/^file:\/\//, '')).replace(/\/+$/, '') || '/';
  }

  uri(key: string): string {
    return join(this.root, key.replace(/^\/+/, ''));
  }

  owns(uri: string): boolean {
    return !/^[a-z][a-z0-9+.-]*:\/\//i.test(uri) || uri.startsWith('file://');
  }

  private path(uri: string): string {
    const p = uri.replace(/^file:\/\//, '');
    if (!isAbsolute(p)) return resolve(p);
    return p;
  }

  async put(uri: string, data: PutData): Promise<StoredObject> {
    const path = this.path(uri);
    await mkdirs(dirname(path));
    const tmp = tmpName(path);
    try {
      let checksum: string;
      let bytes: number;
      if (typeof data === 'object' && 'path' in data) {
        await pipeline(createReadStream(data.path), createWriteStream(tmp));
        ({ checksum, bytes } = await sha256File(tmp));
      } else {
        const b = toBytes(data);
        const fh = await open(tmp, 'w');
        try {
          await fh.writeFile(b);
          await fh.sync();
        } finally {
          await fh.close();
        }
        checksum = sha256(b);
        bytes = b.length;
      }
      await rename(tmp, path);
      return { uri: path, checksum, bytes };
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
  }

  async get(uri: string, checksum?: string): Promise<Uint8Array> {
    let b: Buffer;
    try {
      b = await readFile(this.path(uri));
    } catch (err) {
      throw missing(uri, err);
    }
    if (checksum !== undefined) checkChecksum(uri, checksum, sha256(b));
    return b;
  }

  async getText(uri: string, checksum?: string): Promise<string> {
    return Buffer.from(await this.get(uri, checksum)).toString('utf8');
  }

  async localPath(uri: string, _tmpDir: string, checksum?: string): Promise<string> {
    const path = this.path(uri);
    if (checksum !== undefined) {
      let actual: string;
      try {
        actual = (await sha256File(path)).checksum;
      } catch (err) {
        throw missing(uri, err);
      }
      checkChecksum(uri, checksum, actual);
    } else {
      try {
        await stat(path);
      } catch (err) {
        throw missing(uri, err);
      }
    }
    return path;
  }

  async exists(uri: string): Promise<boolean> {
    try {
      return (await stat(this.path(uri))).isFile();
    } catch {
      return false;
    }
  }

  async *list(prefix: string): AsyncIterable<ListedObject> {
    const p = this.path(prefix);
    // A prefix is a folder (ends with /) or a folder plus the start of names.
    const dir = p.endsWith(sep) || prefix.endsWith('/') ? p : dirname(p);
    const stack = [dir];
    while (stack.length > 0) {
      const d = stack.pop()!;
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(d, { withFileTypes: true });
      } catch {
        continue;
      }
      for (const e of entries) {
        const full = join(d, e.name);
        if (e.isDirectory()) {
          if (full.startsWith(p) || p.startsWith(full + sep)) stack.push(full);
        } else if (e.isFile() && full.startsWith(p) && !/\.tmp-\d+-[0-9a-f]{8}$/.test(e.name)) {
          yield { uri: full, bytes: (await stat(full)).size };
        }
      }
    }
  }

  async delete(uri: string): Promise<void> {
    await rm(this.path(uri), { force: true });
  }

  async close(): Promise<void> {}
}
