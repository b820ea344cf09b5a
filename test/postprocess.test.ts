/**
 * Post-processing end to end on a simulated survey, through the `rapid` command: two runs
 * (launch, aggregate, postprocess each), then alerts and objects. Science quality against the
 * simulator's truth: each transient detected at two epochs or more is one object; forced
 * photometry agrees with the true difference fluxes.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { consumeAlerts, decodeAlertFile, deleteAlertStream, validateAlert } from '../src/alerts/index.ts';
import { parseFits, verifyBytes } from '../src/fits/index.ts';
import type { Db } from '../src/ops/db.ts';
import { loadImage } from '../src/pipeline/load.ts';
import { parseResult } from '../src/pipeline/manifest.ts';
import { simulateSurvey } from '../src/sim/simulate.ts';
import { sha256 } from '../src/store/store.ts';
import { Wcs } from '../src/wcs/index.ts';
import { NATS_URL, requireNats } from './support/alerts.ts';
import { type CliResult, postgresAvailable, rapidAsync, type TestEnv, testEnv } from './support/ops.ts';
import {
  associationQuality,
  lightCurvePulls,
  quietInReference,
  type ReferenceEpoch,
  readTransients,
} from './support/transients.ts';

let env: TestEnv;
let sim: string;
let db: Db;
const outputs: Record<string, unknown> = {};

/** Without PostgreSQL (locally only), each test skips with the reason. */
function ready(t: TestContext): boolean {
  if (env) return true;
  console.error('# SKIP: PostgreSQL is not reachable (set RAPID_TEST_PG_URL; .ci/run starts it)');
  t.skip('PostgreSQL is not reachable');
  return false;
}

const ok = (r: CliResult, what: string) => assert.equal(r.code, 0, `${what}: ${r.stderr}`);
const json = (r: CliResult) => JSON.parse(r.stdout);

// PostgreSQL: the test reads the database while the commands run (PGlite takes one process).
before(async () => {
  if (!(await postgresAvailable())) {
    if (process.env.CI === 'true')
      throw new Error('PostgreSQL is not reachable; the post-processing tests must run in CI');
    return;
  }
  env = (await testEnv({ skip() {} } as never, 'postgres'))!;
  sim = join(env.dir, 'sim');
  // Epochs 0–2 build the reference; 3–6 are run 1, 7–9 run 2.
  await simulateSurvey(sim, {
    tiles: 1,
    epochs: 10,
    size: 400,
    starDensity: 30000,
    transientsPerImage: 250,
    seed: 12,
    workers: 1,
    transientsFrom: '2028-09-16',
  });
  const a = env.args;
  ok(await rapidAsync(['ingest', sim, ...a]), 'ingest');
  for (const [run, from, to] of [
    [1, '2028-09-16', '2028-10-06'],
    [2, '2028-10-06', '2028-10-21'],
  ] as const) {
    ok(await rapidAsync(['launch', '--from', from, '--to', to, '--jobs', '2', ...a]), `launch ${run}`);
    ok(await rapidAsync(['aggregate', ...a]), `aggregate ${run}`);
    const p = await rapidAsync(['postprocess', '--json', ...a]);
    ok(p, `postprocess ${run}`);
    outputs[`postprocess${run}`] = json(p);
  }
  db = await env.open();
});
after(async () => {
  await db?.close();
  await env?.cleanup();
});

describe('rapid postprocess', () => {
  test('run 2 adds detections to run 1 objects; post-processing again changes nothing', async (t) => {
    if (!ready(t)) return;
    const p1 = outputs.postprocess1 as { association: { newObjects: number }; forced: { planned: number } };
    const p2 = outputs.postprocess2 as { run: number; association: { updatedObjects: number } };
    assert.ok(p1.association.newObjects > 20, JSON.stringify(p1));
    assert.equal(p1.forced.planned, 4);
    assert.equal(p2.run, 2);
    assert.ok(p2.association.updatedObjects > 5, JSON.stringify(p2));
    const before = await db.query<{ n: number }>('SELECT count(*) AS n FROM objects');
    const again = await rapidAsync(['postprocess', '--json', ...env.args]);
    ok(again, 'postprocess again');
    const s = json(again);
    assert.deepEqual(s.stamped, { jobs: 0, products: 0 });
    assert.equal(s.association.sources, 0);
    assert.equal(s.forced.planned, 0);
    assert.ok(s.forced.unchanged >= 2);
    const after = await db.query<{ n: number }>('SELECT count(*) AS n FROM objects');
    assert.equal(Number(after[0].n), Number(before[0].n));
  });

  test('products carry their database ids; checksums, products table and result record agree', async (t) => {
    if (!ready(t)) return;
    const jobs = await db.query<{ id: number; image_id: number; refimage_id: number; result_uri: string }>(
      "SELECT id, image_id, refimage_id, result_uri FROM jobs WHERE pipeline = 'science' AND stamped_at IS NOT NULL",
    );
    assert.equal(jobs.length, 7);
    for (const j of jobs) {
      const products = await db.query<{ id: number; uri: string; checksum: string; bytes: number }>(
        'SELECT id, uri, checksum, bytes FROM products WHERE job_id = $1',
        [j.id],
      );
      const diff = products.find((p) => p.uri.endsWith('/diffimage_masked.fits'))!;
      const result = parseResult(await readFile(j.result_uri, 'utf8'), j.result_uri);
      const recorded = new Map(result.products.map((p) => [p.uri, p.checksum]));
      for (const p of products.filter((x) => x.uri.endsWith('.fits'))) {
        const bytes = await readFile(p.uri);
        assert.equal(sha256(bytes), p.checksum, p.uri);
        assert.equal(bytes.length, Number(p.bytes));
        assert.equal(recorded.get(p.uri), p.checksum, `${p.uri}: result record`);
        const h = parseFits(bytes).hdus[0].header;
        assert.equal(h.get('JOBID'), Number(j.id));
        assert.equal(h.get('SCIIMID'), Number(j.image_id));
        assert.equal(h.get('REFIMID'), Number(j.refimage_id));
        assert.equal(h.get('DIFIMID'), Number(diff.id));
        for (const hdu of verifyBytes(bytes).hdus)
          assert.notEqual(hdu.checksum, 'bad', `${p.uri} HDU ${hdu.index}`);
      }
      const rec = await db.query<{ result_checksum: string }>(
        'SELECT result_checksum FROM jobs WHERE id = $1',
        [j.id],
      );
      assert.equal(rec[0].result_checksum, sha256(await readFile(j.result_uri)));
    }
  });

  test('science quality: one object per transient; forced photometry agrees with the truth', async (t) => {
    if (!ready(t)) return;
    const truth = await readTransients(sim);
    const detections = (
      await db.query<{ id: number; ra: number; dec: number; mjd: number; object_id: number }>(
        'SELECT id, ra, dec, mjd, object_id FROM diff_sources WHERE object_id IS NOT NULL',
      )
    ).map((r) => ({ id: Number(r.id), ra: r.ra, dec: r.dec, mjd: r.mjd, objectId: Number(r.object_id) }));
    const q = associationQuality(truth, detections);
    console.log(
      `# association: ${q.oneObject} of ${q.eligible} transients detected at ≥ 2 epochs are one object; ` +
        `${q.splits.length} split, ${q.merges.length} objects merge transients (${q.blends.length} of them closer than 0.4″, twice the radius)`,
    );
    assert.ok(q.eligible >= 15, `only ${q.eligible} transients detected twice`);
    assert.ok(q.oneObject / q.eligible >= 0.95, `${q.oneObject}/${q.eligible}`);
    // Transients closer than twice the cross-match radius cannot be told apart by position.
    const merges = q.merges.filter((o) => !q.blends.includes(o));
    assert.ok(merges.length <= Math.max(1, 0.05 * q.eligible), `merges: ${merges.join(', ')}`);

    // The reference's inputs, to know which covered each transient.
    const refs = await db.query<{ uri: string; mjd: number; hdu: number; width: number; height: number }>(
      'SELECT i.uri, i.mjd, i.hdu, i.width, i.height FROM refimage_inputs ri JOIN images i ON i.id = ri.image_id',
    );
    const reference: ReferenceEpoch[] = await Promise.all(
      refs.map(async (r) => {
        const wcs = Wcs.fromHeader((await loadImage(r.uri, r.hdu)).header);
        return {
          mjd: r.mjd,
          covers: (ra: number, dec: number) => {
            const p = wcs.skyToPixel(ra, dec);
            return p.x >= 2 && p.y >= 2 && p.x < r.width - 3 && p.y < r.height - 3;
          },
        };
      }),
    );
    const forced = (
      await db.query<{ object_id: number; mjd: number; flux: number; flux_err: number }>(
        'SELECT object_id, mjd, flux, flux_err FROM forced_sources WHERE flags = 0',
      )
    ).map((r) => ({ objectId: Number(r.object_id), mjd: r.mjd, flux: r.flux, fluxErr: r.flux_err }));
    const stats = (p: number[]) => {
      const mean = p.reduce((a, b) => a + b, 0) / p.length;
      return {
        n: p.length,
        mean,
        sd: Math.sqrt(p.reduce((a, b) => a + (b - mean) ** 2, 0) / (p.length - 1)),
      };
    };
    const all = stats(lightCurvePulls(truth, q.objectOf, forced, reference));
    // Supernovae and flares start after the reference season (--transients-from), so their true
    // difference flux is exactly their flux; variable stars are in the reference, where the
    // co-add's clipping makes their reference flux uncertain, so they are left out.
    // Transients closer than 0.4″ to another (the association's blend distance) are measured
    // together by forced photometry at either position, so their truth is not exact either.
    const everyTransient = [...truth.values()];
    const blended = (t: (typeof everyTransient)[number]) =>
      everyTransient.some(
        (u) =>
          u !== t &&
          Math.hypot((u.ra - t.ra) * Math.cos((t.dec * Math.PI) / 180), u.dec - t.dec) * 3600 < 0.4,
      );
    const exact = (hosted: boolean) =>
      new Map(
        [...q.objectOf].filter(([id]) => {
          const t = truth.get(id)!;
          return (
            t.model !== undefined && t.hosted === hosted && quietInReference(t, reference, 50) && !blended(t)
          );
        }),
      );
    const hostless = lightCurvePulls(truth, exact(false), forced, reference);
    const hosted = lightCurvePulls(truth, exact(true), forced, reference);
    const robust = (p: number[]) => {
      const sorted = [...p].sort((a, b) => a - b);
      const med = sorted[sorted.length >> 1];
      return 1.4826 * p.map((x) => Math.abs(x - med)).sort((a, b) => a - b)[p.length >> 1];
    };
    const line = (name: string, p: number[]) => {
      const s = stats(p);
      return `${name} n=${s.n} mean ${s.mean.toFixed(2)} σ ${s.sd.toFixed(2)} robust σ ${robust(p).toFixed(2)}`;
    };
    const floors = (
      outputs.postprocess2 as { forced: { psfFloor: Record<string, { fraction: number; samples: number }> } }
    ).forced.psfFloor;
    console.log(
      `# forced photometry pulls: ${line('all matched transients', lightCurvePulls(truth, q.objectOf, forced, reference))}; ` +
        `with an exact truth: ${line('hostless', hostless)}; ${line('on a galaxy', hosted)}; ` +
        `PSF floor ${Object.entries(floors)
          .map(([f, v]) => `${f} ${(100 * v.fraction).toFixed(2)}% (${v.samples} checks)`)
          .join(', ')}`,
    );
    assert.ok(all.n >= 30, `only ${all.n} light-curve points`);
    // Issue 9 asks for a pull σ of 1.0 ± 0.15: on galaxies, without blends, it is 1.04 (robust
    // 0.88) with the PSF model's floor in the errors (1.65% of the flux, measured on the run's
    // images: PSF fluxes against apertures, 7 checks of objects seen twice or more, what the
    // static scene leaves in each aperture in its variance), 1.40 without it; 1.13 (robust 0.98)
    // with the floor of 1.2% that the checks gave before issue 16, when they took a galaxy's
    // residual under the aperture for the model's error; 2.86 when the objects' positions
    // were the barycentres of their detections and PSF fits started wherever the windowed
    // centroid slid to; robust 1.99 without the template-residual term. A wrong PSF, position or
    // scale gives robust σ of 5 and more.
    assert.ok(
      hostless.length >= 5 && hosted.length >= 30,
      `${hostless.length} + ${hosted.length} exact points`,
    );
    assert.ok(robust(hostless) < 1.5, line('hostless', hostless));
    assert.ok(robust(hosted) < 1.2 && Math.abs(stats(hosted).sd - 1) <= 0.15, line('on a galaxy', hosted));
    // The floor the run measured, and re-running post-processing (first test) kept it.
    assert.ok(
      floors.F158.samples >= 5 && floors.F158.fraction > 0 && floors.F158.fraction < 0.05,
      JSON.stringify(floors),
    );
  });
});

describe('rapid alerts', () => {
  test('one packet per vetted source with an object; files decode, validate and carry the cutouts', async (t) => {
    if (!ready(t)) return;
    const out = join(env.dir, 'alerts');
    const r = await rapidAsync(['alerts', '--run', '1', '--out', out, '--json', ...env.args]);
    ok(r, 'alerts');
    const s = json(r);
    const expected = await db.query<{ n: number }>(
      `SELECT count(*) AS n FROM diff_sources s JOIN run_jobs rj ON rj.job_id = s.job_id
       WHERE rj.run_id = 1 AND s.object_id IS NOT NULL AND coalesce(s.vetflags, 0) = 0`,
    );
    assert.equal(s.packets, Number(expected[0].n));
    assert.equal(s.skipped, 0);
    const files = (await readdir(out)).filter((f) => f.endsWith('.avro'));
    assert.equal(files.length, s.files.length);
    let packets = 0;
    let withHistory = 0;
    for (const f of files) {
      const d = await decodeAlertFile(await readFile(join(out, f)), f);
      for (const p of d.packets) {
        validateAlert(p);
        packets++;
        assert.equal(p.alertId, p.diaSource.diaSourceId);
        assert.equal(p.diaObject?.diaObjectId, p.diaSource.diaObjectId);
        if ((p.prvDiaForcedSources?.length ?? 0) > 0 || (p.prvDiaSources?.length ?? 0) > 0) withHistory++;
        for (const stamp of [p.cutoutScience, p.cutoutTemplate, p.cutoutDifference]) {
          const fits = parseFits(gunzipSync(stamp!));
          assert.deepEqual(fits.hdus[0].shape, [63, 63]);
          // The stamp's WCS puts the source at the stamp's centre (within a pixel).
          const c = Wcs.fromHeader(fits.hdus[0].header).skyToPixel(p.diaSource.ra, p.diaSource.dec);
          assert.ok(Math.abs(c.x - 31) <= 1 && Math.abs(c.y - 31) <= 1, `${c.x}, ${c.y}`);
        }
      }
    }
    assert.equal(packets, s.packets);
    // Run 1 has four epochs: most of its objects' later packets have a history.
    assert.ok(withHistory > 0);
  });

  test('publishing to NATS JetStream: every packet once, again without duplicates', async (t) => {
    if (!ready(t) || !(await requireNats(t))) return;
    const stream = `RAPID_TEST_PP_${process.pid}`;
    try {
      const args = ['alerts', '--run', '2', '--out', join(env.dir, 'alerts2'), '--publish', NATS_URL];
      const r = await rapidAsync([...args, '--stream', stream, '--json', ...env.args]);
      ok(r, 'alerts --publish');
      const s = json(r);
      assert.equal(s.published.published, s.packets);
      const again = json(await rapidAsync([...args, '--stream', stream, '--json', ...env.args]));
      assert.equal(again.published.published, 0);
      assert.equal(again.published.duplicates, s.packets);
      const got = await consumeAlerts(NATS_URL, { stream });
      assert.equal(got.length, s.packets);
      assert.deepEqual(new Set(got.map((g) => g.packet.alertId)).size, s.packets);
    } finally {
      await deleteAlertStream(NATS_URL, stream);
    }
  });
});

describe('rapid object', () => {
  test('a light curve as a table, as JSON and as a PNG; bad input gets its exit code', async (t) => {
    if (!ready(t)) return;
    const o = await db.query<{ id: number; name: string }>(
      'SELECT id, name FROM objects ORDER BY n_detections DESC, id LIMIT 1',
    );
    const r = await rapidAsync(['object', o[0].name, '--json', ...env.args]);
    ok(r, 'object --json');
    const j = json(r);
    assert.equal(j.object.id, Number(o[0].id));
    const kinds = new Set(j.lightCurve.map((p: { kind: string }) => p.kind));
    assert.deepEqual([...kinds].sort(), ['detection', 'forced']);
    const png = join(env.dir, 'lc.png');
    const table = await rapidAsync(['object', String(o[0].id), '--plot', png, ...env.args]);
    ok(table, 'object --plot');
    assert.match(table.stdout, new RegExp(`# object ${o[0].id} \\(${o[0].name}\\)`));
    assert.equal(table.stdout.trim().split('\n').length, 2 + j.lightCurve.length);
    assert.deepEqual([...(await readFile(png)).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    assert.equal((await rapidAsync(['object', '999999', ...env.args])).code, 66);
    assert.equal((await rapidAsync(['postprocess', '--radius', '-1', ...env.args])).code, 64);
    assert.equal((await rapidAsync(['postprocess', '--run', '99', ...env.args])).code, 66);
  });
});
