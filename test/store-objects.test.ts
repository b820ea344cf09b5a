/** The object store contract, run against both backends: a folder, and S3 on s3rver. */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openStore, sha256 } from '../src/store/index.ts';
import type { ObjectStore } from '../src/store/store.ts';
import { ExitCode, RapidError } from '../src/util/errors.ts';
import { startS3 } from './support/ops.ts';

const isCode = (code: number) => (e: unknown) => e instanceof RapidError && e.exitCode === code;

/**
 * serialWriters: the server cannot take two writes of one key at once. S3 can (the last PUT
 * wins whole), but s3rver streams concurrent PUTs into one file and can keep a mix, so against
 * it the writers take turns while the readers still race them.
 */
function contract(
  name: string,
  make: () => Promise<{ store: ObjectStore; cleanup: () => Promise<void> }>,
  { serialWriters = false } = {},
) {
  describe(`${name} store`, () => {
    let store: ObjectStore;
    let cleanup: () => Promise<void>;
    let tmp: string;
    before(async () => {
      ({ store, cleanup } = await make());
      tmp = await mkdtemp(join(tmpdir(), 'rapid-store-test-'));
    });
    after(async () => {
      await store.close();
      await cleanup();
      await rm(tmp, { recursive: true, force: true });
    });

    test('put returns the checksum and size; get verifies it', async () => {
      const uri = store.uri('a/b/obj.bin');
      const data = new Uint8Array([1, 2, 3, 4, 5]);
      const o = await store.put(uri, data);
      assert.equal(o.uri, uri);
      assert.equal(o.bytes, 5);
      assert.equal(o.checksum, sha256(data));
      assert.deepEqual(Buffer.from(await store.get(uri, o.checksum)), Buffer.from(data));
      assert.deepEqual(Buffer.from(await store.get(uri)), Buffer.from(data));
      assert.equal(await store.getText(store.uri('a/b/obj.bin')).then((t) => t.length), 5);
      assert.equal(await store.exists(uri), true);
      assert.equal(await store.exists(store.uri('a/b/none')), false);
    });

    test('a wrong checksum is bad input (65); a missing object is missing input (66)', async () => {
      const uri = store.uri('c/text.txt');
      await store.put(uri, 'hello');
      await assert.rejects(store.get(uri, sha256('other')), isCode(ExitCode.BAD_INPUT));
      await assert.rejects(store.get(store.uri('c/missing.txt')), isCode(ExitCode.MISSING_INPUT));
      await assert.rejects(store.localPath(uri, tmp, sha256('other')), isCode(ExitCode.BAD_INPUT));
      await assert.rejects(store.localPath(store.uri('c/none'), tmp), isCode(ExitCode.MISSING_INPUT));
    });

    test('files: put from a path, read back through a verified local path', async () => {
      const src = join(tmp, 'big.bin');
      const data = new Uint8Array(3_000_000).map((_, i) => (i * 7) % 251);
      await writeFile(src, data);
      const uri = store.uri('d/big.bin');
      const o = await store.put(uri, { path: src });
      assert.equal(o.checksum, sha256(data));
      assert.equal(o.bytes, data.length);
      const p = await store.localPath(uri, tmp, o.checksum);
      const back = await import('node:fs/promises').then((f) => f.readFile(p));
      assert.equal(sha256(back), o.checksum);
    });

    test('an overwrite replaces the object whole; list finds objects under a prefix', async () => {
      const uri = store.uri('e/x.json');
      await store.put(uri, '{"v":1}');
      await store.put(uri, '{"v":2}');
      assert.equal(await store.getText(uri), '{"v":2}');
      await store.put(store.uri('e/sub/y.json'), '{}');
      await store.put(store.uri('f/z.json'), '{}');
      const listed: string[] = [];
      for await (const x of store.list(store.uri('e/'))) listed.push(x.uri);
      assert.deepEqual(listed.sort(), [store.uri('e/sub/y.json'), store.uri('e/x.json')].sort());
      await store.delete(uri);
      assert.equal(await store.exists(uri), false);
      await store.delete(uri); // deleting twice is fine
    });

    test('concurrent writers of one object: readers only ever see a whole version', async () => {
      const uri = store.uri('g/race.bin');
      const a = new Uint8Array(200_000).fill(1);
      const b = new Uint8Array(200_000).fill(2);
      const ok = new Set([sha256(a), sha256(b)]);
      let previous: Promise<unknown> = Promise.resolve();
      const writes = Array.from({ length: 6 }, (_, i) => {
        const write = serialWriters
          ? previous.then(() => store.put(uri, i % 2 ? a : b))
          : store.put(uri, i % 2 ? a : b);
        previous = write;
        return write;
      });
      const reads: Promise<void>[] = [];
      for (let i = 0; i < 6; i++)
        reads.push(
          store.get(uri).then(
            (x) => assert.ok(ok.has(sha256(x))),
            (e) => assert.ok(isCode(ExitCode.MISSING_INPUT)(e)),
          ),
        );
      await Promise.all([...writes, ...reads]);
      assert.ok(ok.has(sha256(await store.get(uri))));
    });
  });
}

contract('folder', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rapid-folder-store-'));
  return {
    store: openStore(dir),
    cleanup: async () => {
      // No temporary files are left behind.
      const left: string[] = [];
      const walk = async (d: string) => {
        for (const e of await readdir(d, { withFileTypes: true })) {
          if (e.isDirectory()) await walk(join(d, e.name));
          else left.push(e.name);
        }
      };
      await walk(dir);
      assert.deepEqual(
        left.filter((n) => n.includes('.tmp-')),
        [],
      );
      await rm(dir, { recursive: true, force: true });
    },
  };
});

contract(
  'S3 (s3rver)',
  async () => {
    const s3 = await startS3('rapid');
    return { store: openStore('s3://rapid/prefix', { endpoint: s3.endpoint }), cleanup: s3.close };
  },
  { serialWriters: true },
);

test('S3: the checksum is recorded in the object metadata and checked on read', async () => {
  const s3 = await startS3('meta');
  const store = openStore('s3://meta', { endpoint: s3.endpoint });
  try {
    const uri = store.uri('k/v.txt');
    const o = await store.put(uri, 'payload');
    const { S3Store } = await import('../src/store/s3.ts');
    const { HeadObjectCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');
    const client = await (store as InstanceType<typeof S3Store>).s3Client();
    const head = await client.send(new HeadObjectCommand({ Bucket: 'meta', Key: 'k/v.txt' }));
    assert.equal(`sha256:${head.Metadata?.sha256}`, o.checksum);
    // Corrupt it behind the store's back, keeping the old metadata: the read fails with 65.
    await client.send(
      new PutObjectCommand({ Bucket: 'meta', Key: 'k/v.txt', Body: 'tampered', Metadata: head.Metadata }),
    );
    await assert.rejects(store.get(uri), isCode(ExitCode.BAD_INPUT));
    // A bucket that does not exist is a missing input.
    await assert.rejects(
      openStore('s3://nobucket', { endpoint: s3.endpoint }).get('s3://nobucket/x'),
      isCode(66),
    );
  } finally {
    await store.close();
    await s3.close();
  }
});

test('S3: an unreachable server is a temporary failure (75)', async () => {
  const store = openStore('s3://b', { endpoint: 'http://127.0.0.1:1' });
  try {
    await assert.rejects(store.get('s3://b/x'), isCode(ExitCode.TEMPORARY));
  } finally {
    await store.close();
  }
});
