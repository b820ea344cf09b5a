/**
 * A PostgreSQL connection lost in the middle of `rapid aggregate` (issue 17, case 5): the server
 * ends the command's backends (pg_terminate_backend, as a restart or an administrator would)
 * once it has begun registering. The command must end with one line and exit 75 (temporary:
 * retry), not die of an unhandled 'error' event (exit 1); and since aggregation is safe to run
 * again, a second run registers every job exactly once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { insertImages } from '../../src/ops/ingest.ts';
import { launch } from '../../src/ops/launch.ts';
import { runJob } from '../../src/pipeline/runner.ts';
import { openStore } from '../../src/store/index.ts';
import { storeAndDatabaseDisagree } from '../support/consistency.ts';
import { imageRecords, PG_ADMIN_URL, rapid, rapidProcess, testEnv } from '../support/ops.ts';

const JOBS = 240;
const ROWS = 25;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('PostgreSQL connection terminated mid-aggregate: one line, exit 75; the rerun registers every job once', async (t) => {
  const env = await testEnv(t, 'postgres');
  if (!env) return;
  const store = openStore(env.config.store);
  const dbName = new URL((env.config.database as { url: string }).url).pathname.slice(1);
  const pg = (await import('pg')).default;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    // Noop jobs run in process, each writing a result record and a catalog of ROWS sources.
    const db = await env.open();
    try {
      await insertImages(db, imageRecords(JOBS));
      const r = await launch(db, {
        from: new Date('2028-09-01T00:00:00Z'),
        to: new Date('2028-09-02T00:00:00Z'),
        pipeline: 'noop',
        executor: 'none',
        store,
        storeConfig: { root: store.root },
        config: { noop: { catalogRows: ROWS } },
      });
      assert.equal(r.toRun.length, JOBS);
      for (const j of r.toRun) assert.equal((await runJob(j.manifestUri, { echo: false })).exitCode, 0);
    } finally {
      await db.close();
    }

    const child = rapidProcess(['aggregate', '--batch-size', '5', ...env.args]);
    let stderr = '';
    let registering = false;
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      // Its progress lines: {"event":"progress","what":"aggregate","done":N,…} after each batch.
      if ([...stderr.matchAll(/"done":(\d+)/g)].some((m) => Number(m[1]) >= 10)) registering = true;
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    let ended = false;
    void exited.then(() => {
      ended = true;
    });
    // Once it has registered some batches, end its backends (again, while it is still running:
    // a connection idle in the pool at that moment is simply replaced, as it should be).
    let terminated = 0;
    while (!ended) {
      if (registering) {
        const rows = await admin.query(
          'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
          [dbName],
        );
        terminated += rows.rowCount ?? 0;
      }
      await sleep(registering ? 20 : 50);
    }
    const code = await exited;
    assert.ok(registering, `aggregate ended before it had registered anything: ${stderr}`);
    assert.ok(terminated > 0, 'a backend was terminated');
    const lines = stderr
      .split('\n')
      .filter((l) => l.trim() !== '' && !/^rapid: database: |^\{"event":"progress"/.test(l));
    assert.equal(code, 75, `exit ${code}; standard error:\n${stderr}`);
    assert.equal(lines.length, 1, `one line expected:\n${stderr}`);
    assert.match(
      lines[0],
      /^rapid: PostgreSQL at .*: lost the connection to the database \(.*\); retry .*safe to run again/,
    );
    assert.doesNotMatch(stderr, /Unhandled 'error' event|internal error|\n\s+at /);

    // Aggregation is safe to run again: every job registered exactly once.
    const rerun = rapid(['aggregate', '--json', ...env.args]);
    assert.equal(rerun.code, 0, rerun.stderr);
    const db2 = await env.open();
    try {
      const [c] = await db2.query<{ products: number; sources: number; aggregated: number; dupes: number }>(
        `SELECT (SELECT count(*) FROM products) AS products, (SELECT count(*) FROM diff_sources) AS sources,
           (SELECT count(*) FROM jobs WHERE aggregated_at IS NOT NULL) AS aggregated,
           (SELECT count(*) FROM (SELECT job_id, number FROM diff_sources GROUP BY 1, 2 HAVING count(*) > 1) d) AS dupes`,
      );
      assert.deepEqual(c, { products: JOBS * 2, sources: JOBS * ROWS, aggregated: JOBS, dupes: 0 });
      const perJob = await db2.query(
        'SELECT job_id FROM diff_sources GROUP BY job_id HAVING count(*) <> $1',
        [ROWS],
      );
      assert.deepEqual(perJob, []);
      assert.deepEqual(await storeAndDatabaseDisagree(db2), []);
    } finally {
      await db2.close();
    }
  } finally {
    await admin.end();
    await store.close();
    await env.cleanup();
  }
});
