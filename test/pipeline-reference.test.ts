/** The reference job on a small simulated survey: co-add, products under refimages/, QA, exit codes. */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseFits, readImage } from '../src/fits/index.ts';
import { estimatePsf, psfFromFits } from '../src/image/psf/index.ts';
import { openMemoryDb } from '../src/ops/db.ts';
import { ingest } from '../src/ops/ingest.ts';
import { launch } from '../src/ops/launch.ts';
import { runJob } from '../src/pipeline/runner.ts';
import type { ReferenceManifest } from '../src/pipeline/types.ts';
import { simulateSurvey } from '../src/sim/simulate.ts';
import { openStore, sha256 } from '../src/store/index.ts';

let dir: string;
let refManifest: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rapid-reference-'));
  await simulateSurvey(join(dir, 'sim'), { tiles: 1, epochs: 5, size: 128, seed: 3, workers: 1 });
  const db = await openMemoryDb();
  const { migrate } = await import('../src/ops/db.ts');
  await migrate(db);
  const store = openStore(join(dir, 'store'));
  try {
    await ingest(db, [join(dir, 'sim')]);
    const r = await launch(db, {
      from: new Date('2028-09-21T00:00:00Z'),
      to: new Date('2028-10-01T00:00:00Z'),
      executor: 'none',
      store,
      storeConfig: { root: store.root },
      config: { reference: { threads: 1 } },
    });
    refManifest = r.toRun.find((j) => j.pipeline === 'reference')!.manifestUri;
  } finally {
    await db.close();
  }
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('co-adds the inputs into refimage, coverage and uncertainty under refimages/<tile>/<band>/v1/', async () => {
  const m = JSON.parse(await readFile(refManifest, 'utf8')) as ReferenceManifest;
  assert.equal(m.inputs.length, 4);
  const r = await runJob(refManifest, { echo: false });
  assert.equal(r.exitCode, 0, r.message);
  const res = r.result!;
  assert.deepEqual(
    res.steps.map((s) => s.name),
    ['grid', 'coadd', 'psf', 'write'],
  );
  assert.equal(res.qa.nInputs, 4);
  assert.equal(typeof res.qa.cov5percent, 'number');
  assert.deepEqual(res.counts, { inputs: 4 });
  assert.equal(res.inputs.length, 4);
  const byKind = Object.fromEntries(res.products.map((p) => [p.kind, p]));
  for (const k of ['refimage', 'refimage_cov', 'refimage_unc']) {
    assert.ok(byKind[k].uri.startsWith(m.referencePrefix), byKind[k].uri);
    const bytes = await readFile(byKind[k].uri);
    assert.equal(sha256(bytes), byKind[k].checksum);
  }
  const fits = parseFits(await readFile(byKind.refimage.uri));
  const img = readImage(fits.hdus[0]);
  assert.equal(fits.hdus[0].header.get('NCOMBINE'), 4);
  assert.equal(fits.hdus[0].header.get('TILE'), m.tile);
  const cov = readImage(parseFits(await readFile(byKind.refimage_cov.uri)).hdus[0]);
  assert.equal(cov.width, img.width);
  let max = 0;
  for (const v of cov.data as Int16Array) max = Math.max(max, v);
  assert.equal(max, 4);
  // The grid is cropped to where the inputs land: about an input's size, not a whole tile.
  assert.ok(img.width < 400 && img.height < 400, `${img.width}×${img.height}`);
  // The co-add's PSF, for its science jobs: the model estimated on the co-add, read back from
  // refimage_psf.fits, gives the same stamps (to the float32 of the file) and FWHM.
  assert.ok(byKind.refimage_psf, 'refimage_psf product');
  assert.ok(byKind.refimage_psf.uri.startsWith(m.referencePrefix));
  assert.ok(Number(res.qa.psfStars) >= 3, `${res.qa.psfStars} stars`);
  const stored = psfFromFits(parseFits(await readFile(byKind.refimage_psf.uri)));
  const est = estimatePsf(
    { width: img.width, height: img.height, data: img.data as Float32Array },
    { minStars: 3 },
  );
  for (const [x, y] of [
    [img.width / 2, img.height / 2],
    [10.3, 20.7],
  ]) {
    const a = stored.stamp(x, y);
    const b = est.psf.stamp(x, y);
    assert.equal(a.length, b.length);
    const peak = Math.max(...b);
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-5 * peak, `pixel ${i}`);
  }
  assert.ok(Math.abs(stored.fwhm(img.width / 2, img.height / 2) - Number(res.qa.psfFwhm)) < 1e-4);
});

test('an input that changed since ingest: 65; too few inputs: 33', async () => {
  const m = JSON.parse(await readFile(refManifest, 'utf8')) as ReferenceManifest;
  const bad = { ...m, inputs: m.inputs.map((i, k) => (k === 1 ? { ...i, checksum: sha256('other') } : i)) };
  const p1 = join(dir, 'bad.json');
  await writeFile(p1, JSON.stringify(bad));
  const r1 = await runJob(p1, { echo: false });
  assert.equal(r1.exitCode, 65);
  assert.match(r1.message!, /checksum mismatch/);
  const few = { ...m, inputs: m.inputs.slice(0, 2) };
  const p2 = join(dir, 'few.json');
  await writeFile(p2, JSON.stringify(few));
  const r2 = await runJob(p2, { echo: false });
  assert.equal(r2.exitCode, 33);
  assert.match(r2.message!, /at least 3 needed/);
});
