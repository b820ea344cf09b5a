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
import {
  ExitCode,
  errnoName,
  MissingInputError,
  PermissionError,
  RapidError,
  systemError,
  UsageError,
} from '../util/errors.ts';
import { processAlive } from '../util/pid.ts';
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

/** SQLSTATEs (PostgreSQL's error codes) that are worth a retry: the server or its resources. */
const TEMPORARY_SQLSTATES: Record<string, string> = {
  '40001': 'serialization failure',
  '40P01': 'deadlock',
  '53000': 'insufficient resources',
  '53200': 'the database server is out of memory',
  '53300': 'too many connections',
  '53400': 'a configuration limit was exceeded',
  '57P03': 'the server is starting up or shutting down',
};

/** SQLSTATEs of a connection the server ended (a shutdown, pg_terminate_backend, a crash). */
const ENDED_SQLSTATES = ['57P01', '57P02', '57P05'];

/** Network errors on the way to the server: retry. */
const UNREACHABLE = [
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
];

/** Network errors of a connection that was up: it was lost (when connecting: unreachable). */
const DROPPED = ['ECONNRESET', 'EPIPE', 'ECONNABORTED'];

/** node-postgres's own messages (no code) for a connection that went away or never came. */
const LOST_CONNECTION =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|not queryable|Client was closed|Query read timeout|server closed the connection/i;

/**
 * An error from the database as a RapidError with the code an operator can act on:
 *
 * - unreachable, refused, timed out, lost (terminated mid-query), shutting down, too many
 *   connections, out of memory, deadlock: 75, retry;
 * - the disk of the database is full (SQLSTATE 53100, ENOSPC from PGlite's files): 75, saying so;
 * - the role or password refused, privileges missing, a read-only server, a folder PGlite cannot
 *   write: 77;
 * - a host that does not exist, a URL that cannot be parsed: 64 (configuration);
 * - no such database: 66.
 *
 * Anything else (a bug: bad SQL, a constraint) goes on as it was thrown.
 */
export function dbError(where: string, err: unknown, o: { connecting?: boolean } = {}): Error {
  if (err instanceof RapidError) return err;
  // A file's error (the store, written inside a transaction; PGlite's folder when opening) is
  // not the database's: it goes on as it is, and is reported with its path (cli/errors.ts).
  if (typeof (err as { path?: unknown })?.path === 'string') return err as Error;
  const e = err as { code?: unknown; message?: unknown; errors?: unknown; name?: unknown };
  // Node's AggregateError (a host with several addresses) may have no message: take the first's.
  const first = Array.isArray(e?.errors)
    ? (e.errors[0] as { code?: unknown; message?: unknown } | undefined)
    : undefined;
  const c = e?.code ?? first?.code ?? errnoName(err);
  const code = typeof c === 'string' ? c : undefined;
  const text = String((e?.message || first?.message) ?? '').split('\n')[0];
  const detail = code && text ? `${code}: ${text}` : (code ?? text);
  const options = { cause: err };
  if (code === '53100' || code === 'ENOSPC' || code === 'EDQUOT')
    return new RapidError(
      `${where}: the database's disk is full (${detail}); free some space, then retry`,
      ExitCode.TEMPORARY,
      options,
    );
  if (code === '28000' || code === '28P01')
    return new PermissionError(
      `${where}: the database refused the login (${detail}); check the user and password in DATABASE_URL (or --database-url)`,
      options,
    );
  if (code === '42501' || code === '25006')
    return new PermissionError(
      `${where}: not permitted (${detail}); the database role needs to create tables and write (a primary server, not a read-only replica)`,
      options,
    );
  if (code === '3D000') return new MissingInputError(`${where}: ${text}; create the database first`, options);
  if (code === 'ENOTFOUND')
    return new UsageError(
      `${where}: no such host (${detail}); check the host name in DATABASE_URL (or --database-url)`,
    );
  if (e?.name === 'TypeError' && (code === 'ERR_INVALID_URL' || /Invalid URL/.test(text)))
    return new UsageError(
      `${where}: not a valid URL; write postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (percent-encode special characters)`,
    );
  if (code !== undefined && code in TEMPORARY_SQLSTATES)
    return new RapidError(
      `${where}: ${TEMPORARY_SQLSTATES[code]} (${detail}); retry when the database is back`,
      ExitCode.TEMPORARY,
      options,
    );
  const lost =
    (code !== undefined &&
      (code.startsWith('08') || ENDED_SQLSTATES.includes(code) || DROPPED.includes(code))) ||
    LOST_CONNECTION.test(text);
  if (lost && !o.connecting)
    return new RapidError(
      `${where}: lost the connection to the database (${detail}); retry when the database is back`,
      ExitCode.TEMPORARY,
      options,
    );
  if (lost || (code !== undefined && UNREACHABLE.includes(code)))
    return new RapidError(
      `${where}: database unreachable (${detail}); retry when it is reachable`,
      ExitCode.TEMPORARY,
      options,
    );
  // Files (PGlite's folder): permissions, a full disk, PGlite's own file-system errors.
  return systemError(err, where) ?? (err as Error);
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

  /** Run `fn`, its errors as RapidErrors where they are the system's (a full disk, permissions). */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw dbError(this.description, err);
    }
  }

  async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.guard(async () => (await this.pg.query<T>(sql, params)).rows);
  }

  async exec(sql: string): Promise<void> {
    await this.guard(() => this.pg.exec(sql));
  }

  async copyFrom(table: string, columns: CopyColumn[], rows: number): Promise<void> {
    await this.guard(() => pgliteCopy(this.pg, table, columns, rows));
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.guard(() =>
      this.pg.transaction(async (tx) =>
        fn({
          query: async <R>(sql: string, params: unknown[] = []) => (await tx.query<R>(sql, params)).rows,
          exec: async (sql: string) => {
            await tx.exec(sql);
          },
          copyFrom: (table, columns, rows) => pgliteCopy(tx, table, columns, rows),
        }),
      ),
    );
  }

  async close(): Promise<void> {
    try {
      await this.guard(() => this.pg.close());
    } finally {
      await this.release();
    }
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
      // A full disk or a folder that cannot be written: said with the lock file's path.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw systemError(err, lock) ?? err;
      const pid = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) {
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
      const own = client !== c;
      // A client of our own has no 'error' listener while checked out: a lost connection would
      // be an unhandled 'error' event (the process would die); the COPY's rejection reports it.
      const onError = () => {};
      if (own) client.on('error', onError);
      let failed = false;
      try {
        await pipeline(Readable.from([data]), client.query(from(copyStatement(table, columns, 'STDIN'))));
      } catch (err) {
        failed = true;
        throw dbError(where, err);
      } finally {
        if (own) {
          client.off('error', onError);
          (client as PoolClient).release(failed);
        }
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
    // A checked-out client has no 'error' listener of the pool's: without one, a connection lost
    // mid-transaction (a server restart, pg_terminate_backend) is an unhandled 'error' event that
    // kills the process. The statement in flight rejects as well, and that is what is reported.
    let lost: unknown;
    const onError = (err: unknown) => {
      lost ??= err;
    };
    client.on('error', onError);
    let broken = false;
    try {
      await client.query('BEGIN');
      const out = await fn(wrapClient(client, this.description));
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw dbError(this.description, lost !== undefined && !(err instanceof RapidError) ? lost : err);
    } finally {
      client.off('error', onError);
      // A client whose connection failed is discarded, not handed out again.
      client.release(broken || lost !== undefined);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** How long to wait for a connection: PGCONNECT_TIMEOUT seconds (as libpq), else 15 s. */
function connectTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const s = Number(env.PGCONNECT_TIMEOUT);
  return Number.isFinite(s) && s > 0 ? Math.max(1, s) * 1000 : 15_000;
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
  const pool = new pg.Pool({
    connectionString: url,
    max: 4,
    types: types as never,
    // A host that does not answer (unroutable, firewalled) fails in seconds, not in the minutes
    // of TCP's own timeout: libpq's PGCONNECT_TIMEOUT (seconds), else 15 s.
    connectionTimeoutMillis: connectTimeoutMs(),
  });
  pool.on('error', () => {}); // idle-client errors surface on the next query
  const db = new PostgresDb(pool, `PostgreSQL at ${redactUrl(url)}`);
  try {
    await db.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => {});
    // The first statement is the connection: a failure is "unreachable", not "lost".
    const raw =
      err instanceof RapidError && err.exitCode === ExitCode.TEMPORARY && err.cause !== undefined
        ? err.cause
        : err;
    throw dbError(db.description, raw, { connecting: true });
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
