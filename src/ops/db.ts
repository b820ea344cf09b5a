/**
 * The operations database behind one small interface, with two backends that behave the same:
 * PGlite (PostgreSQL compiled to WebAssembly, in-process, persisted in a folder: the embedded
 * default) and PostgreSQL (a server, given by DATABASE_URL). The SQL is plain PostgreSQL and
 * runs unchanged on both; value types are made to match (bigint and numeric as numbers,
 * timestamps as Date, jsonb as objects).
 *
 * PGlite keeps one connection and its data folder can be open in one process at a time: a lock
 * file beside it says which process has it, and another process gets a clear error (exit 75).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import type { PGlite } from '@electric-sql/pglite';
import type { Pool, PoolClient } from 'pg';
import { type RapidConfig, redactUrl } from '../config.ts';
import { ExitCode, RapidError } from '../util/errors.ts';
import { type CopyColumn, copyStatement, encodeCopyBinary } from './copy.ts';

/** Something that runs SQL: the database, or a transaction on it. */
export interface Queryable {
  /** Run one statement with $1… parameters; resolves to its rows. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Run one or more statements without parameters. */
  exec(sql: string): Promise<void>;
  /** Bulk insert: `rows` rows of `columns` into `table` with a binary COPY (no ON CONFLICT). */
  copyFrom(table: string, columns: CopyColumn[], rows: number): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** For messages: "PGlite in DIR" or "PostgreSQL at URL". */
  readonly description: string;
  /** Run `fn` in a transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const INT8 = 20;
const NUMERIC = 1700;
const INT8_ARRAY = 1016;
const NUMERIC_ARRAY = 1231;
const FLOAT8_ARRAY = 1022;

/** Errors from the database as RapidErrors: a server we cannot reach is temporary (75). */
function dbError(where: string, err: unknown): Error {
  if (err instanceof RapidError) return err;
  const e = err as NodeJS.ErrnoException & { code?: string };
  if (
    e?.code &&
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      'ENOTFOUND',
      'EHOSTUNREACH',
      '57P01',
      '57P03',
      '53300',
    ].includes(e.code)
  )
    return new RapidError(
      `${where}: database unreachable (${e.code}: ${e.message}); retry`,
      ExitCode.TEMPORARY,
      {
        cause: err,
      },
    );
  if (e?.code === '3D000')
    return new RapidError(`${where}: ${e.message}; create the database first`, ExitCode.MISSING_INPUT, {
      cause: err,
    });
  return err as Error;
}

// ---- PGlite -------------------------------------------------------------------------------

/** PGlite reads COPY data from a blob given with the statement, as the file /dev/blob. */
async function pgliteCopy(
  q: Pick<PGlite, 'query'>,
  table: string,
  columns: CopyColumn[],
  rows: number,
): Promise<void> {
  if (rows === 0) return;
  const blob = new Blob([encodeCopyBinary(columns, rows)]);
  await q.query(copyStatement(table, columns, "'/dev/blob'"), [], { blob });
}

class PgliteDb implements Db {
  readonly kind = 'pglite' as const;
  constructor(
    private readonly pg: PGlite,
    readonly description: string,
    private readonly release: () => Promise<void>,
  ) {}

  async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.pg.query<T>(sql, params)).rows;
  }

  async exec(sql: string): Promise<void> {
    await this.pg.exec(sql);
  }

  async copyFrom(table: string, columns: CopyColumn[], rows: number): Promise<void> {
    await pgliteCopy(this.pg, table, columns, rows);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.pg.transaction(async (tx) =>
      fn({
        query: async <R>(sql: string, params: unknown[] = []) => (await tx.query<R>(sql, params)).rows,
        exec: async (sql: string) => {
          await tx.exec(sql);
        },
        copyFrom: (table, columns, rows) => pgliteCopy(tx, table, columns, rows),
      }),
    );
  }

  async close(): Promise<void> {
    try {
      await this.pg.close();
    } finally {
      await this.release();
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Take the data folder's lock file; resolves to its release. */
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const lock = `${dataDir}.lock`;
  await mkdir(dirname(lock), { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(lock, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return async () => {
        await unlink(lock).catch(() => {});
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new RapidError(
          `the PGlite database in ${dataDir} is in use by process ${pid}${pid === process.pid ? ' (this one)' : ''}; ` +
            'wait for it to end (PGlite allows one process at a time; use DATABASE_URL for PostgreSQL)',
          ExitCode.TEMPORARY,
        );
      }
      await unlink(lock).catch(() => {}); // stale: its process is gone
    }
  }
  throw new RapidError(
    `cannot take the lock ${lock}; remove it if no rapid process is running`,
    ExitCode.TEMPORARY,
  );
}

async function openPglite(dataDir: string): Promise<Db> {
  const release = await lockDataDir(dataDir);
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    await mkdir(dataDir, { recursive: true });
    const pg = await PGlite.create({
      dataDir,
      parsers: { [INT8]: (x: string) => Number(x), [NUMERIC]: (x: string) => Number(x) },
    });
    return new PgliteDb(pg, `PGlite in ${dataDir}`, release);
  } catch (err) {
    await release();
    throw dbError(`PGlite in ${dataDir}`, err);
  }
}

/** A PGlite database in memory (tests, benchmarks): nothing persisted, no lock. */
export async function openMemoryDb(): Promise<Db> {
  const { PGlite } = await import('@electric-sql/pglite');
  const pg = await PGlite.create({
    parsers: { [INT8]: (x: string) => Number(x), [NUMERIC]: (x: string) => Number(x) },
  });
  return new PgliteDb(pg, 'PGlite in memory', async () => {});
}

// ---- PostgreSQL ---------------------------------------------------------------------------

function wrapClient(c: PoolClient | Pool, where: string): Queryable {
  return {
    async query<R>(sql: string, params: unknown[] = []) {
      try {
        return (await c.query(sql, params)).rows as R[];
      } catch (err) {
        throw dbError(where, err);
      }
    },
    async exec(sql: string) {
      try {
        await c.query(sql);
      } catch (err) {
        throw dbError(where, err);
      }
    },
    async copyFrom(table: string, columns: CopyColumn[], rows: number) {
      if (rows === 0) return;
      const data = encodeCopyBinary(columns, rows);
      const { from } = await import('pg-copy-streams');
      // A pool hands out a client for the statement; a transaction's client is used as it is.
      const client =
        'release' in c
          ? c
          : await (c as Pool).connect().catch((err) => {
              throw dbError(where, err);
            });
      try {
        await pipeline(Readable.from([data]), client.query(from(copyStatement(table, columns, 'STDIN'))));
      } catch (err) {
        throw dbError(where, err);
      } finally {
        if (client !== c) (client as PoolClient).release();
      }
    },
  };
}

class PostgresDb implements Db {
  readonly kind = 'postgres' as const;
  private readonly q: Queryable;
  constructor(
    private readonly pool: Pool,
    readonly description: string,
  ) {
    this.q = wrapClient(pool, description);
  }

  query<T>(sql: string, params?: unknown[]): Promise<T[]> {
    return this.q.query<T>(sql, params);
  }

  exec(sql: string): Promise<void> {
    return this.q.exec(sql);
  }

  copyFrom(table: string, columns: CopyColumn[], rows: number): Promise<void> {
    return this.q.copyFrom(table, columns, rows);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw dbError(this.description, err);
    }
    try {
      await client.query('BEGIN');
      const out = await fn(wrapClient(client, this.description));
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw dbError(this.description, err);
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

async function openPostgres(url: string): Promise<Db> {
  const pg = (await import('pg')).default;
  const parse = (x: string) => Number(x);
  const types = {
    getTypeParser(oid: number, format?: 'text' | 'binary') {
      if (oid === INT8 || oid === NUMERIC) return parse;
      // int8[] and numeric[] as arrays of numbers, as PGlite gives them.
      if (oid === INT8_ARRAY) return pg.types.getTypeParser(FLOAT8_ARRAY as never, 'text');
      if (oid === NUMERIC_ARRAY) return pg.types.getTypeParser(FLOAT8_ARRAY as never, 'text');
      return pg.types.getTypeParser(oid, format as 'text');
    },
  };
  const pool = new pg.Pool({ connectionString: url, max: 4, types: types as never });
  pool.on('error', () => {}); // idle-client errors surface on the next query
  const db = new PostgresDb(pool, `PostgreSQL at ${redactUrl(url)}`);
  try {
    await db.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
  return db;
}

// ---- opening and migrations ----------------------------------------------------------------

export interface OpenOptions {
  /** Apply pending migrations (default true). */
  migrate?: boolean;
  /** Told about each migration applied. */
  onMigration?: (m: Migration) => void;
}

/** Open the configured database and bring its schema up to date. */
export async function openDatabase(config: RapidConfig, options: OpenOptions = {}): Promise<Db> {
  const db =
    config.database.kind === 'pglite'
      ? await openPglite(config.database.dataDir)
      : await openPostgres(config.database.url);
  if (options.migrate !== false) {
    try {
      await migrate(db, options.onMigration);
    } catch (err) {
      await db.close().catch(() => {});
      throw err;
    }
  }
  return db;
}

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The migrations folder: `migrations/` at the package root (beside src/ and dist/). */
export function migrationsDir(): string {
  return fileURLToPath(new URL('../../migrations/', import.meta.url));
}

/** Every migration file (NNN_name.sql), in version order. */
export function loadMigrations(dir = migrationsDir()): Migration[] {
  const out: Migration[] = [];
  for (const f of readdirSync(dir).sort()) {
    const m = /^(\d+)_([\w-]+)\.sql$/.exec(f);
    if (!m) continue;
    out.push({ version: Number(m[1]), name: m[2], sql: readFileSync(`${dir}/${f}`, 'utf8') });
  }
  const versions = out.map((m) => m.version);
  if (new Set(versions).size !== versions.length)
    throw new RapidError(`two migrations in ${dir} share a version number`, ExitCode.INTERNAL);
  return out;
}

/** Apply the migrations not yet applied, each in its own transaction; resolves to those applied. */
export async function migrate(db: Db, onMigration?: (m: Migration) => void): Promise<Migration[]> {
  await db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  const applied: Migration[] = [];
  for (const m of loadMigrations()) {
    const done = await db.transaction(async (tx) => {
      // One migrator at a time across processes (PostgreSQL); a no-op cost on PGlite.
      await tx.query('SELECT pg_advisory_xact_lock(72430001)');
      const seen = await tx.query('SELECT 1 FROM schema_migrations WHERE version = $1', [m.version]);
      if (seen.length > 0) return false;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      return true;
    });
    if (done) {
      applied.push(m);
      onMigration?.(m);
    }
  }
  return applied;
}

/** The schema version (highest migration applied), 0 for an empty database. */
export async function schemaVersion(db: Db): Promise<number> {
  const t = await db.query<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t");
  if (!t[0]?.t) return 0;
  const r = await db.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
  return Number(r[0]?.v ?? 0);
}
