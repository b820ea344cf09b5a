/** The job runner: manifests in, products and the result record out; exit codes; no database. */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeDiffCatalog } from '../src/pipeline/catalog.ts';
import { configHash, parseResult } from '../src/pipeline/manifest.ts';
import { runJob } from '../src/pipeline/runner.ts';
import { MANIFEST_VERSION, type Manifest } from '../src/pipeline/types.ts';
import { openStore, sha256 } from '../src/store/index.ts';
import { rapid, rapidAsync, scienceInput, startS3 } from './support/ops.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rapid-runner-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function manifest(
  root: string,
  jobId: number,
  extra: Record<string, unknown>,
  config: Record<string, unknown> = {},
): Manifest {
  return {
    version: MANIFEST_VERSION,
    jobId,
    runId: 1,
    procDate: '20280907',
    outputPrefix: `${root}/20280907/jid${jobId}/`,
    store: { root },
    config,
    configHash: configHash(config),
    created: new Date().toISOString(),
    software: 'test',
    pipeline: 'noop',
    ...extra,
  } as Manifest;
}

/** A science job's reference (a 3-input F158 reference of tile 1) with these files. */
function referenceInput(files: Record<string, { uri: string; checksum?: string }>) {
  return {
    referenceId: 1,
    tile: 1,
    nside: 512,
    filter: 'F158',
    version: 1,
    ...files,
    nInputs: 3,
    maxInputMjd: 61990,
    resultUri: '/r/result.json',
  };
}

async function put(path: string, m: unknown): Promise<string> {
  await writeFile(path, JSON.stringify(m));
  return path;
}

test('noop job: result record written last, with steps, products, checksums, config hash', async () => {
  const root = join(dir, 'store1');
  const m = manifest(root, 7, { science: scienceInput() }, { catalogRows: 4 });
  const uri = await put(join(dir, 'm7.json'), m);
  const r = await runJob(uri, { echo: false });
  assert.equal(r.exitCode, 0);
  const text = await readFile(join(root, '20280907/jid7/result.json'), 'utf8');
  const res = parseResult(text, 'result');
  assert.equal(res.status, 'succeeded');
  assert.equal(res.jobId, 7);
  assert.equal(res.pipeline, 'noop');
  assert.equal(res.configHash, m.configHash);
  assert.deepEqual(res.config, { catalogRows: 4 });
  assert.deepEqual(
    res.steps.map((s) => s.name),
    ['noop', 'catalog'],
  );
  assert.ok(res.steps.every((s) => s.ok && s.seconds >= 0));
  assert.match(res.software, /^rapid-ts /);
  assert.ok(res.peakRssBytes > 0);
  const kinds = res.products.map((p) => p.kind).sort();
  assert.deepEqual(kinds, ['diffcat', 'log']);
  for (const p of res.products) {
    const bytes = await readFile(p.uri);
    assert.equal(sha256(bytes), p.checksum);
    assert.equal(bytes.length, p.bytes);
  }
  const cat = decodeDiffCatalog(await readFile(join(root, '20280907/jid7/diffimage_masked.cat.fits')), 'cat');
  assert.equal(cat.length, 4);
  const log = await readFile(join(root, '20280907/jid7/job.log'), 'utf8');
  assert.ok(
    log
      .trim()
      .split('\n')
      .every((l) => typeof JSON.parse(l).message === 'string'),
  );
});

test('exit codes: missing manifest 66, malformed 65, unsupported version 65, a job’s own code', async () => {
  const missing = await runJob(join(dir, 'nope.json'), { echo: false });
  assert.equal(missing.exitCode, 66);
  const bad = await runJob(await put(join(dir, 'bad.json'), { version: 1, pipeline: 'noop' }), {
    echo: false,
  });
  assert.equal(bad.exitCode, 65);
  assert.match(bad.message!, /invalid manifest: /);
  const v2 = await runJob(await put(join(dir, 'v2.json'), { ...manifest(dir, 1, {}), version: 2 }), {
    echo: false,
  });
  assert.equal(v2.exitCode, 65);
  assert.match(v2.message!, /manifest version 2 is not supported/);
  const tampered = manifest(dir, 2, {}, { a: 1 });
  tampered.config = { a: 2 };
  const th = await runJob(await put(join(dir, 'hash.json'), tampered), { echo: false });
  assert.equal(th.exitCode, 65);
  assert.match(th.message!, /configHash/);
  const root = join(dir, 'store2');
  const own = await runJob(await put(join(dir, 'm3.json'), manifest(root, 3, {}, { exitCode: 65 })), {
    echo: false,
  });
  assert.equal(own.exitCode, 65);
  assert.equal(own.result?.status, 'failed');
  // The command's exit code is the job's.
  const cli = rapid(['job', 'run', join(dir, 'm3.json'), '--quiet']);
  assert.equal(cli.code, 65);
  const ok = rapid(['job', 'run', await put(join(dir, 'm4.json'), manifest(root, 4, {}))]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(JSON.parse(ok.stdout), {
    jobId: 4,
    status: 'succeeded',
    exitCode: 0,
    result: `${root}/20280907/jid4/result.json`,
  });
});

test('a science job whose reference was never built fails with 66 (an input is missing)', async () => {
  const root = join(dir, 'store3');
  const m = manifest(root, 5, {
    pipeline: 'science',
    science: scienceInput(),
    reference: referenceInput({
      image: { uri: '/r/refimage.fits' },
      coverage: { uri: '/r/refimage_cov.fits' },
      uncertainty: { uri: '/r/refimage_unc.fits' },
    }),
  });
  const r = await runJob(await put(join(dir, 'm5.json'), m), { echo: false });
  assert.equal(r.exitCode, 66, r.message);
  assert.equal(r.result?.status, 'failed');
});

test('an interrupted job ends with 75, status interrupted; a rerun first removes the old result', async () => {
  const root = join(dir, 'store4');
  const uri = await put(join(dir, 'm6.json'), manifest(root, 6, {}));
  assert.equal((await runJob(uri, { echo: false })).result?.status, 'succeeded');
  const c2 = new AbortController();
  c2.abort();
  const r2 = await runJob(uri, { echo: false, signal: c2.signal });
  assert.equal(r2.exitCode, 75);
  assert.equal(r2.result?.status, 'interrupted');
  assert.match(r2.message!, /interrupted before step noop/);
});

test('on S3: the manifest, products and result record live in the bucket', async () => {
  const s3 = await startS3('jobs');
  const store = openStore('s3://jobs/run', { endpoint: s3.endpoint });
  try {
    const m = manifest('s3://jobs/run', 8, {}, { catalogRows: 2 });
    m.store.endpoint = s3.endpoint;
    await store.put('s3://jobs/run/m8.json', JSON.stringify(m));
    const r = await runJob('s3://jobs/run/m8.json', { echo: false, s3Endpoint: s3.endpoint });
    assert.equal(r.exitCode, 0, r.message);
    const res = parseResult(await store.getText('s3://jobs/run/20280907/jid8/result.json'), 'r');
    const cat = res.products.find((p) => p.kind === 'diffcat')!;
    assert.equal(cat.uri, 's3://jobs/run/20280907/jid8/diffimage_masked.cat.fits');
    assert.equal(sha256(await store.get(cat.uri)), cat.checksum);
    // The command line, too.
    const cli = await rapidAsync([
      'job',
      'run',
      's3://jobs/run/m8.json',
      '--s3-endpoint',
      s3.endpoint,
      '--quiet',
    ]);
    assert.equal(cli.code, 0, cli.stderr);
  } finally {
    await store.close();
    await s3.close();
  }
});

test('a science job whose reference gives SFFT nothing to fit exits 4 with ZOGY’s products complete', async () => {
  const { simulateSurvey } = await import('../src/sim/simulate.ts');
  const { readFits, writeFits } = await import('../src/fits/index.ts');
  const { gaussianKernel } = await import('../src/image/convolve.ts');
  const { Random } = await import('../src/sim/random.ts');
  const root = join(dir, 'store-sfft');
  const sim = join(dir, 'sim-sfft');
  const s = await simulateSurvey(sim, { epochs: 1, size: 256, starDensity: 30000, seed: 8, workers: 1 });
  const sciPath = join(sim, s.images[0].file);
  const sci = await readFits(sciPath);
  const { width, height } = { width: 256, height: 256 };
  // The reference: the science image's grid and header, holding pure noise.
  const rnd = new Random(8, 'blank reference');
  const noise = Float32Array.from({ length: width * height }, () => 3 * rnd.normal());
  const files: Record<string, string> = {};
  const write = async (
    name: string,
    data: Float32Array,
    shape = [width, height],
    header = sci.hdu(0).header,
  ) => {
    const path = join(dir, name);
    await writeFits(path, [{ data, shape, header }]);
    files[name] = path;
    return { uri: path, checksum: sha256(await readFile(path)) };
  };
  const k = gaussianKernel(2.5, 8);
  const m = manifest(
    root,
    9,
    {
      pipeline: 'science',
      science: {
        ...scienceInput(sciPath),
        checksum: sha256(await readFile(sciPath)),
        width,
        height,
        hdu: 1,
        zeroPoint: 26,
        gain: 1,
      },
      reference: referenceInput({
        image: await write('blank-ref.fits', noise),
        coverage: await write('blank-cov.fits', new Float32Array(width * height).fill(3)),
        uncertainty: await write('blank-unc.fits', new Float32Array(width * height).fill(3)),
        psf: await write('blank-psf.fits', Float32Array.from(k.data), [k.width, k.height], undefined),
      }),
    },
    { fluxRatio: 1 },
  );
  const r = await runJob(await put(join(dir, 'm9.json'), m), { echo: false });
  assert.equal(r.exitCode, 4, r.message);
  assert.equal(r.result?.status, 'succeeded');
  assert.match(r.message ?? '', /SFFT failed: SFFT: /);
  const names = (r.result?.products ?? []).map((p) => p.uri.slice(p.uri.lastIndexOf('/') + 1));
  for (const name of [
    'diffimage_masked.fits',
    'scorrimage_masked.fits',
    'diffimage_masked.cat.fits',
    'diffpsf.fits',
  ])
    assert.ok(names.includes(name), name);
  assert.ok(!names.some((n) => n.startsWith('sfft')), names.join(' '));
  assert.equal(r.result?.qa.sfftStatus, 'failed');
});
