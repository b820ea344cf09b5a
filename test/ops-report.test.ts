/** rapid report: figures (PNG, SVG), index.html, and science quality against truth files. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { aggregate } from '../src/ops/aggregate.ts';
import { migrate, openMemoryDb } from '../src/ops/db.ts';
import { ingest } from '../src/ops/ingest.ts';
import { launch } from '../src/ops/launch.ts';
import { parseTruth, truthPathFor, writeReport } from '../src/ops/report.ts';
import { encodeDiffCatalog } from '../src/pipeline/catalog.ts';
import { toJson } from '../src/pipeline/manifest.ts';
import { RESULT_VERSION } from '../src/pipeline/types.ts';
import { openStore } from '../src/store/index.ts';
import { StoreRouter } from '../src/store/router.ts';
import { fakeImage } from './support/ops.ts';

test('truth files are found beside OpenUniverse-layout images', () => {
  assert.equal(
    truthPathFor('/d/sim/images/simple_model/H158/12/Roman_TDS_simple_model_H158_12_3.fits.gz'),
    '/d/sim/truth/H158/12/Roman_TDS_index_H158_12_3.txt',
  );
  assert.equal(
    truthPathFor('/x/images/simple_model/H158/12/Roman_TDS_simple_model_H158_12_3.fits', '/t'),
    '/t/truth/H158/12/Roman_TDS_index_H158_12_3.txt',
  );
  assert.equal(truthPathFor('/x/plain.fits'), undefined);
  const rows = parseTruth(
    'object_id ra dec x y realized_flux flux mag obj_type\n7 1 2 3.5 4.5 10 11 25 transient\n',
  );
  assert.deepEqual(rows, [{ id: '7', x: 3.5, y: 4.5, flux: 11, mag: 25, type: 'transient' }]);
});

test('figures and index.html; completeness and false positives against truth', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rapid-report-'));
  const db = await openMemoryDb();
  await migrate(db);
  const store = openStore(join(dir, 'store'));
  const stores = new StoreRouter();
  try {
    // Five epochs of one pointing in OpenUniverse's layout, with truth: a transient that appears
    // at epoch 4 (found), one too faint to find (missed), and a star (never counted).
    const truthHeader = 'object_id ra dec x y realized_flux flux mag obj_type';
    for (let e = 1; e <= 5; e++) {
      const img = join(dir, 'sim', 'images', 'simple_model', 'H158', String(e));
      const tru = join(dir, 'sim', 'truth', 'H158', String(e));
      await mkdir(img, { recursive: true });
      await mkdir(tru, { recursive: true });
      await writeFile(
        join(img, `Roman_TDS_simple_model_H158_${e}_1.fits`),
        fakeImage({ ra: 9.6, dec: -44, date: `2028-09-0${e}`, zp: 30 }),
      );
      const lines = [truthHeader, '1 9.6 -44 30 30 1000 1000 22.5 star'];
      if (e >= 4)
        lines.push('2 9.6 -44 20 20 100 100 25 transient', '3 9.6 -44 40 40 0.1 0.1 32.5 transient');
      await writeFile(join(tru, `Roman_TDS_index_H158_${e}_1.txt`), `${lines.join('\n')}\n`);
    }
    await ingest(db, [join(dir, 'sim')]);
    const r = await launch(db, {
      from: new Date('2028-09-04'),
      to: new Date('2028-09-06'),
      executor: 'none',
      store,
      storeConfig: { root: store.root },
    });
    assert.equal(r.toRun.length, 3);
    // Result records as the jobs would write them: the reference, then two science jobs whose
    // catalogs hold the transient (at 1-based 21, 21) and one spurious source.
    const started = Date.parse('2028-09-10T00:00:00Z');
    let k = 0;
    for (const j of r.toRun) {
      const prefix = j.resultUri.replace(/result\.json$/, '');
      const products = [];
      if (j.stage === 2) {
        const cat = encodeDiffCatalog(
          [
            [21.2, 20.9],
            [50, 12],
          ].map(([x, y], i) => ({
            number: i + 1,
            x,
            y,
            ra: 9.6,
            dec: -44,
            fluxPsf: 100,
            fluxErrPsf: 5,
            magPsf: 25,
            magErrPsf: 0.05,
            snrPsf: 20,
            scorrPeak: 8,
            isDiffPos: true,
            fwhm: 1.5,
            elongation: 1,
            flags: 0,
          })),
        );
        products.push({ kind: 'diffcat', ...(await store.put(`${prefix}diffimage_masked.cat.fits`, cat)) });
      }
      const s = started + k * 30_000;
      k++;
      await store.put(
        j.resultUri,
        toJson({
          version: RESULT_VERSION,
          jobId: j.jobId,
          runId: r.runId,
          pipeline: j.pipeline,
          status: 'succeeded',
          exitCode: 0,
          started: new Date(s).toISOString(),
          ended: new Date(s + 20_000 + k * 1000).toISOString(),
          elapsedSeconds: 20 + k,
          steps: [],
          products,
          qa: {},
          counts: {},
          software: 't',
          config: {},
          configHash: 'sha256:0',
          inputs: [],
          manifestUri: '',
          host: 'h',
          pid: 1,
          peakRssBytes: 1,
        }),
      );
    }
    await aggregate(db, { stores });
    const out = join(dir, 'report');
    const s = await writeReport(db, { out, stores });
    const names = s.figures.map((f) => f.name);
    assert.deepEqual(names, [
      'job-times',
      'time-vs-ref-inputs',
      'throughput',
      'failures',
      'completeness',
      'false-positives',
    ]);
    for (const f of s.figures) {
      const png = await readFile(join(out, f.png));
      assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], `${f.png} is a PNG`);
      assert.match(await readFile(join(out, f.svg), 'utf8'), /^<svg/);
    }
    const html = await readFile(join(out, 'index.html'), 'utf8');
    for (const n of names) assert.ok(html.includes(`${n}.png`) && html.includes(`${n}.svg`));
    assert.match(html, /changed truth objects found/);
    assert.ok(s.truth);
    assert.equal(s.truth.images, 2);
    // Per image: the transient at mag 25 is found, the 32.5 one is beyond the faint limit.
    assert.deepEqual([s.truth.injected, s.truth.recovered], [2, 2]);
    assert.equal(s.truth.falsePositives, 2);
    assert.equal(s.jobs.count, 3);
  } finally {
    await stores.close();
    await store.close();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
});
