/**
 * Manifests and result records as bytes: canonical JSON, the configuration hash, validation
 * with clear one-line errors (exit 65 for a malformed document).
 */
import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { BadInputError } from '../util/errors.ts';
import {
  MANIFEST_VERSION,
  type Manifest,
  ManifestSchema,
  type ResultRecord,
  ResultRecordSchema,
} from './types.ts';

/** JSON with object keys sorted at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => {
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) out[k] = (v as Record<string, unknown>)[k];
      return out;
    }
    return v;
  });
}

/** sha256 of the configuration's canonical JSON. */
export function configHash(config: Record<string, unknown>): string {
  return `sha256:${createHash('sha256').update(canonicalJson(config)).digest('hex')}`;
}

function firstIssue(error: z.ZodError): string {
  const i = error.issues[0];
  const path = i.path.length ? i.path.join('.') : '(top level)';
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : '';
  return `${path}: ${i.message}${more}`;
}

/** Validate a manifest object; BadInputError naming the first problem. */
export function validateManifest(value: unknown, where: string): Manifest {
  const v = value as { version?: unknown } | null;
  if (v && typeof v === 'object' && v.version !== undefined && v.version !== MANIFEST_VERSION)
    throw new BadInputError(
      `${where}: manifest version ${String(v.version)} is not supported (this software reads version ${MANIFEST_VERSION})`,
    );
  const r = ManifestSchema.safeParse(value);
  if (!r.success) throw new BadInputError(`${where}: invalid manifest: ${firstIssue(r.error)}`);
  const m = r.data;
  if (configHash(m.config) !== m.configHash)
    throw new BadInputError(`${where}: configHash does not match the configuration`);
  return m;
}

export function parseManifest(text: string, where: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadInputError(`${where}: not JSON (${(err as Error).message})`);
  }
  return validateManifest(value, where);
}

export function parseResult(text: string, where: string): ResultRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadInputError(`${where}: result record is not JSON (${(err as Error).message})`);
  }
  const r = ResultRecordSchema.safeParse(value);
  if (!r.success) throw new BadInputError(`${where}: invalid result record: ${firstIssue(r.error)}`);
  return r.data;
}

/** JSON text of a value with non-finite numbers as null (JSON has no NaN). */
export function toJson(value: unknown, indent = 0): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), indent);
}
