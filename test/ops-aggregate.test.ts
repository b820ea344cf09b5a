/** Aggregation on both backends: what it registers, idempotence, and a SIGKILL half way. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { aggregate } from '../src/ops/aggregate.ts';
import type { Db } from '../src/ops/db.ts';
import { insertImages } from '../src/ops/ingest.ts';
import { launch } from '../src/ops/launch.ts';
import { encodeDiffCatalog } from '../src/pipeline/catalog.ts';
import { toJson } from '../src/pipeline/manifest.ts';
import { runJob } from '../src/pipeline/runner.ts';
import { RESULT_VERSION, type ResultRecord } from '../src/pipeline/types.ts';
import { tileCentre, tileOf } from '../src/sky/tiles.ts';
import { openStore } from '../src/store/index.ts';
import { StoreRouter } from '../src/store/router.ts';
import type { ObjectStore } from '../src/store/store.ts';
import { BACKENDS, imageRecords, rapid, rapidProcess, TEST_TILE, testEnv } from './support/ops.ts';
import { waitFor } from './support/wait.ts';

/** Launch noop jobs over n images and run them in-process (each writes a catalog of `rows` sources). */
async function noopRun(db: Db, store: ObjectStore, n: number, rows: number): Promise<number> {
  await insertImages(db, imageRecords(n));
  const r = await launch(db, {
    from: new Date('2028-09-01T00:00:00Z'),
    to: new Date('2028-09-02T00:00:00Z'),
    pipeline: 'noop',
    executor: 'none',
    store,
    storeConfig: { root: store.root },
    config: { noop: { catalogRows: rows } },
  });
  for (const j of r.toRun) assert.equal((await runJob(j.manifestUri, { echo: false })).exitCode, 0);
  return r.runId;
}

async function counts(db: Db) {
  const [c] = await db.query<{ products: number; sources: number; aggregated: number; dupes: number }>(
    `SELECT (SELECT count(*) FROM products) AS products, (SELECT count(*) FROM diff_sources) AS sources,
       (SELECT count(*) FROM jobs WHERE aggregated_at IS NOT NULL) AS aggregated,
       (SELECT count(*) FROM (SELECT job_id, number FROM diff_sources GROUP BY 1, 2 HAVING count(*) > 1) d) AS dupes`,
  );
  return c;
}

for (const backend of BACKENDS) {
  describe(`aggregate on ${backend}`, () => {
    test('registers products, sources, job states and references from result records; idempotent', async (t) => {
      const env = await testEnv(t, backend);
      if (!env) return;
      const store = openStore(env.config.store);
      const stores = new StoreRouter();
      const db = await env.open();
      try {
        // Images on days 1–3 build a reference; day 4 gets a science job.
        await insertImages(db, [
          ...imageRecords(1, 1),
          ...imageRecords(1, 2),
          ...imageRecords(1, 3),
          ...imageRecords(2, 4),
        ]);
        const r = await launch(db, {
          from: new Date('2028-09-04T00:00:00Z'),
          to: new Date('2028-09-05T00:00:00Z'),
          executor: 'none',
          store,
          storeConfig: { root: store.root },
        });
        const ref = r.toRun.find((j) => j.stage === 1)!;
        const [sci, sci2] = r.toRun.filter((j) => j.stage === 2);
        // Fixtures in the aggregator's input format: a reference job's and a science job's result records.
        const put = async (uri: string, data: string | Uint8Array, kind: string) => ({
          kind,
          ...(await store.put(uri, data)),
        });
        const base = (jobId: number, pipeline: ResultRecord['pipeline']): ResultRecord => ({
          version: RESULT_VERSION,
          jobId,
          runId: r.runId,
          pipeline,
          status: 'succeeded',
          exitCode: 0,
          started: '2028-09-10T00:00:00.000Z',
          ended: '2028-09-10T00:00:42.000Z',
          elapsedSeconds: 42,
          steps: [{ name: 'zogy', start: '2028-09-10T00:00:01.000Z', seconds: 30, ok: true }],
          products: [],
          qa: {},
          counts: {},
          software: 'test',
          config: {},
          configHash: 'sha256:0',
          inputs: [],
          manifestUri: '',
          host: 'h',
          pid: 1,
          peakRssBytes: 1e9,
        });
        const refPrefix = `${store.root}/refimages/${TEST_TILE}/H158/v1/`;
        const refResult = base(ref.jobId, 'reference');
        refResult.products = [
          await put(`${refPrefix}refimage.fits`, 'img', 'refimage'),
          await put(`${refPrefix}refimage_cov.fits`, 'cov', 'refimage_cov'),
          await put(`${refPrefix}refimage_unc.fits`, 'unc', 'refimage_unc'),
        ];
        refResult.qa = { nInputs: 3, cov5percent: 0, zeroPoint: 30 };
        await store.put(ref.resultUri, toJson(refResult));
        const c = tileCentre(TEST_TILE);
        const cat = encodeDiffCatalog(
          [1, 2, 3].map((k) => ({
            number: k,
            x: 10 * k,
            y: 20 * k,
            ra: c.ra + k * 1e-4,
            dec: c.dec,
            fluxPsf: k % 2 ? 100 * k : -100 * k,
            fluxErrPsf: 5,
            magPsf: 25 - k,
            magErrPsf: 0.05,
            snrPsf: 20 * k,
            scorrPeak: 6 * k,
            isDiffPos: k % 2 === 1,
            fwhm: 1.6,
            elongation: 1.1,
            flags: k === 3 ? 2 : 0,
          })),
        );
        const sciResult = base(sci.jobId, 'science');
        const prefix = sci.resultUri.replace(/result\.json$/, '');
        sciResult.products = [
          await put(`${prefix}diffimage_masked.fits`, 'd', 'diffimage'),
          await put(`${prefix}diffimage_masked.cat.fits`, cat, 'diffcat'),
        ];
        sciResult.qa = { fluxScale: 1.01, diffRms: Number.NaN };
        sciResult.counts = { sources: 3 };
        await store.put(sci.resultUri, toJson(sciResult));
        // sci2 has no result yet.

        const a = await aggregate(db, { stores });
        assert.deepEqual(
          { registered: a.registered, missing: a.missing, products: a.products, sources: a.sources },
          { registered: 2, missing: 1, products: 5, sources: 3 },
        );
        const src = await db.query<Record<string, unknown>>('SELECT * FROM diff_sources ORDER BY number');
        assert.equal(src.length, 3);
        assert.deepEqual(
          src.map((s) => [s.number, s.isdiffpos, s.flags, s.mag_psf]),
          [
            [1, true, 0, 24],
            [2, false, 0, 23],
            [3, true, 2, 22],
          ],
        );
        assert.ok(Math.abs(Number(src[0].ra) - (c.ra + 1e-4)) < 1e-9);
        assert.equal(src[0].filter, 'F158');
        assert.ok(Number(src[0].mjd) > 0);
        assert.equal(src[0].hpix, tileOf(Number(src[0].ra), Number(src[0].dec), 16384));
        const [job] = await db.query<Record<string, unknown>>('SELECT * FROM jobs WHERE id = $1', [
          sci.jobId,
        ]);
        assert.equal(job.status, 'succeeded');
        assert.equal(job.exit_code, 0);
        assert.equal(job.elapsed, 42);
        assert.deepEqual(
          (job.steps as { name: string }[]).map((s) => s.name),
          ['zogy'],
        );
        assert.deepEqual(job.qa, { fluxScale: 1.01, diffRms: null });
        assert.deepEqual(job.counts, { sources: 3 });
        const [refRow] = await db.query<Record<string, unknown>>('SELECT * FROM refimages');
        assert.equal(refRow.status, 'ready');
        assert.equal(refRow.image_checksum, refResult.products[0].checksum);
        // Idempotent: nothing new, nothing changed.
        const before = await counts(db);
        const again = await aggregate(db, { stores });
        assert.equal(again.registered, 0);
        assert.deepEqual(await counts(db), before);
        // A re-launch now finds the reference's checksums in the database.
        const r2 = await launch(db, {
          from: new Date('2028-09-04T00:00:00Z'),
          to: new Date('2028-09-05T00:00:00Z'),
          executor: 'none',
          store,
          storeConfig: { root: store.root },
        });
        const m2 = JSON.parse(await store.getText(r2.toRun.find((j) => j.jobId === sci2.jobId)!.manifestUri));
        assert.equal(m2.reference.image.checksum, refResult.products[0].checksum);
        // An unreadable result record is reported, and the command exits 65.
        await store.put(sci2.resultUri, '{"version": 1, "jobId": "x"');
        const cli = rapid(['aggregate', ...env.args], {});
        if (backend === 'pglite') {
          // PGlite allows one process at a time: this one still has the database open.
          assert.equal(cli.code, 75);
        } else {
          assert.equal(cli.code, 65, cli.stderr);
          assert.match(cli.stderr, /result record is not JSON/);
        }
      } finally {
        await db.close();
        await stores.close();
        await store.close();
        await env.cleanup();
      }
    });

    test('SIGKILL half way through, then a rerun: exactly the right rows', async (t) => {
      const env = await testEnv(t, backend);
      if (!env) return;
      const store = openStore(env.config.store);
      const n = 300;
      const rows = 25;
      try {
        let db = await env.open();
        try {
          await noopRun(db, store, n, rows);
        } finally {
          await db.close();
        }
        // Job 100's result record becomes a named pipe: reading it blocks, so aggregation cannot
        // pass its batch, and the kill lands half way whatever the machine's speed.
        const jobs = await (async () => {
          const d = await env.open();
          try {
            return await d.query<{ id: number; result_uri: string }>(
              'SELECT id, result_uri FROM jobs ORDER BY id',
            );
          } finally {
            await d.close();
          }
        })();
        const blocked = jobs[99].result_uri;
        const saved = await readFile(blocked);
        await unlink(blocked);
        execFileSync('mkfifo', [blocked]);
        const child = rapidProcess(['aggregate', '--batch-size', '10', ...env.args]);
        let stderr = '';
        child.stderr.setEncoding('utf8').on('data', (s: string) => {
          stderr += s;
        });
        const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
        await waitFor(() => {
          const m = [...stderr.matchAll(/"done":(\d+)/g)];
          return m.length > 0 && Number(m[m.length - 1][1]) >= 60;
        }, 'aggregation to register 60 records');
        child.kill('SIGKILL');
        await closed;
        assert.equal(child.signalCode, 'SIGKILL', `aggregate ended before the kill: ${stderr}`);
        await unlink(blocked);
        await writeFile(blocked, saved);
        db = await env.open();
        try {
          const mid = await counts(db);
          assert.ok(mid.aggregated > 0 && mid.aggregated < n, `half way: ${mid.aggregated} of ${n}`);
          assert.equal(mid.sources, mid.aggregated * rows, 'committed batches are whole');
        } finally {
          await db.close();
        }
        const rerun = rapid(['aggregate', '--json', ...env.args]);
        assert.equal(rerun.code, 0, rerun.stderr);
        db = await env.open();
        try {
          const end = await counts(db);
          assert.deepEqual(end, { products: n * 2, sources: n * rows, aggregated: n, dupes: 0 });
          const perJob = await db.query<{ n: number }>(
            'SELECT count(*) AS n FROM diff_sources GROUP BY job_id HAVING count(*) <> $1',
            [rows],
          );
          assert.deepEqual(perJob, []);
        } finally {
          await db.close();
        }
        const third = rapid(['aggregate', '--json', ...env.args]);
        assert.equal(JSON.parse(third.stdout).registered, 0);
      } finally {
        await store.close();
        await env.cleanup();
      }
    });
  });
}
