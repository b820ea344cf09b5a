/** Launch on both backends: one query, reference planning, job rows, manifests, stable ids, --force. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Db, Queryable } from '../src/ops/db.ts';
import { type ImageRecord, insertImages } from '../src/ops/ingest.ts';
import { launch } from '../src/ops/launch.ts';
import { mjdFromDate } from '../src/ops/time.ts';
import { validateManifest } from '../src/pipeline/manifest.ts';
import type { ReferenceManifest, ScienceManifest } from '../src/pipeline/types.ts';
import { tileCentre, tileOf } from '../src/sky/tiles.ts';
import { openStore } from '../src/store/index.ts';
import { BACKENDS, testEnv } from './support/ops.ts';

const TILE_A = tileOf(9.6, -44);
const TILE_B = tileOf(12.0, -44);

function record(i: number, tile: number, day: number, filter = 'F158', offset = 0): ImageRecord {
  const c = tileCentre(tile);
  const date = new Date(Date.UTC(2028, 8, day));
  return {
    uri: `/survey/img-${i}.fits`,
    checksum: `sha256:${String(i).padStart(64, '0')}`,
    bytes: 1000,
    filter,
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
    tile,
    ra: c.ra + offset,
    dec: c.dec,
    footprint: [c.ra, c.dec, c.ra, c.dec, c.ra, c.dec, c.ra, c.dec],
    tiles: [tile],
  };
}

/** Tile A: 6 epochs (days 1…6); tile B: 2 epochs (days 4, 5): no reference possible there. */
async function seed(db: Db): Promise<void> {
  const recs: ImageRecord[] = [];
  for (let d = 1; d <= 6; d++) recs.push(record(d, TILE_A, d, 'F158', (6 - d) * 0.001));
  recs.push(record(10, TILE_B, 4), record(11, TILE_B, 5));
  await insertImages(db, recs);
}

/** Counts the statements run outside transactions, and the transactions. */
function counting(db: Db): { db: Db; queries: () => number; transactions: () => number } {
  let q = 0;
  let t = 0;
  const wrapped: Db = {
    kind: db.kind,
    description: db.description,
    query: (sql, params) => {
      q++;
      return db.query(sql, params);
    },
    exec: (sql) => db.exec(sql),
    copyFrom: (table, columns, rows) => {
      q++;
      return db.copyFrom(table, columns, rows);
    },
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) => {
      t++;
      return db.transaction(fn);
    },
    close: () => db.close(),
  };
  return { db: wrapped, queries: () => q, transactions: () => t };
}

for (const backend of BACKENDS) {
  describe(`launch on ${backend}`, () => {
    test('plans references, records jobs in one batch per stage, writes valid manifests; re-launch reuses', async (t) => {
      const env = await testEnv(t, backend);
      if (!env) return;
      const store = openStore(env.config.store);
      const db = await env.open();
      try {
        await seed(db);
        const c = counting(db);
        const base = {
          from: new Date('2028-09-04T00:00:00Z'),
          to: new Date('2028-09-07T00:00:00Z'),
          executor: 'none',
          store,
          storeConfig: { root: store.root },
          procDate: '20280910',
        };
        const r = await launch(c.db, base);
        assert.equal(c.queries(), 1, 'one database query to plan');
        assert.equal(c.transactions(), 1, 'one transaction to write');
        assert.equal(r.images, 5);
        assert.deepEqual(r.references, { planned: 1, reused: 0 });
        assert.deepEqual(
          {
            total: r.jobs.total,
            toRun: r.jobs.toRun,
            noReference: r.jobs.noReference,
            stage1: r.jobs.stage1,
          },
          { total: 6, toRun: 4, noReference: 2, stage1: 1 },
        );
        const ref = r.toRun.find((j) => j.stage === 1)!;
        const sci = r.toRun.filter((j) => j.stage === 2);
        assert.equal(sci.length, 3);
        assert.ok(sci.every((j) => j.dependsOn === ref.jobId));
        // Manifests: valid, versioned, under <store>/<procdate>/jid<jid>/.
        const rm = validateManifest(
          JSON.parse(await store.getText(ref.manifestUri)),
          ref.manifestUri,
        ) as ReferenceManifest;
        assert.equal(rm.pipeline, 'reference');
        assert.equal(rm.version, 1);
        assert.equal(rm.outputPrefix, `${store.root}/20280910/jid${ref.jobId}/`);
        assert.equal(ref.manifestUri, `${store.root}/20280910/jid${ref.jobId}/manifest.json`);
        assert.equal(rm.referencePrefix, `${store.root}/refimages/${TILE_A}/H158/v1/`);
        // Inputs: the three frames before the earliest science image, nearest the tile centre first.
        assert.deepEqual(
          rm.inputs.map((i) => i.uri),
          ['/survey/img-3.fits', '/survey/img-2.fits', '/survey/img-1.fits'],
        );
        const sm = validateManifest(
          JSON.parse(await store.getText(sci[0].manifestUri)),
          sci[0].manifestUri,
        ) as ScienceManifest;
        assert.equal(sm.pipeline, 'science');
        assert.equal(sm.reference.image.uri, `${store.root}/refimages/${TILE_A}/H158/v1/refimage.fits`);
        assert.equal(sm.reference.image.checksum, undefined);
        assert.equal(sm.reference.resultUri, `${store.root}/20280910/jid${ref.jobId}/result.json`);
        assert.ok(sm.reference.maxInputMjd < sm.science.mjd);
        assert.equal(sm.science.filter, 'F158');

        const rows = await db.query<{
          id: number;
          key: string;
          status: string;
          exit_code: number | null;
          message: string | null;
        }>('SELECT id, key, status, exit_code, message FROM jobs ORDER BY id');
        const noRef = rows.filter((x) => x.exit_code === 33);
        assert.equal(noRef.length, 2);
        assert.ok(noRef.every((x) => x.status === 'failed' && /only 0 prior frames/.test(x.message ?? '')));
        const refRows = await db.query<{ n_inputs: number; status: string }>(
          'SELECT n_inputs, status FROM refimages',
        );
        assert.deepEqual(refRows, [{ n_inputs: 3, status: 'planned' }]);
        assert.equal((await db.query<{ n: number }>('SELECT count(*) AS n FROM refimage_inputs'))[0].n, 3);

        // Re-launch: same job ids, no new reference, nothing new planned.
        const again = await launch(db, { ...base, procDate: '20280911' });
        assert.deepEqual(again.references, { planned: 0, reused: 1 });
        assert.deepEqual(again.toRun.map((j) => j.jobId).sort(), r.toRun.map((j) => j.jobId).sort());
        // Outputs stay where they were.
        assert.equal(
          again.toRun[0].manifestUri,
          r.toRun.find((j) => j.jobId === again.toRun[0].jobId)!.manifestUri,
        );
        assert.equal((await db.query<{ n: number }>('SELECT count(*) AS n FROM jobs'))[0].n, 6);

        // Finished jobs are not redone unless forced.
        await db.query("UPDATE jobs SET status = 'succeeded', exit_code = 0 WHERE status = 'queued'");
        const done = await launch(db, base);
        assert.equal(done.jobs.toRun, 0);
        assert.equal(done.jobs.alreadyDone, 4);
        const forced = await launch(db, { ...base, force: true });
        assert.equal(forced.jobs.toRun, 4);
        const st = await db.query<{ status: string; n: number }>(
          'SELECT status, count(*) AS n FROM jobs GROUP BY status ORDER BY status',
        );
        assert.deepEqual(st, [
          { status: 'failed', n: 2 },
          { status: 'queued', n: 4 },
        ]);
        // Each run lists its jobs.
        assert.equal(
          (
            await db.query<{ n: number }>('SELECT count(*) AS n FROM run_jobs WHERE run_id = $1', [
              forced.runId,
            ])
          )[0].n,
          6,
        );
      } finally {
        await db.close();
        await store.close();
        await env.cleanup();
      }
    });

    test('reference window, minimum and maximum, filters, noop pipeline', async (t) => {
      const env = await testEnv(t, backend);
      if (!env) return;
      const store = openStore(env.config.store);
      const db = await env.open();
      try {
        await seed(db);
        const base = { executor: 'none', store, storeConfig: { root: store.root } };
        // A window over days 2–5 for science days 4–6: day 4's image is inside it (33); 5 is later than
        // the latest input (day 4, since the window ends before day 5), 6 too.
        const w = await launch(db, {
          ...base,
          from: new Date('2028-09-04T00:00:00Z'),
          to: new Date('2028-09-07T00:00:00Z'),
          filter: 'H158',
          refFrom: new Date('2028-09-02T00:00:00Z'),
          refTo: new Date('2028-09-04T12:00:00Z'),
        });
        assert.equal(w.references.planned, 1);
        const jobs = await db.query<{ image_id: number; exit_code: number | null; uri: string }>(
          `SELECT j.image_id, j.exit_code, i.uri FROM jobs j JOIN images i ON i.id = j.image_id
           WHERE j.pipeline = 'science' ORDER BY i.mjd, i.uri`,
        );
        const byUri = Object.fromEntries(jobs.map((j) => [j.uri, j.exit_code]));
        assert.equal(byUri['/survey/img-4.fits'], 33);
        assert.equal(byUri['/survey/img-5.fits'], null);
        assert.equal(byUri['/survey/img-6.fits'], null);
        const refs = await db.query<{ n_inputs: number; window_from: number }>(
          'SELECT n_inputs, window_from FROM refimages ORDER BY id',
        );
        assert.equal(refs[0].n_inputs, 3);
        assert.ok(Math.abs(refs[0].window_from - mjdFromDate(new Date('2028-09-02T00:00:00Z'))) < 1e-9);
        // A larger minimum makes tile A impossible too.
        const strict = await launch(db, {
          ...base,
          from: new Date('2028-09-06T00:00:00Z'),
          to: new Date('2028-09-07T00:00:00Z'),
          minRefInputs: 10,
        });
        assert.equal(strict.jobs.noReference, 1);
        // A smaller maximum: at most 2 inputs.
        await assert.rejects(
          launch(db, {
            ...base,
            from: new Date('2028-09-06'),
            to: new Date('2028-09-07'),
            minRefInputs: 3,
            maxRefInputs: 2,
          }),
          /minimum/,
        );
        // A minimum below the reference pipeline's default reaches the reference job's configuration:
        // tile B's day-5 image gets a reference of its one earlier frame, which the job then accepts.
        const small = await launch(db, {
          ...base,
          from: new Date('2028-09-05T00:00:00Z'),
          to: new Date('2028-09-06T00:00:00Z'),
          minRefInputs: 1,
        });
        const refJobs = small.toRun.filter((j) => j.pipeline === 'reference');
        assert.ok(refJobs.length >= 1);
        for (const j of refJobs) {
          const m = JSON.parse(Buffer.from(await store.get(j.manifestUri)).toString('utf8'));
          assert.equal(m.config.minInputs, 1);
          assert.ok(m.inputs.length >= 1);
        }
        // Another filter has no images at all.
        const none = await launch(db, {
          ...base,
          from: new Date('2028-09-01'),
          to: new Date('2028-09-30'),
          filter: 'F062',
        });
        assert.equal(none.images, 0);
        // The noop pipeline: one job per image, no references.
        const noop = await launch(db, {
          ...base,
          from: new Date('2028-09-01'),
          to: new Date('2028-09-30'),
          pipeline: 'noop',
          config: { noop: { sleepMs: 0 } },
        });
        assert.equal(noop.jobs.toRun, 8);
        assert.ok(noop.toRun.every((j) => j.pipeline === 'noop' && j.dependsOn === undefined));
        await assert.rejects(
          launch(db, { ...base, from: new Date('2028-09-05'), to: new Date('2028-09-01') }),
          /must be before/,
        );
      } finally {
        await db.close();
        await store.close();
        await env.cleanup();
      }
    });
  });
}
