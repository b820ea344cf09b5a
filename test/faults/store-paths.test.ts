/**
 * Fault class 3 of the operations issue, the job's side: a manifest whose output paths leave the
 * store (`..`, an absolute path elsewhere, a symbolic link inside the store pointing out) is
 * refused with 65 before anything is written, and aggregation refuses a result record naming
 * products outside the store. (Queue entries are checked in queue-entry.test.ts.)
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { aggregate } from '../../src/ops/aggregate.ts';
import { migrate, openMemoryDb } from '../../src/ops/db.ts';
import { insertImages } from '../../src/ops/ingest.ts';
import { launch } from '../../src/ops/launch.ts';
import { configHash, parseResult, toJson } from '../../src/pipeline/manifest.ts';
import { runJob } from '../../src/pipeline/runner.ts';
import { MANIFEST_VERSION } from '../../src/pipeline/types.ts';
import { isInside } from '../../src/store/confine.ts';
import { openStore, sha256 } from '../../src/store/index.ts';
import { StoreRouter } from '../../src/store/router.ts';
import { storeAndDatabaseDisagree } from '../support/consistency.ts';
import { imageRecords, scienceInput } from '../support/ops.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rapid-faults-paths-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const science = scienceInput();

function noopManifest(root: string, outputPrefix: string) {
  return {
    version: MANIFEST_VERSION,
    jobId: 9,
    runId: 1,
    procDate: '20280907',
    outputPrefix,
    store: { root },
    config: {},
    configHash: configHash({}),
    created: new Date().toISOString(),
    software: 'test',
    pipeline: 'noop',
    science,
  };
}

async function listAll(path: string): Promise<string[]> {
  return readdir(path, { recursive: true }).catch(() => [] as string[]);
}

test('isInside: folders after resolving .., S3 by bucket and prefix without dot segments', () => {
  assert.equal(isInside('/s/store', '/s/store/2028/jid1/x.fits'), true);
  assert.equal(isInside('/s/store', '/s/store/../escape/x'), false);
  assert.equal(isInside('/s/store', '/s/storefront/x'), false);
  assert.equal(isInside('/s/store', 's3://b/x'), false);
  assert.equal(isInside('s3://b/p', 's3://b/p/2028/x'), true);
  assert.equal(isInside('s3://b/p', 's3://b/p/../q/x'), false);
  assert.equal(isInside('s3://b/p', 's3://b/pq/x'), false);
  assert.equal(isInside('s3://b/p', 's3://c/p/x'), false);
  assert.equal(isInside('s3://b/p', '/local/x'), false);
});

test('a manifest whose outputPrefix climbs out of the store, or is elsewhere, is refused (65); nothing is written', async () => {
  const root = join(dir, 'a', 'store');
  await mkdir(root, { recursive: true });
  for (const prefix of [`${root}/../../escape/`, `${join(dir, 'elsewhere')}/`]) {
    const uri = join(dir, `m-${prefix.length}.json`);
    await writeFile(uri, JSON.stringify(noopManifest(root, prefix)));
    const r = await runJob(uri, { echo: false });
    assert.equal(r.exitCode, 65, r.message);
    assert.match(r.message ?? '', /outputPrefix .* is outside the store/);
  }
  assert.deepEqual(await listAll(join(dir, 'escape')), []);
  assert.deepEqual(await listAll(join(dir, 'elsewhere')), []);
});

test('a reference manifest whose referencePrefix is an absolute path elsewhere is refused (65)', async () => {
  const root = join(dir, 'b', 'store');
  await mkdir(root, { recursive: true });
  const m = {
    ...noopManifest(root, `${root}/20280907/jid9/`),
    pipeline: 'reference',
    tile: science.tile,
    nside: 512,
    filter: 'F158',
    referenceId: 1,
    referenceVersion: 1,
    referencePrefix: `${join(dir, 'b', 'outside')}/`,
    inputs: [science],
  } as Record<string, unknown>;
  delete m.science;
  const uri = join(dir, 'ref.json');
  await writeFile(uri, JSON.stringify(m));
  const r = await runJob(uri, { echo: false });
  assert.equal(r.exitCode, 65, r.message);
  assert.match(r.message ?? '', /referencePrefix .* is outside the store/);
  assert.deepEqual(await listAll(join(dir, 'b', 'outside')), []);
  assert.deepEqual(await listAll(root), []);
});

test('a job folder that is a symbolic link out of the store is not followed (65)', async () => {
  const root = join(dir, 'c', 'store');
  const target = join(dir, 'c', 'target');
  await mkdir(join(root, '20280907'), { recursive: true });
  await mkdir(target, { recursive: true });
  await symlink(target, join(root, '20280907', 'jid9'));
  const uri = join(dir, 'm-link.json');
  await writeFile(uri, JSON.stringify(noopManifest(root, `${root}/20280907/jid9/`)));
  const r = await runJob(uri, { echo: false });
  assert.equal(r.exitCode, 65, r.message);
  assert.match(r.message ?? '', /symbolic link/);
  assert.deepEqual(await listAll(target), []);
});

test('aggregate refuses a result record that names a product outside the store', async () => {
  const db = await openMemoryDb();
  await migrate(db);
  const store = openStore(join(dir, 'd', 'store'));
  const stores = new StoreRouter();
  try {
    await insertImages(db, imageRecords(1, 7));
    const l = await launch(db, {
      from: new Date('2028-09-06T00:00:00Z'),
      to: new Date('2028-09-08T00:00:00Z'),
      pipeline: 'noop',
      executor: 'none',
      store,
      storeConfig: { root: store.root },
    });
    const job = l.toRun[0];
    assert.equal((await runJob(job.manifestUri, { echo: false })).exitCode, 0);
    // Someone rewrites the record to claim a file outside the store as a product.
    const res = parseResult(await readFile(job.resultUri, 'utf8'), job.resultUri);
    res.products.push({ kind: 'log', uri: '/etc/hostname', checksum: sha256('x'), bytes: 1 });
    await writeFile(job.resultUri, toJson(res, 2));
    const problems: string[] = [];
    const s = await aggregate(db, { stores, onProblem: (p) => problems.push(p.error) });
    assert.deepEqual([s.registered, s.unreadable], [0, 1]);
    assert.match(problems[0], /product \/etc\/hostname is outside the store/);
    assert.deepEqual(await storeAndDatabaseDisagree(db), []);
  } finally {
    await stores.close();
    await store.close();
    await db.close();
  }
});
