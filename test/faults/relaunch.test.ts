/**
 * Fault classes 1 and 2 of the operations issue: a second reference version of a tile can be
 * launched (its manifest's format version is not the reference's version), and aggregation
 * never registers a result record left by an earlier launch of the same job.
 * Each ends with the same check: the database and the store agree.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { aggregate } from '../../src/ops/aggregate.ts';
import { type Db, migrate, openMemoryDb } from '../../src/ops/db.ts';
import { ingest } from '../../src/ops/ingest.ts';
import { launch } from '../../src/ops/launch.ts';
import { parseManifest, parseResult } from '../../src/pipeline/manifest.ts';
import { runJob } from '../../src/pipeline/runner.ts';
import { simulateSurvey } from '../../src/sim/simulate.ts';
import { openStore } from '../../src/store/index.ts';
import { StoreRouter } from '../../src/store/router.ts';
import { storeAndDatabaseDisagree } from '../support/consistency.ts';

async function memoryDb(): Promise<Db> {
  const db = await openMemoryDb();
  await migrate(db);
  return db;
}

test('a second reference version of a tile launches and builds (the manifest format stays version 1)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rapid-faults-refv2-'));
  const db = await memoryDb();
  const store = openStore(join(dir, 'store'));
  const stores = new StoreRouter();
  try {
    const sim = await simulateSurvey(join(dir, 'sim'), {
      tiles: 1,
      epochs: 5,
      filters: ['F158'],
      size: 128,
      seed: 5,
      workers: 1,
    });
    await ingest(db, [join(dir, 'sim')]);
    const epochs = [...sim.epochs].sort((a, b) => a.mjd - b.mjd);
    const day = (e: { dateObs: string }, d = 0) => new Date(new Date(e.dateObs).getTime() + d * 43_200_000);
    const base = {
      executor: 'none',
      store,
      storeConfig: { root: store.root },
      config: { reference: { threads: 1 } },
    };
    // The last epoch: a reference v1 from the four before it.
    const first = await launch(db, { ...base, from: day(epochs[4], -1), to: day(epochs[4], 1) });
    assert.equal(first.references.planned, 1);
    // The fourth epoch: v1 holds a later frame, so a v2 from the three before it.
    const second = await launch(db, { ...base, from: day(epochs[3], -1), to: day(epochs[3], 1) });
    assert.equal(second.references.planned, 1);
    const refJob = second.toRun.find((j) => j.pipeline === 'reference')!;
    const m = parseManifest(await readFile(refJob.manifestUri, 'utf8'), refJob.manifestUri);
    assert.equal(m.version, 1);
    assert.equal(m.pipeline, 'reference');
    if (m.pipeline === 'reference') {
      assert.equal(m.referenceVersion, 2);
      assert.match(m.referencePrefix, /\/v2\/$/);
    }
    // It runs, and the reference registers as v2, ready.
    const r = await runJob(refJob.manifestUri, { echo: false });
    assert.equal(r.exitCode, 0, r.message);
    const agg = await aggregate(db, { runId: second.runId, stores });
    assert.equal(agg.registered, 1);
    const refs = await db.query<{ version: number; status: string; n_inputs: number }>(
      'SELECT version, status, n_inputs FROM refimages ORDER BY version',
    );
    assert.deepEqual(
      refs.map((x) => [x.version, x.status, x.n_inputs]),
      [
        [1, 'planned', 4],
        [2, 'ready', 3],
      ],
    );
    assert.deepEqual(await storeAndDatabaseDisagree(db), []);
  } finally {
    await stores.close();
    await store.close();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('aggregate never registers a result record of an earlier launch; the current one registers when it lands', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rapid-faults-stale-'));
  const db = await memoryDb();
  const store = openStore(join(dir, 'store'));
  const stores = new StoreRouter();
  try {
    const sim = await simulateSurvey(join(dir, 'sim'), {
      tiles: 1,
      epochs: 4,
      filters: ['F158'],
      size: 64,
      seed: 9,
      workers: 1,
    });
    await ingest(db, [join(dir, 'sim')]);
    const range = {
      from: new Date(sim.epochs[0].dateObs),
      to: new Date(new Date(sim.epochs[sim.epochs.length - 1].dateObs).getTime() + 86_400_000),
    };
    const base = {
      ...range,
      pipeline: 'noop' as const,
      executor: 'none',
      store,
      storeConfig: { root: store.root },
    };
    const run1 = await launch(db, { ...base, config: { noop: { catalogRows: 3 } } });
    const n = run1.toRun.length;
    assert.ok(n >= 4);
    for (const j of run1.toRun) assert.equal((await runJob(j.manifestUri, { echo: false })).exitCode, 0);
    // Run 1's records are registered; a forced relaunch (run 2) is not run yet.
    assert.equal((await aggregate(db, { stores })).registered, n);
    const run2 = await launch(db, { ...base, force: true, config: { noop: { catalogRows: 5 } } });
    assert.equal(run2.toRun.length, n);
    const before = await aggregate(db, { stores });
    assert.equal(before.registered, 0, 'records of run 1 must not pass for run 2’s');
    assert.equal(before.stale, n);
    // A second forced relaunch (run 3) leaves run 2 never run; run 3's jobs run now.
    const run3 = await launch(db, { ...base, force: true, config: { noop: { catalogRows: 7 } } });
    for (const j of run3.toRun) assert.equal((await runJob(j.manifestUri, { echo: false })).exitCode, 0);
    const after = await aggregate(db, { stores });
    assert.deepEqual([after.registered, after.stale], [n, 0]);
    const rows = await db.query<{ run_id: number; sources: number }>(
      `SELECT j.run_id, (SELECT count(*) FROM diff_sources s WHERE s.job_id = j.id) AS sources
       FROM jobs j ORDER BY j.id`,
    );
    assert.ok(rows.every((r) => Number(r.run_id) === run3.runId && Number(r.sources) === 7));
    for (const j of run3.toRun) {
      const res = parseResult(await readFile(j.resultUri, 'utf8'), j.resultUri);
      assert.equal(res.runId, run3.runId);
    }
    assert.deepEqual(await storeAndDatabaseDisagree(db), []);
  } finally {
    await stores.close();
    await store.close();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
});
