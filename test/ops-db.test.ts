/** The database layer on both backends: migrations, types, transactions, batches, the PGlite lock. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type CopyColumn, copyStatement, encodeCopyBinary } from '../src/ops/copy.ts';
import { loadMigrations, migrate, openDatabase, schemaVersion } from '../src/ops/db.ts';
import { ExitCode, RapidError } from '../src/util/errors.ts';
import { BACKENDS, rapid, testEnv } from './support/ops.ts';

test('migrations are numbered SQL files shipped at the package root', () => {
  const m = loadMigrations();
  assert.ok(m.length >= 2);
  assert.deepEqual(
    m.map((x) => x.version),
    [...m.map((x) => x.version)].sort((a, b) => a - b),
  );
  assert.match(m[0].sql, /CREATE TABLE images/);
});

test('binary COPY encoding: the layout PostgreSQL documents; wrong values and names are refused', () => {
  const bytes = Buffer.from(
    encodeCopyBinary(
      [
        { name: 'a', type: 'int4', values: [258] },
        { name: 'b', type: 'text', values: [null] },
      ],
      1,
    ),
  );
  const want = Buffer.concat([
    Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'),
    Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]), // flags, header extension
    Buffer.from([0, 2, 0, 0, 0, 4, 0, 0, 1, 2, 0xff, 0xff, 0xff, 0xff]), // 2 fields: 258, NULL
    Buffer.from([0xff, 0xff]), // end
  ]);
  assert.deepEqual(bytes, want);
  const one = (type: CopyColumn['type'], v: unknown) => () =>
    encodeCopyBinary([{ name: 'c', type, values: [v] }], 1);
  assert.throws(one('float8', '1.5'), /column c, row 1: number expected/);
  assert.throws(one('int4', 2 ** 31), /32-bit integer expected/);
  assert.throws(one('int4', 1.5), /32-bit integer expected/);
  assert.throws(one('int8', 2 ** 53), /integer expected/);
  assert.throws(one('bool', 1), /boolean expected/);
  assert.throws(one('text', 3), /text expected/);
  assert.throws(() => encodeCopyBinary([{ name: 'c', type: 'int4', values: [1] }], 2), /1 values for 2 rows/);
  assert.throws(() => copyStatement('t; DROP TABLE x', [], 'STDIN'), /not a plain SQL name/);
  assert.equal(
    copyStatement('t', [{ name: 'a', type: 'int4', values: [] }], 'STDIN'),
    'COPY t (a) FROM STDIN WITH (FORMAT binary)',
  );
});

for (const backend of BACKENDS) {
  describe(`database on ${backend}`, () => {
    test('migrate applies every migration once; the schema has the tables of the design', async (t) => {
      const env = await testEnv(t, backend);
      if (!env) return;
      try {
        const db = await env.open();
        try {
          const latest = loadMigrations().at(-1)!.version;
          assert.equal(await schemaVersion(db), latest);
          assert.deepEqual(await migrate(db), []);
          const tables = await db.query<{ t: string }>(
            'SELECT table_name AS t FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1',
          );
          const names = tables.map((x) => x.t);
          for (const want of [
            'diff_sources',
            'filters',
            'images',
            'jobs',
            'products',
            'refimage_inputs',
            'refimages',
            'run_jobs',
            'runs',
            'schema_migrations',
            'tiles',
          ])
            assert.ok(names.includes(want), `table ${want}`);
          const f = await db.query<{ name: string; band: string }>(
            "SELECT name, band FROM filters WHERE name = 'F158'",
          );
          assert.deepEqual(f, [{ name: 'F158', band: 'H158' }]);
        } finally {
          await db.close();
        }
      } finally {
        await env.cleanup();
      }
    });

    test('the same values come back on both backends: bigint and numeric as numbers, dates, jsonb, arrays', async (t) => {
      const env = await testEnv(t, backend);
      if (!env) return;
      try {
        const db = await env.open();
        try {
          const [r] = await db.query<Record<string, unknown>>(
            `SELECT 9007199254740::bigint AS b, 1.5::numeric AS n, '2028-09-07T00:00:00Z'::timestamptz AS d,
               '{"a": [1, 2]}'::jsonb AS j, ARRAY[1, 2]::bigint[] AS arr, 'NaN'::float8 AS nan`,
          );
          assert.equal(r.b, 9007199254740);
          assert.equal(r.n, 1.5);
          assert.ok(r.d instanceof Date);
          assert.equal((r.d as Date).toISOString(), '2028-09-07T00:00:00.000Z');
          assert.deepEqual(r.j, { a: [1, 2] });
          assert.deepEqual(r.arr, [1, 2]);
          assert.ok(Number.isNaN(r.nan));
        } finally {
          await db.close();
        }
      } finally {
        await env.cleanup();
      }
    });

    test('a transaction that throws leaves nothing behind', async (t) => {
      const env = await testEnv(t, backend);
      if (!env) return;
      try {
        const db = await env.open();
        try {
          await assert.rejects(
            db.transaction(async (tx) => {
              await tx.query('INSERT INTO tiles (nside, tile, ra, dec) VALUES (512, 1, 0, 0)');
              throw new Error('boom');
            }),
            /boom/,
          );
          const n = await db.query<{ n: number }>('SELECT count(*) AS n FROM tiles');
          assert.equal(n[0].n, 0);
          await db.transaction(async (tx) => {
            await tx.query(
              'INSERT INTO tiles (nside, tile, ra, dec) SELECT 512, t, 0, 0 FROM unnest($1::bigint[]) AS t',
              [[1, 2, 3]],
            );
          });
          assert.equal((await db.query<{ n: number }>('SELECT count(*) AS n FROM tiles'))[0].n, 3);
        } finally {
          await db.close();
        }
      } finally {
        await env.cleanup();
      }
    });

    test('binary COPY: every column type and NULL round-trip; inside a failed transaction nothing stays', async (t) => {
      const env = await testEnv(t, backend);
      if (!env) return;
      try {
        const db = await env.open();
        try {
          await db.exec(
            'CREATE TABLE copy_check (i8 bigint, i4 integer, f8 double precision, tx text, b boolean)',
          );
          const columns: CopyColumn[] = [
            { name: 'i8', type: 'int8', values: [2 ** 53 - 1, -7, null, 0] },
            { name: 'i4', type: 'int4', values: [-(2 ** 31), 2 ** 31 - 1, 5, null] },
            { name: 'f8', type: 'float8', values: [Math.PI, -1e-300, 1.7e308, null] },
            { name: 'tx', type: 'text', values: ['F158', 'Δ α=10°, “quoted”\ttab', '', null] },
            { name: 'b', type: 'bool', values: [true, false, null, true] },
          ];
          await db.transaction((tx) => tx.copyFrom('copy_check', columns, 4));
          const rows = await db.query<Record<string, unknown>>(
            'SELECT * FROM copy_check ORDER BY i4 NULLS LAST',
          );
          assert.deepEqual(rows, [
            { i8: 2 ** 53 - 1, i4: -(2 ** 31), f8: Math.PI, tx: 'F158', b: true },
            { i8: null, i4: 5, f8: 1.7e308, tx: '', b: null },
            { i8: -7, i4: 2 ** 31 - 1, f8: -1e-300, tx: 'Δ α=10°, “quoted”\ttab', b: false },
            { i8: 0, i4: null, f8: null, tx: null, b: true },
          ]);
          await assert.rejects(
            db.transaction(async (tx) => {
              await tx.copyFrom('copy_check', columns, 4);
              throw new Error('boom');
            }),
            /boom/,
          );
          // Outside a transaction too; a failed COPY (a NOT NULL column given NULL) names the problem.
          await db.copyFrom('copy_check', columns.slice(0, 1), 2);
          assert.equal((await db.query<{ n: number }>('SELECT count(*) AS n FROM copy_check'))[0].n, 6);
          await db.exec('CREATE TABLE copy_strict (i8 bigint NOT NULL)');
          await assert.rejects(db.copyFrom('copy_strict', columns.slice(0, 1), 3), /null/i);
          assert.equal((await db.query<{ n: number }>('SELECT count(*) AS n FROM copy_strict'))[0].n, 0);
        } finally {
          await db.close();
        }
      } finally {
        await env.cleanup();
      }
    });

    test('rapid db migrate', async (t) => {
      const env = await testEnv(t, backend);
      if (!env) return;
      try {
        const first = rapid(['db', 'migrate', '--json', ...env.args]);
        assert.equal(first.code, 0, first.stderr);
        const j = JSON.parse(first.stdout);
        assert.equal(j.applied.length, loadMigrations().length);
        assert.match(first.stderr, backend === 'pglite' ? /database: PGlite in/ : /database: PostgreSQL at/);
        const again = rapid(['db', 'migrate', '--json', ...env.args]);
        assert.equal(again.code, 0, again.stderr);
        assert.deepEqual(JSON.parse(again.stdout), { applied: [], version: j.version });
      } finally {
        await env.cleanup();
      }
    });
  });
}

test('PGlite: a data folder is open in one process at a time (75), and a stale lock is taken over', async (t) => {
  const env = await testEnv(t, 'pglite');
  if (!env) return;
  try {
    const db = await env.open();
    try {
      await assert.rejects(
        openDatabase(env.config),
        (e: unknown) =>
          e instanceof RapidError && e.exitCode === ExitCode.TEMPORARY && /in use by process/.test(e.message),
      );
      const r = rapid(['status', '--json', ...env.args]);
      assert.equal(r.code, ExitCode.TEMPORARY);
      assert.match(r.stderr, /in use by process \d+/);
    } finally {
      await db.close();
    }
    // A lock left by a process that died.
    const { writeFile } = await import('node:fs/promises');
    await writeFile(`${(env.config.database as { dataDir: string }).dataDir}.lock`, '999999');
    const db2 = await env.open();
    await db2.close();
  } finally {
    await env.cleanup();
  }
});

test('PostgreSQL unreachable: a one-line error and exit 75', () => {
  const r = rapid(['status', '--database-url', 'postgres://nobody@127.0.0.1:1/none']);
  assert.equal(r.code, ExitCode.TEMPORARY, r.stderr);
  assert.match(r.stderr, /database unreachable/);
  assert.equal(
    r.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('rapid: ') && !l.includes('database:')).length,
    1,
  );
});
