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

import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BadInputError, ExitCode, MissingInputError, systemError, UsageError } from './util/errors.ts';

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
  else if (/^postgres(ql)?:\/\//i.test(url)) database = { kind: 'postgres', url: checkPostgresUrl(url) };
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
  return { home, database, store, s3Endpoint: s3EndpointSetting(options.s3Endpoint, env) };
}

/** The S3 endpoint: the option, else RAPID_S3_ENDPOINT, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL. */
export function s3EndpointSetting(option?: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return (
    nonEmpty(option) ??
    nonEmpty(env.RAPID_S3_ENDPOINT) ??
    nonEmpty(env.AWS_ENDPOINT_URL_S3) ??
    nonEmpty(env.AWS_ENDPOINT_URL)
  );
}

/** The Redis URL of the queue executor: the option, else RAPID_REDIS. */
export function redisSetting(option?: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return nonEmpty(option) ?? nonEmpty(env.RAPID_REDIS);
}

/**
 * A PostgreSQL URL node-postgres can parse (it uses WHATWG URL parsing, with a stand-in host for
 * `postgres://user@/db?host=/socket`); a usage error (64) naming what to write otherwise, before
 * anything is opened.
 */
export function checkPostgresUrl(url: string): string {
  let text = url;
  if (/ |%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(text)) text = encodeURI(text).replace(/%25(\d\d)/g, '%$1');
  if (!URL.canParse(text) && !URL.canParse(text.replace('@/', '@___DUMMY___/')))
    throw new UsageError(
      `database URL '${redactUrl(url)}' is not a valid URL; write postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (percent-encode special characters in the password)`,
    );
  return url;
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

/** Pipeline configurations by pipeline, as `rapid launch --config FILE` gives them. */
export type PipelineConfigs = Record<string, Record<string, unknown>>;

const CONFIG_SECTIONS = ['science', 'reference', 'noop'];
const CONFIG_SHAPE = '{"science": {...}, "reference": {...}, "noop": {...}}';

/**
 * Where the first JSON syntax error of `text` is (0-based offset), or -1 when there is none (or it
 * cannot be told). For messages that must not quote the file: JSON.parse's do (a line of
 * /etc/passwd, say), this gives the line and column only.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const fail = (): never => {
    throw i;
  };
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r'))
      i++;
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const string = () => {
    i++;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) fail();
      if (c === 0x5c) {
        const n = text[i + 1];
        if (n === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 6;
        else if (n !== undefined && '"\\/bfnrt'.includes(n)) i += 2;
        else fail();
      } else i++;
    }
    fail();
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      ws();
      if (text[i] === close) {
        i++;
        return;
      }
      for (;;) {
        if (c === '{') {
          ws();
          if (text[i] !== '"') fail();
          string();
          ws();
          if (text[i] !== ':') fail();
          i++;
        }
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === close) {
          i++;
          return;
        } else fail();
      }
    }
    if (c === '"') {
      string();
      return;
    }
    for (const word of ['true', 'false', 'null'])
      if (text.startsWith(word, i)) {
        i += word.length;
        return;
      }
    NUMBER.lastIndex = i;
    if (!NUMBER.test(text)) fail();
    i = NUMBER.lastIndex;
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
    return -1;
  } catch (e) {
    return typeof e === 'number' ? e : -1; // a RangeError: nested too deep to tell
  }
}

/** "line L, column C" (1-based) of an offset in `text`. */
function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line}, column ${offset - before.lastIndexOf('\n')}`;
}

/**
 * Read a pipeline-configuration file (`rapid launch --config FILE`): JSON, an object of sections
 * science, reference and noop, each an object. Messages never quote the file's contents (it may
 * be any file: `--config /etc/passwd` must not print its first line): a syntax error is given by
 * its line and column. Missing file 66; not such a file 65; unreadable (permissions) 77.
 */
export async function readPipelineConfig(path: string | undefined): Promise<PipelineConfigs> {
  if (path === undefined) return {};
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const e = systemError(err, path);
    if (e?.exitCode === ExitCode.MISSING_INPUT)
      throw new MissingInputError(`${path}: no such configuration file`);
    throw e ?? err;
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    const at = jsonErrorOffset(text);
    throw new BadInputError(
      `${path}: not a valid configuration file (expected JSON: ${CONFIG_SHAPE}${at >= 0 ? `; syntax error at ${lineColumn(text, at)}` : ''})`,
    );
  }
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new BadInputError(`${path}: not a valid configuration file (expected JSON: ${CONFIG_SHAPE})`);
  for (const [k, x] of Object.entries(v)) {
    if (!CONFIG_SECTIONS.includes(k))
      throw new BadInputError(
        `${path}: unknown section '${k.length > 40 ? `${k.slice(0, 40)}…` : k}' (${CONFIG_SECTIONS.join(', ')})`,
      );
    if (!x || typeof x !== 'object' || Array.isArray(x))
      throw new BadInputError(`${path}: '${k}' must be an object`);
  }
  return v as PipelineConfigs;
}
