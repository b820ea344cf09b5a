/**
 * Post-processing on the demo's survey (`rapid demo`: Roman-like F158 and F106 at 1024², the
 * simulator's default star, galaxy and cosmic-ray densities), one tile of it, through the `rapid`
 * command: the PSF model's floor must be the models' error, and forced-photometry errors must
 * match the scatter of fluxes about the truth.
 *
 * This is where the floor went wrong (issue 16): 19% in F158 and 38% in F106 on `rapid demo`,
 * against 1–2% on the CI survey. With ~75 stars per image, of which 10–20 isolated and bright
 * enough for a PSF, star selection took the cosmic-ray tracks for the stellar locus on 3 of the
 * demo's 24 images (PSF fluxes 49%, 46% and 11% low against the truth); the cosmic rays that
 * passed the vetting cuts made 75 of the 83 checks of PSF fluxes against apertures; and where a
 * check was a supernova on a galaxy, the aperture held some of the galaxy's residual (a check
 * of −13% where the PSF flux was right to 1%).
 *
 * The survey has more transients than the demo's (25 per image instead of 5), starting with the
 * science epochs, so that enough light curves have an exact truth to judge the errors by.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import type { Db } from '../src/ops/db.ts';
import { loadImage } from '../src/pipeline/load.ts';
import { simulateSurvey } from '../src/sim/simulate.ts';
import { Wcs } from '../src/wcs/index.ts';
import { type CliResult, rapidAsync, type TestEnv, testEnv } from './support/ops.ts';
import {
  associationQuality,
  lightCurvePulls,
  quietInReference,
  type ReferenceEpoch,
  readTransients,
} from './support/transients.ts';

let env: TestEnv | undefined;
let sim: string;
let db: Db | undefined;
let summary: { forced: { psfFloor: Record<string, { fraction: number; samples: number }> } };

const ok = (r: CliResult, what: string) => assert.equal(r.code, 0, `${what}: ${r.stderr.slice(-2000)}`);

// The demo's survey (DEFAULT_DEMO: seed 1, 6 epochs, 1024², F158 and F106), one tile of it; its
// transients start with the science epochs, so that the references hold none of their light and
// the true difference flux is exactly the transient's flux (the demo's own do not: its
// references hold some of theirs, blurred by the co-add's clipping). About 75 s on two cores.
const EPOCHS = ['2028-09-01', '2028-09-06', '2028-09-11', '2028-09-16', '2028-09-21', '2028-09-26'];

before(async () => {
  env = await testEnv({ skip() {} } as never, 'pglite');
  if (!env) throw new Error('no test environment');
  sim = join(env.dir, 'sim');
  await simulateSurvey(sim, {
    tiles: 1,
    epochs: EPOCHS.length,
    filters: ['F158', 'F106'],
    size: 1024,
    seed: 1,
    transientsPerImage: 25,
    transientsFrom: EPOCHS[3],
    workers: 2,
  });
  const a = env.args;
  ok(await rapidAsync(['ingest', sim, ...a]), 'ingest');
  ok(await rapidAsync(['launch', '--from', EPOCHS[3], '--to', '2028-09-27', '--jobs', '2', ...a]), 'launch');
  ok(await rapidAsync(['aggregate', ...a]), 'aggregate');
  const p = await rapidAsync(['postprocess', '--json', '--jobs', '2', ...a]);
  ok(p, 'postprocess');
  summary = JSON.parse(p.stdout);
  db = await env.open();
});
after(async () => {
  await db?.close();
  await env?.cleanup();
});

describe('rapid postprocess on the demo survey', () => {
  test('the PSF floor is the models’ error; forced-photometry pulls have σ 1', async (_t: TestContext) => {
    const floors = summary.forced.psfFloor;
    const truth = await readTransients(sim);
    const detections = (
      await db!.query<{ id: number; ra: number; dec: number; mjd: number; object_id: number }>(
        'SELECT id, ra, dec, mjd, object_id FROM diff_sources WHERE object_id IS NOT NULL',
      )
    ).map((r) => ({ id: Number(r.id), ra: r.ra, dec: r.dec, mjd: r.mjd, objectId: Number(r.object_id) }));
    const q = associationQuality(truth, detections);
    const refs = await db!.query<{
      uri: string;
      mjd: number;
      hdu: number;
      width: number;
      height: number;
      filter: string;
    }>(
      'SELECT i.uri, i.mjd, i.hdu, i.width, i.height, i.filter FROM refimage_inputs ri JOIN images i ON i.id = ri.image_id',
    );
    const reference: (ReferenceEpoch & { filter: string })[] = await Promise.all(
      refs.map(async (r) => {
        const wcs = Wcs.fromHeader((await loadImage(r.uri, r.hdu)).header);
        return {
          mjd: r.mjd,
          filter: r.filter,
          covers: (ra: number, dec: number) => {
            const p = wcs.skyToPixel(ra, dec);
            return p.x >= 2 && p.y >= 2 && p.x < r.width - 3 && p.y < r.height - 3;
          },
        };
      }),
    );
    const rows = await db!.query<{
      object_id: number;
      mjd: number;
      filter: string;
      flux: number;
      flux_err: number;
    }>('SELECT object_id, mjd, filter, flux, flux_err FROM forced_sources WHERE flags = 0');
    // Exact truth: supernovae and flares (no light before the science epochs), not within 0.4″
    // of another transient (forced photometry measures blends together).
    const all = [...truth.values()];
    const sep = (a: { ra: number; dec: number }, b: { ra: number; dec: number }) =>
      Math.hypot((a.ra - b.ra) * Math.cos((b.dec * Math.PI) / 180), a.dec - b.dec) * 3600;
    const pullsOf = (filter?: string) => {
      const ref = reference.filter((r) => filter === undefined || r.filter === filter);
      const exact = new Map(
        [...q.objectOf].filter(([id]) => {
          const t = truth.get(id)!;
          return (
            t.model !== undefined &&
            quietInReference(t, ref, 50) &&
            !all.some((u) => u !== t && sep(u, t) < 0.4)
          );
        }),
      );
      const forced = rows
        .filter((r) => filter === undefined || r.filter === filter)
        .map((r) => ({ objectId: Number(r.object_id), mjd: r.mjd, flux: r.flux, fluxErr: r.flux_err }));
      return lightCurvePulls(truth, exact, forced, ref);
    };
    const stats = (p: number[]) => {
      const mean = p.reduce((a, b) => a + b, 0) / p.length;
      const sd = Math.sqrt(p.reduce((a, b) => a + (b - mean) ** 2, 0) / (p.length - 1));
      const sorted = [...p].sort((a, b) => a - b);
      const med = sorted[p.length >> 1];
      const robust = 1.4826 * p.map((x) => Math.abs(x - med)).sort((a, b) => a - b)[p.length >> 1];
      return { n: p.length, mean, sd, robust };
    };
    const line = (name: string, p: number[]) => {
      const s = stats(p);
      return `${name} n=${s.n} mean ${s.mean.toFixed(2)} σ ${s.sd.toFixed(2)} robust σ ${s.robust.toFixed(2)}`;
    };
    const pulls = pullsOf();
    console.log(
      `# demo survey: PSF floor ${Object.entries(floors)
        .map(([f, v]) => `${f} ${(100 * v.fraction).toFixed(2)}% (${v.samples} checks)`)
        .join(
          ', ',
        )}; forced photometry pulls against exact truth: ${line('all', pulls)}; ${line('F158', pullsOf('F158'))}; ${line('F106', pullsOf('F106'))}`,
    );
    // A model made from 10–20 stars errs by 1–2% of the flux (with the sub-pixel phase): PSF
    // fluxes of the simulated stars on these images, fitted with the pipeline's models, scatter
    // by 1–3% about the truth, noise included. Well above that, the checks measure something
    // other than the model. Before issue 16: F158 4.8% (22 checks), F106 9.5% (35), pulls σ 0.73.
    for (const f of ['F158', 'F106'])
      assert.ok(floors[f] && floors[f].samples >= 10 && floors[f].fraction < 0.05, JSON.stringify(floors));
    assert.ok(pulls.length >= 30, `only ${pulls.length} exact light-curve points`);
    const s = stats(pulls);
    assert.ok(Math.abs(s.sd - 1) <= 0.15, line('all', pulls));
  });
});
