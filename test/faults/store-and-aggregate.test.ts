/**
 * Fault classes that held before the operations issue, kept under test: a full disk under the
 * store (jobs fail with 75, nothing half-registered; with space again a relaunch completes), and
 * three aggregations at once on PostgreSQL (each result registered exactly once). Each ends
 * with the database and the store agreeing.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { storeAndDatabaseDisagree } from '../support/consistency.ts';
import { noopSurvey, rapid, rapidAsync, testEnv } from '../support/ops.ts';

/** Mount a tmpfs of `bytes` at `dir`: a disk that fills. Root only; false when it cannot. */
function mountSmallDisk(dir: string, bytes: number): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

test('a full disk under the store: jobs fail with 75 and nothing half-registered; with space again a relaunch completes', async (t) => {
  const env = await testEnv(t, 'pglite');
  if (!env) return;
  const disk = join(env.dir, 'disk');
  await mkdir(disk);
  if (!mountSmallDisk(disk, 4 << 20)) {
    const reason = 'cannot mount a tmpfs (needs root): the full-disk fault is not exercised';
    await env.cleanup();
    if (process.env.CI === 'true') assert.fail(`${reason}; it must run in CI`);
    console.error(`# SKIP: ${reason}`);
    t.skip(reason);
    return;
  }
  try {
    const store = join(disk, 'store');
    const args = ['--home', env.dir, '--store', store];
    const launch = await noopSurvey(env, 6, { catalogRows: 1500 }, args);
    // Leave about 300 kB: the first catalog or two fit, the rest do not.
    await writeFile(join(disk, 'filler'), Buffer.alloc((4 << 20) - 300_000));
    const full = rapid([...launch, '--jobs', '1', ...args]);
    assert.equal(full.code, 75, full.stderr);
    const summary = JSON.parse(full.stdout);
    assert.ok(summary.jobs.byExitCode['75'] >= 1, full.stdout);
    assert.equal(summary.jobs.byExitCode['70'], undefined, full.stdout);
    const agg1 = rapid(['aggregate', '--json', ...args]);
    assert.equal(agg1.code, 0, agg1.stderr);
    let db = await env.open();
    try {
      assert.deepEqual(await storeAndDatabaseDisagree(db), []);
    } finally {
      await db.close();
    }
    // Space again: the same launch runs what failed; every job has one registered result.
    await rm(join(disk, 'filler'));
    const again = rapid([...launch, ...args]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(rapid(['aggregate', ...args]).code, 0);
    db = await env.open();
    try {
      const [c] = await db.query<{ n: number; registered: number; sources: number }>(
        `SELECT count(*) AS n, count(aggregated_at) AS registered,
           (SELECT count(*) FROM diff_sources) AS sources FROM jobs`,
      );
      assert.deepEqual([Number(c.n), Number(c.registered), Number(c.sources)], [6, 6, 6 * 1500]);
      assert.deepEqual(await storeAndDatabaseDisagree(db), []);
    } finally {
      await db.close();
    }
  } finally {
    execFileSync('umount', [disk]);
    await env.cleanup();
  }
});

test('three aggregations at once on PostgreSQL: every result registered exactly once', async (t) => {
  const env = await testEnv(t, 'postgres');
  if (!env) return;
  try {
    const l = rapid([...(await noopSurvey(env, 24, { catalogRows: 40 })), ...env.args]);
    assert.equal(l.code, 0, l.stderr);
    const runs = await Promise.all(
      [0, 1, 2].map(() => rapidAsync(['aggregate', '--batch-size', '2', '--json', ...env.args])),
    );
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    const registered = runs.map((r) => JSON.parse(r.stdout).registered as number);
    assert.ok(registered.reduce((a, b) => a + b, 0) >= 24, `registered ${registered}`);
    const db = await env.open();
    try {
      const [c] = await db.query<{ registered: number; sources: number; dupes: number }>(
        `SELECT (SELECT count(*) FROM jobs WHERE aggregated_at IS NOT NULL) AS registered,
           (SELECT count(*) FROM diff_sources) AS sources,
           (SELECT count(*) FROM (SELECT job_id, number FROM diff_sources GROUP BY 1, 2 HAVING count(*) > 1) d) AS dupes`,
      );
      assert.deepEqual([Number(c.registered), Number(c.sources), Number(c.dupes)], [24, 24 * 40, 0]);
      assert.deepEqual(await storeAndDatabaseDisagree(db), []);
    } finally {
      await db.close();
    }
  } finally {
    await env.cleanup();
  }
});
