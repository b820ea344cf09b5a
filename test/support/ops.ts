/**
 * Helpers for the operations tests: the two database backends (PGlite, and PostgreSQL in a
 * fresh database per use, dropped afterwards), an S3-compatible server (s3rver) started by the
 * test, small FITS images with the headers ingest reads, and the `rapid` command from source.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { RapidConfig } from '../../src/config.ts';
import { Header } from '../../src/fits/header.ts';
import { encodeFits } from '../../src/fits/index.ts';
import { type Db, openDatabase } from '../../src/ops/db.ts';
import type { ImageRecord } from '../../src/ops/ingest.ts';
import { mjdFromDate } from '../../src/ops/time.ts';
import type { ImageInput } from '../../src/pipeline/types.ts';
import { tileCentre, tileOf } from '../../src/sky/tiles.ts';
import { sha256 } from '../../src/store/store.ts';

export const PG_ADMIN_URL = process.env.RAPID_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

let pgAvailable: boolean | undefined;

/** Is the PostgreSQL server of the tests reachable? */
export async function postgresAvailable(): Promise<boolean> {
  if (pgAvailable !== undefined) return pgAvailable;
  const pg = (await import('pg')).default;
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    pgAvailable = true;
  } catch {
    pgAvailable = false;
  } finally {
    await c.end().catch(() => {});
  }
  return pgAvailable;
}

/** When PostgreSQL is missing: fail in CI, skip (with the reason) locally. */
export async function requirePostgres(t: TestContext): Promise<boolean> {
  if (await postgresAvailable()) return true;
  const reason = `PostgreSQL is not reachable at ${PG_ADMIN_URL} (set RAPID_TEST_PG_URL; .ci/run starts it)`;
  if (process.env.CI === 'true') throw new Error(`${reason}; the PostgreSQL tests must run in CI`);
  console.error(`# SKIP: ${reason}`);
  t.skip(reason);
  return false;
}

let counter = 0;

/** A fresh, empty PostgreSQL database; resolves to its URL and a function that drops it. */
export async function freshPostgres(): Promise<{ url: string; drop: () => Promise<void> }> {
  const pg = (await import('pg')).default;
  const name = `rapid_test_${process.pid}_${Date.now().toString(36)}_${counter++}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const a = new pg.Client({ connectionString: PG_ADMIN_URL });
      await a.connect();
      try {
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}

export type BackendName = 'pglite' | 'postgres';
export const BACKENDS: BackendName[] = ['pglite', 'postgres'];

export interface TestEnv {
  dir: string;
  config: RapidConfig;
  /** Command-line options naming the same backends. */
  args: string[];
  /** Open the database (migrated). */
  open(): Promise<Db>;
  cleanup(): Promise<void>;
}

/** A temporary data folder and a fresh database of the given backend (undefined: skipped). */
export async function testEnv(t: TestContext, backend: BackendName): Promise<TestEnv | undefined> {
  if (backend === 'postgres' && !(await requirePostgres(t))) return undefined;
  const dir = await mkdtemp(join(tmpdir(), `rapid-${backend}-`));
  const pg = backend === 'postgres' ? await freshPostgres() : undefined;
  const config: RapidConfig = {
    home: dir,
    database: pg ? { kind: 'postgres', url: pg.url } : { kind: 'pglite', dataDir: join(dir, 'db') },
    store: join(dir, 'store'),
  };
  return {
    dir,
    config,
    args: ['--home', dir, ...(pg ? ['--database-url', pg.url] : []), '--store', config.store],
    open: () => openDatabase(config),
    async cleanup() {
      await pg?.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** An S3-compatible server on a free local port, with one bucket. */
export async function startS3(bucket = 'rapid'): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const S3rver = (await import('s3rver')).default;
  const dir = await mkdtemp(join(tmpdir(), 'rapid-s3rver-'));
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: dir,
    configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
  process.env.AWS_REGION ??= 'us-east-1';
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface FakeImage {
  ra: number;
  dec: number;
  date: string;
  filter?: string;
  size?: number;
  zp?: number;
  exptime?: number;
  sca?: number;
  pointing?: number;
  /** Put the pixels in HDU 1 (OpenUniverse) instead of HDU 0. */
  extension?: boolean;
}

/** A small FITS image with a TAN WCS at (ra, dec) and the cards ingest reads. */
export function fakeImage(o: FakeImage): Uint8Array {
  const size = o.size ?? 64;
  const h = new Header();
  h.set('CTYPE1', 'RA---TAN');
  h.set('CTYPE2', 'DEC--TAN');
  h.set('CRPIX1', (size + 1) / 2);
  h.set('CRPIX2', (size + 1) / 2);
  h.set('CRVAL1', o.ra);
  h.set('CRVAL2', o.dec);
  h.set('CD1_1', -0.11 / 3600);
  h.set('CD1_2', 0);
  h.set('CD2_1', 0);
  h.set('CD2_2', 0.11 / 3600);
  h.set('DATE-OBS', o.date);
  h.set('EXPTIME', o.exptime ?? 100);
  h.set('FILTER', o.filter ?? 'H158');
  h.set('ZPTMAG', o.zp ?? 31.3);
  h.set('GAIN', 1);
  h.set('SCA_NUM', o.sca ?? 1);
  h.set('POINTING', o.pointing ?? 1);
  const data = new Float32Array(size * size).fill(1);
  if (o.extension)
    return encodeFits([
      { data: [], shape: [], header: h },
      { data, shape: [size, size], name: 'SCI' },
    ]);
  return encodeFits([{ data, shape: [size, size], header: h }]);
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENTRY = join(ROOT, 'src/cli/entry.ts');
const TSX = import.meta.resolve('tsx');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `rapid …` from source, synchronously. */
export function rapid(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeout?: number } = {},
): CliResult {
  const r = spawnSync(process.execPath, ['--import', TSX, ENTRY, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...options.env },
    cwd: options.cwd,
    timeout: options.timeout ?? 300_000,
    maxBuffer: 1 << 26,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Start `rapid …` from source, asynchronously (to signal it). */
export function rapidProcess(args: string[], options: { env?: NodeJS.ProcessEnv } = {}) {
  return spawn(process.execPath, ['--import', TSX, ENTRY, ...args], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Run `rapid …` from source without blocking this process (needed when it serves s3rver). */
export function rapidAsync(args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = rapidProcess(args, options);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export const REDIS_URL = process.env.RAPID_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** When Redis is missing: fail in CI, skip (with the reason) locally. */
export async function requireRedis(t: TestContext): Promise<boolean> {
  const { checkRedis } = await import('../../src/exec/redis.ts');
  try {
    await checkRedis(REDIS_URL);
    return true;
  } catch (err) {
    const reason = `${(err as Error).message} (set RAPID_TEST_REDIS_URL; .ci/run starts Redis)`;
    if (process.env.CI === 'true') throw new Error(`${reason}; the queue tests must run in CI`);
    console.error(`# SKIP: ${reason}`);
    t.skip(reason);
    return false;
  }
}

/** A queue name no other test uses; `dropQueue` removes its Redis keys afterwards. */
export function uniqueQueue(what: string): string {
  return `rapid-test-${what}-${process.pid}-${Date.now().toString(36)}-${counter++}`;
}

export async function dropQueue(name: string): Promise<void> {
  const { Queue } = await import('bullmq');
  const { useRedis } = await import('../../src/exec/redis.ts');
  const q = new Queue(name, { connection: useRedis(REDIS_URL) });
  try {
    await q.obliterate({ force: true });
  } finally {
    await q.close();
  }
}

/** The sky tile the operations tests' images lie in. */
export const TEST_TILE = tileOf(9.6, -44);

/** SFFT's products in cross-convolution mode, with RAPID's names (the issue's; written out, not read from src). */
export const SFFT_PRODUCTS = [
  'sfftdiffimage_cconv_masked.fits',
  'sfftdiffimage_dconv_masked.fits',
  'sfftdiffimage_uncert_masked.fits',
  'sfftdiffpsf.fits',
  'sfftsoln.fits',
  'sfftdiffimage_masked.txt',
  'sfftdiffimage_masked.cat.fits',
];

/**
 * n image rows as ingest would register them, one minute apart from 2028-09-`day0`, all at the
 * centre of TEST_TILE (nothing on disk: for launch and aggregation tests of noop jobs).
 */
export function imageRecords(n: number, day0 = 1): ImageRecord[] {
  const c = tileCentre(TEST_TILE);
  return Array.from({ length: n }, (_, i) => {
    const date = new Date(Date.UTC(2028, 8, day0, 0, i));
    return {
      uri: `/survey/img-${day0}-${i}.fits`,
      checksum: `sha256:${String(i).padStart(64, '0')}`,
      bytes: 1,
      filter: 'F158',
      dateObs: date,
      mjd: mjdFromDate(date),
      exptime: 100,
      zeroPoint: 30,
      gain: 1,
      pointing: i,
      sca: 1,
      width: 64,
      height: 64,
      hdu: 0,
      nside: 512,
      tile: TEST_TILE,
      ra: c.ra,
      dec: c.dec,
      footprint: [0, 0, 0, 0, 0, 0, 0, 0],
      tiles: [TEST_TILE],
    };
  });
}

/** A science image as a manifest names it (no file behind it unless `uri` names one). */
export function scienceInput(uri = '/nowhere/img.fits'): ImageInput {
  return {
    imageId: 1,
    uri,
    checksum: sha256('x'),
    filter: 'F158',
    mjd: 62000,
    dateObs: '2028-09-07T00:00:00.000Z',
    tile: TEST_TILE,
    nside: 512,
    zeroPoint: 30,
    exptime: 100,
    gain: 1,
    width: 64,
    height: 64,
    hdu: 0,
  };
}

/**
 * n small images (2028-09-01, -02, …) written to and ingested from `env.dir`, and the command
 * line that launches noop jobs over them with `noopConfig` (e.g. `{ sleepMs: 4000 }`): append
 * `--jobs N` and the backend options.
 */
export async function noopSurvey(
  env: TestEnv,
  n: number,
  noopConfig: Record<string, unknown>,
  args: string[] = env.args,
): Promise<string[]> {
  for (let i = 0; i < n; i++)
    await writeFile(
      join(env.dir, `img${i}.fits`),
      fakeImage({ ra: 9.6, dec: -44, date: `2028-09-${String(i + 1).padStart(2, '0')}` }),
    );
  const ingested = rapid(['ingest', env.dir, ...args]);
  if (ingested.code !== 0) throw new Error(`ingest failed: ${ingested.stderr}`);
  const cfg = join(env.dir, `config-${Object.values(noopConfig).join('-') || 'default'}.json`);
  await writeFile(cfg, JSON.stringify({ noop: noopConfig }));
  return ['launch', '--from', '2028-09-01', '--to', '2028-09-30', '--pipeline', 'noop', '--config', cfg];
}
