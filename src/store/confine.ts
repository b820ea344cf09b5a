/**
 * Keeping writes inside the store. A manifest, a queue entry or a result record names paths; a
 * crafted or corrupted one must not make a job write outside the store's root (`..` segments,
 * an absolute path elsewhere, a symbolic link on the way). Anything outside is bad input (65).
 */
import { lstat, realpath } from 'node:fs/promises';
import { dirname, relative, resolve, sep } from 'node:path';
import { BadInputError } from '../util/errors.ts';

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/** Does the key path hold `.` or `..` segments (which S3 keeps literally but a reader may not)? */
function hasDotSegments(path: string): boolean {
  return path.split('/').some((s) => s === '.' || s === '..');
}

/**
 * Is `uri` at or below `root` (lexically: after resolving `.` and `..` for folders; for S3 the
 * same bucket, under the prefix, with no dot segments)?
 */
export function isInside(root: string, uri: string): boolean {
  if (root.startsWith('s3://') || uri.startsWith('s3://')) {
    if (!root.startsWith('s3://') || !uri.startsWith('s3://')) return false;
    if (hasDotSegments(uri.slice(5))) return false;
    const r = root.replace(/\/+$/, '');
    return uri === r || uri.startsWith(`${r}/`);
  }
  if (SCHEME.test(uri) && !uri.startsWith('file://')) return false;
  const r = resolve(root.replace(/^file:\/\//, ''));
  const u = resolve(uri.replace(/^file:\/\//, ''));
  const rel = relative(r, u);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith(sep));
}

/**
 * Refuse (65) a `uri` that is not inside `root`, or (for a folder store) that reaches through a
 * symbolic link below the root: a link could point anywhere. `what` names the path in the message.
 */
export async function confineToStore(root: string, uri: string, what: string): Promise<void> {
  if (!isInside(root, uri))
    throw new BadInputError(`${what} ${uri} is outside the store ${root}; refusing to use it`);
  if (root.startsWith('s3://')) return;
  const r = resolve(root.replace(/^file:\/\//, ''));
  // Walk from the target up to the root; every part that exists must be a real folder or file.
  let p = resolve(uri.replace(/^file:\/\//, ''));
  while (p.length > r.length) {
    try {
      if ((await lstat(p)).isSymbolicLink())
        throw new BadInputError(
          `${what} ${uri} passes through a symbolic link (${p}); refusing to follow it`,
        );
    } catch (err) {
      if (err instanceof BadInputError) throw err;
      // A part that does not exist yet is created by the write as a real folder.
    }
    p = dirname(p);
  }
}

/** The store root with symbolic links resolved, when it exists (a root may itself be a link). */
export async function realRoot(root: string): Promise<string> {
  if (root.startsWith('s3://')) return root.replace(/\/+$/, '');
  const r = resolve(root.replace(/^file:\/\//, ''));
  return realpath(r).catch(() => r);
}
