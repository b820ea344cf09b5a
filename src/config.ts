/**
 * Where things live: the data folder, the database and the object store. Each comes from a
 * command-line option, else an environment variable, else the embedded default:
 *
 * | setting | option | environment | default |
 * | --- | --- | --- | --- |
 * | data folder | `--home DIR` | `RAPID_HOME` | `./rapid-data` |
 * | database | `--database-url URL` | `DATABASE_URL` | PGlite in `<home>/db` |
 * | object store | `--store URI` | `RAPID_STORE` | the folder `<home>/store` |
 * | S3 endpoint | `--s3-endpoint URL` | `RAPID_S3_ENDPOINT` (or `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`) | AWS |
 *
 * Options override the environment.
 */
import { resolve } from 'node:path';
import { UsageError } from './util/errors.ts';

export interface ConfigOptions {
  home?: string;
  databaseUrl?: string;
  store?: string;
  s3Endpoint?: string;
}

export interface RapidConfig {
  /** Absolute path of the data folder. */
  home: string;
  database: { kind: 'pglite'; dataDir: string } | { kind: 'postgres'; url: string };
  /** The store root: an absolute folder path, or s3://bucket/prefix. */
  store: string;
  s3Endpoint?: string;
}

const DEFAULT_HOME = './rapid-data';

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** Resolve the configuration: options, then the environment, then the defaults. */
export function resolveConfig(
  options: ConfigOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): RapidConfig {
  const home = resolve(nonEmpty(options.home) ?? nonEmpty(env.RAPID_HOME) ?? DEFAULT_HOME);
  const url = nonEmpty(options.databaseUrl) ?? nonEmpty(env.DATABASE_URL);
  let database: RapidConfig['database'];
  if (url === undefined) database = { kind: 'pglite', dataDir: resolve(home, 'db') };
  else if (/^postgres(ql)?:\/\//i.test(url)) database = { kind: 'postgres', url };
  else if (/^pglite:/i.test(url))
    database = { kind: 'pglite', dataDir: resolve(url.replace(/^pglite:(\/\/)?/i, '')) };
  else
    throw new UsageError(
      `database URL '${redactUrl(url)}' is not postgres://… or postgresql://… (leave DATABASE_URL unset for PGlite in the data folder)`,
    );
  const storeText = nonEmpty(options.store) ?? nonEmpty(env.RAPID_STORE);
  let store: string;
  if (storeText === undefined) store = resolve(home, 'store');
  else if (/^s3:\/\//i.test(storeText)) {
    if (!/^s3:\/\/[^/]+/.test(storeText))
      throw new UsageError(`store '${storeText}' has no bucket; write s3://bucket/prefix`);
    store = storeText.replace(/\/+$/, '');
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(storeText) && !/^file:\/\//i.test(storeText))
    throw new UsageError(`store '${storeText}' is neither a folder nor s3://bucket/prefix`);
  else store = resolve(storeText.replace(/^file:\/\//i, ''));
  const s3Endpoint =
    nonEmpty(options.s3Endpoint) ??
    nonEmpty(env.RAPID_S3_ENDPOINT) ??
    nonEmpty(env.AWS_ENDPOINT_URL_S3) ??
    nonEmpty(env.AWS_ENDPOINT_URL);
  return { home, database, store, s3Endpoint };
}

/** A URL with its password replaced by ***, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]+:)[^@]*@/i, '$1***@');
}

/** One line saying which backends are in use (for standard error). */
export function describeConfig(c: RapidConfig): string {
  const db =
    c.database.kind === 'pglite'
      ? `PGlite in ${c.database.dataDir}`
      : `PostgreSQL at ${redactUrl(c.database.url)}`;
  const store = c.store.startsWith('s3://')
    ? `S3 ${c.store}${c.s3Endpoint ? ` (endpoint ${c.s3Endpoint})` : ''}`
    : `folder ${c.store}`;
  return `database: ${db}; store: ${store}`;
}
