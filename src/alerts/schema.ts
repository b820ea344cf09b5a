/**
 * The alert packet schema: Avro files under schema/alert/v1 (package root), one named type per
 * file, composed here into one avsc Type. The layout follows the LSST alert packet (alertId,
 * diaSource, prvDiaSources, prvDiaForcedSources, diaObject, cutoutDifference/Science/Template)
 * with Roman additions (sca, field, HEALPix indices, isdiffpos, Scorr peak, vetting flags,
 * per-filter flux statistics for the Roman filters, the object's stable name, schemaVersion).
 *
 * Versioning: the major version is the folder and the namespace (rapid.v1); a minor version adds
 * fields with defaults only, so readers of 1.x can read every 1.y packet.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { BadInputError } from '../util/errors.ts';

export const ALERT_SCHEMA_VERSION = '1.0';
export const ALERT_NAMESPACE = 'rapid.v1';
/** Files in dependency order: a file may only name types of the files before it. */
const SCHEMA_FILES = ['diaSource', 'diaForcedSource', 'diaObject', 'alert'] as const;

/** The folder of the schema files: `schema/alert/v1/` at the package root (beside src/ and dist/). */
export function alertSchemaDir(): string {
  return fileURLToPath(new URL('../../schema/alert/v1/', import.meta.url));
}

export interface AlertSchema {
  /** The alert record type (named types resolved). */
  type: avro.Type;
  /** The component record types by short name: diaSource, diaForcedSource, diaObject, alert. */
  types: Record<(typeof SCHEMA_FILES)[number], avro.Type>;
}

let loaded: AlertSchema | undefined;

/** The composed schema, read once from the repository's schema files. */
export function alertSchema(): AlertSchema {
  if (loaded) return loaded;
  const dir = alertSchemaDir();
  const registry: Record<string, avro.Type> = {};
  const types = {} as AlertSchema['types'];
  for (const name of SCHEMA_FILES) {
    const path = `${dir}${ALERT_NAMESPACE}.${name}.avsc`;
    let schema: avro.Schema;
    try {
      schema = JSON.parse(readFileSync(path, 'utf8')) as avro.Schema;
    } catch (err) {
      throw new BadInputError(
        `${path}: cannot read the alert schema (${(err as Error).message}); reinstall rapid`,
        {
          cause: err,
        },
      );
    }
    // The shared registry lets later files refer to earlier types by full name.
    types[name] = avro.Type.forSchema(schema, { registry });
  }
  loaded = { type: types.alert, types };
  return loaded;
}

/** The alert record type. */
export function alertType(): avro.Type {
  return alertSchema().type;
}

/** A short description of a value for messages. */
function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Throw BadInputError naming the first field that does not fit the schema (e.g.
 * `diaSource.psfFlux: "abc" is not a float or null`); `what` says which packet, for the message.
 */
export function validateAlert(packet: unknown, what = 'alert packet'): void {
  const type = alertType();
  const problems: string[] = [];
  const ok = type.isValid(packet, {
    noUndeclaredFields: true,
    errorHook: (path: string[], value: unknown, t: avro.Type) => {
      const where = path.length > 0 ? path.join('.') : '(packet)';
      problems.push(`${where}: ${describe(value)} is not ${typeName(t)}`);
    },
  });
  if (ok) return;
  // An undeclared key fails its whole record; name the key rather than the record.
  const extra = undeclaredField(packet, type);
  const detail = extra ? `${extra}: not a field of the schema` : (problems[0] ?? 'does not match');
  throw new BadInputError(
    `${what}: ${detail} (schema ${ALERT_NAMESPACE} ${ALERT_SCHEMA_VERSION}); fix the packet's inputs`,
  );
}

function typeName(t: avro.Type): string {
  const name = t.typeName;
  if (name === 'union:unwrapped' || name === 'union:wrapped') {
    const branches = (t as unknown as { types: avro.Type[] }).types.map((b) => b.branchName ?? b.typeName);
    return `one of ${branches.join(' | ')}`;
  }
  return `a ${t.name ?? name}`;
}

/** The first key of a record (or nested record) that the schema does not declare, as a path. */
function undeclaredField(value: unknown, type: avro.Type, path: string[] = []): string | undefined {
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return undefined;
  const t = type as unknown as { typeName: string; fields?: { name: string; type: avro.Type }[] };
  if (t.typeName === 'record' && t.fields) {
    const names = new Set(t.fields.map((f) => f.name));
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) if (!names.has(key)) return [...path, key].join('.');
    for (const f of t.fields) {
      const inner = unionBranchRecord(f.type);
      const found = inner && undeclaredField(record[f.name], inner, [...path, f.name]);
      if (found) return found;
    }
  }
  return undefined;
}

function unionBranchRecord(type: avro.Type): avro.Type | undefined {
  const t = type as unknown as { typeName: string; types?: avro.Type[] };
  if (t.typeName === 'record') return type;
  return t.types?.find((b) => b.typeName === 'record');
}
