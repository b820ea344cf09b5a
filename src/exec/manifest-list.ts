/**
 * A manifest list: one manifest URI per line, for executors that start many copies of one
 * command and tell each its index (AWS Batch array jobs: AWS_BATCH_JOB_ARRAY_INDEX). The job
 * reads the list and runs the manifest on its line, so the container command stays
 * `rapid job run` and the environment says which list.
 */
import { BadInputError, UsageError } from '../util/errors.ts';

/** Where the list is named in a job's environment. */
export const MANIFEST_LIST_ENV = 'RAPID_MANIFEST_LIST';
/** Where AWS Batch puts a child's index in an array job. */
export const ARRAY_INDEX_ENV = 'AWS_BATCH_JOB_ARRAY_INDEX';

export function formatManifestList(uris: string[]): string {
  for (const u of uris)
    if (/[\r\n]/.test(u)) throw new UsageError(`manifest URI with a line break cannot go in a list: ${u}`);
  return `${uris.join('\n')}\n`;
}

/** The manifest URI on line `index` (from 0) of a list read from `where`. */
export function manifestAt(text: string, index: number, where: string): string {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (!Number.isInteger(index) || index < 0)
    throw new UsageError(`array index must be a non-negative integer, got ${index}`);
  if (index >= lines.length)
    throw new BadInputError(
      `${where}: no line ${index} in a list of ${lines.length} manifests; check ${ARRAY_INDEX_ENV}`,
    );
  return lines[index].trim();
}

/** The array index from the environment: absent means a single (non-array) job, index 0. */
export function arrayIndexFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env[ARRAY_INDEX_ENV];
  if (v === undefined || v === '') return 0;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${ARRAY_INDEX_ENV} must be an index, got '${v}'`);
  return n;
}
