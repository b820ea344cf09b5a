/**
 * End to end on a tiny simulated survey, through the `rapid` command: simulate, ingest, launch
 * (local executor), aggregate, status, report; on PGlite, on PostgreSQL, and with the S3 store
 * on s3rver. And `rapid demo` at a small size.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { simulateSurvey } from '../src/sim/simulate.ts';
import { type CliResult, rapidAsync, SFFT_PRODUCTS, startS3, testEnv } from './support/ops.ts';

let sim: string;
let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'rapid-e2e-'));
  sim = join(root, 'sim');
  // Enough stars for the science jobs' PSFs on small images.
  await simulateSurvey(sim, { tiles: 1, epochs: 5, size: 320, starDensity: 30000, seed: 5, workers: 1 });
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const ok = (r: CliResult, what: string, code = 0) => assert.equal(r.code, code, `${what}: ${r.stderr}`);

async function pipeline(args: string[], env: NodeJS.ProcessEnv = {}) {
  const ing = await rapidAsync(['ingest', sim, ...args], { env });
  ok(ing, 'ingest');
  assert.equal(JSON.parse(ing.stdout).inserted, 5);
  // Epochs 0–4 are 5 days apart from 2028-09-01: epochs 3 and 4 are differenced against 0–2.
  const launch = await rapidAsync(
    ['launch', '--from', '2028-09-16', '--to', '2028-09-30', '--jobs', '2', ...args],
    { env },
  );
  const summary = JSON.parse(launch.stdout);
  assert.deepEqual(summary.references, { planned: 1, reused: 0 });
  assert.equal(summary.jobs.total, 3);
  ok(launch, 'launch');
  assert.deepEqual(summary.jobs.byExitCode, { '0': 3 });
  const agg = await rapidAsync(['aggregate', '--json', ...args], { env });
  ok(agg, 'aggregate');
  const registered = JSON.parse(agg.stdout);
  assert.equal(registered.registered, 3);
  // Science jobs run ZOGY and SFFT: both catalogs are registered, each source with its method.
  assert.ok(registered.sources > 0 && registered.sfftSources > 0, agg.stdout);
  const st = await rapidAsync(['status', '--json', ...args], { env });
  ok(st, 'status');
  const s = JSON.parse(st.stdout);
  assert.equal(s.images, 5);
  assert.equal(s.references, 1);
  assert.equal(s.jobs.total, 3);
  assert.equal(s.jobs.byStatus.succeeded, 3);
  assert.ok(s.products >= 12);
  assert.equal(s.sources, registered.sources);
  assert.equal(s.sfftSources, registered.sfftSources);
  const out = join(root, `report-${Math.random().toString(36).slice(2)}`);
  const rep = await rapidAsync(['report', '--out', out, ...args], { env });
  ok(rep, 'report');
  const html = await readFile(join(out, 'index.html'), 'utf8');
  assert.match(html, /job-times\.png/);
  // The two methods side by side against the simulation's truth.
  assert.match(html, /changed truth objects found: ZOGY \| SFFT<\/th><td>\d+ of \d+/);
  // A second launch of the same range redoes nothing that succeeded.
  const again = await rapidAsync(['launch', '--from', '2028-09-16', '--to', '2028-09-30', ...args], { env });
  assert.equal(JSON.parse(again.stdout).jobs.alreadyDone, 3);
  return s;
}

describe('end to end', () => {
  test('PGlite and a folder store (the embedded defaults)', async (t) => {
    const env = await testEnv(t, 'pglite');
    if (!env) return;
    try {
      await pipeline(env.args);
    } finally {
      await env.cleanup();
    }
  });

  test('PostgreSQL and a folder store', async (t) => {
    const env = await testEnv(t, 'postgres');
    if (!env) return;
    try {
      await pipeline(env.args);
    } finally {
      await env.cleanup();
    }
  });

  test('PGlite and the S3 store on s3rver', async (t) => {
    const env = await testEnv(t, 'pglite');
    if (!env) return;
    const s3 = await startS3('survey');
    try {
      const args = ['--home', env.dir, '--store', 's3://survey/ops', '--s3-endpoint', s3.endpoint];
      await pipeline(args);
      const { openStore } = await import('../src/store/index.ts');
      const store = openStore('s3://survey/ops', { endpoint: s3.endpoint });
      const keys: string[] = [];
      for await (const o of store.list('s3://survey/ops/refimages/')) keys.push(o.uri);
      const all: string[] = [];
      for await (const o of store.list('s3://survey/ops/')) all.push(o.uri);
      await store.close();
      assert.equal(keys.filter((k) => /refimage(_cov|_unc)?\.fits$/.test(k)).length, 3);
      // SFFT's products, with RAPID's names, beside ZOGY's for each of the 2 science jobs.
      for (const name of [...SFFT_PRODUCTS, 'diffimage_masked.fits'])
        assert.equal(all.filter((k) => k.endsWith(`/${name}`)).length, 2, name);
    } finally {
      await s3.close();
      await env.cleanup();
    }
  });

  test('rapid demo --dir DIR at a small size', async () => {
    const dir = join(root, 'demo');
    const r = await rapidAsync([
      'demo',
      '--dir',
      dir,
      '--tiles',
      '1',
      '--epochs',
      '4',
      '--size',
      '512',
      '--filters',
      'F158',
      '--jobs',
      '2',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.report, join(dir, 'report', 'index.html'));
    assert.ok(existsSync(out.report));
    assert.match(r.stderr, /demo: done; the report is .*index\.html/);
  });
});
