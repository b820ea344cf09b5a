/** Ingest on both backends: what it records, idempotence, unreadable files, globs, S3. */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { imageRecord, ingest } from '../src/ops/ingest.ts';
import { mjdFromDate } from '../src/ops/time.ts';
import { tileOf } from '../src/sky/tiles.ts';
import { openStore, sha256 } from '../src/store/index.ts';
import { BACKENDS, fakeImage, rapid, startS3, testEnv } from './support/ops.ts';

test('imageRecord: tile, footprint, MJD, zero point, checksum, from an OpenUniverse-style file', async () => {
  const bytes = fakeImage({
    ra: 9.6,
    dec: -44,
    date: '2028-09-07T01:02:03',
    zp: 30.5,
    extension: true,
    size: 100,
  });
  const r = await imageRecord('/x/a.fits', bytes);
  assert.equal(r.checksum, sha256(bytes));
  assert.equal(r.filter, 'F158');
  assert.equal(r.dateObs.toISOString(), '2028-09-07T01:02:03.000Z');
  assert.ok(Math.abs(r.mjd - mjdFromDate(new Date('2028-09-07T01:02:03Z'))) < 1e-9);
  assert.equal(r.zeroPoint, 30.5);
  assert.equal(r.hdu, 1);
  assert.equal(r.width, 100);
  assert.ok(Math.abs(r.ra - 9.6) < 1e-6 && Math.abs(r.dec + 44) < 1e-6);
  assert.equal(r.tile, tileOf(9.6, -44));
  assert.ok(r.tiles.includes(r.tile));
  assert.equal(r.footprint.length, 8);
  // The outer corners are half a pixel beyond the corner pixels: 100 × 0.11″ wide.
  const width = Math.abs(r.footprint[4] - r.footprint[0]) * Math.cos((44 * Math.PI) / 180) * 3600;
  assert.ok(Math.abs(width - 11) < 0.01, `width ${width}`);
});

test('imageRecord: missing zero point falls back to the filter (with a warning); bad files are one-line errors', async () => {
  const warnings: string[] = [];
  const bytes = fakeImage({ ra: 10, dec: 0, date: '2028-09-07T00:00:00' });
  const r = await imageRecord('/x/b.fits', bytes, { warn: (m) => warnings.push(m) });
  assert.equal(warnings.length, 0);
  assert.equal(r.hdu, 0);
  await assert.rejects(
    imageRecord('/x/c.fits', new TextEncoder().encode('not a FITS file at all')),
    /c\.fits/,
  );
  const noFilter = fakeImage({ ra: 10, dec: 0, date: '2028-09-07', filter: 'V' });
  await assert.rejects(imageRecord('/x/d.fits', noFilter), /unknown Roman filter 'V'/);
});

for (const backend of BACKENDS) {
  describe(`ingest on ${backend}`, () => {
    test('folders recursively, other files ignored, idempotent, changed files updated, bad files skipped (65)', async (t) => {
      const env = await testEnv(t, backend);
      if (!env) return;
      try {
        const src = join(env.dir, 'images', 'simple_model', 'H158', '1');
        await mkdir(src, { recursive: true });
        for (let i = 0; i < 5; i++)
          await writeFile(
            join(src, `Roman_TDS_simple_model_H158_1_${i + 1}.fits.gz`),
            (await import('node:zlib')).gzipSync(
              fakeImage({
                ra: 9.6 + i * 0.01,
                dec: -44,
                date: `2028-09-0${i + 1}T00:00:00`,
                sca: i + 1,
                extension: true,
              }),
            ),
          );
        await writeFile(join(src, 'notes.txt'), 'ignored');
        await writeFile(join(src, 'plain.fit'), fakeImage({ ra: 9.7, dec: -44, date: '2028-09-09' }));
        await writeFile(join(src, 'broken.fits'), 'SIMPLE  =                    T / but nothing else');
        const first = rapid(['ingest', join(env.dir, 'images'), ...env.args]);
        assert.equal(first.code, 65, first.stderr);
        const s1 = JSON.parse(first.stdout);
        assert.equal(s1.files, 7);
        assert.equal(s1.inserted, 6);
        assert.equal(s1.unreadable.length, 1);
        assert.match(s1.unreadable[0].uri, /broken\.fits$/);
        assert.match(first.stderr, /skipped .*broken\.fits: /);
        // Again: nothing new; still 65 because of the broken file.
        const second = rapid(['ingest', join(env.dir, 'images'), ...env.args]);
        assert.equal(second.code, 65);
        assert.deepEqual([JSON.parse(second.stdout).inserted, JSON.parse(second.stdout).unchanged], [0, 6]);
        // Only good files, by glob: exit 0.
        const glob = rapid(['ingest', join(env.dir, 'images', '**', '*.fits.gz'), ...env.args]);
        assert.equal(glob.code, 0, glob.stderr);
        assert.deepEqual([JSON.parse(glob.stdout).files, JSON.parse(glob.stdout).unchanged], [5, 5]);
        // A changed file is updated, not duplicated.
        await writeFile(join(src, 'plain.fit'), fakeImage({ ra: 9.7, dec: -44, date: '2028-09-10' }));
        const changed = rapid(['ingest', join(src, 'plain.fit'), ...env.args]);
        assert.equal(changed.code, 0, changed.stderr);
        assert.equal(JSON.parse(changed.stdout).updated, 1);
        const missing = rapid(['ingest', join(env.dir, 'nope'), ...env.args]);
        assert.equal(missing.code, 66);
        assert.match(missing.stderr, /nope: no such file or folder/);

        const db = await env.open();
        try {
          const rows = await db.query<Record<string, unknown>>('SELECT * FROM images ORDER BY uri');
          assert.equal(rows.length, 6);
          const r = rows.find((x) => String(x.uri).endsWith('_H158_1_1.fits.gz'))!;
          assert.equal(r.filter, 'F158');
          assert.equal(r.sca, 1);
          assert.equal(r.zero_point, 31.3);
          assert.equal(r.hdu, 1);
          assert.equal(r.tile, tileOf(Number(r.ra), Number(r.dec)));
          assert.equal((r.footprint as number[]).length, 8);
          assert.match(String(r.checksum), /^sha256:[0-9a-f]{64}$/);
          const plain = rows.find((x) => String(x.uri).endsWith('plain.fit'))!;
          assert.equal((plain.date_obs as Date).toISOString(), '2028-09-10T00:00:00.000Z');
          const tiles = await db.query<{ n: number }>('SELECT count(*) AS n FROM tiles');
          assert.ok(tiles[0].n >= 1);
        } finally {
          await db.close();
        }
      } finally {
        await env.cleanup();
      }
    });
  });
}

test('ingest from s3://bucket/prefix', async (t) => {
  const env = await testEnv(t, 'pglite');
  if (!env) return;
  const s3 = await startS3('images');
  try {
    const store = openStore('s3://images', { endpoint: s3.endpoint });
    for (let i = 0; i < 3; i++)
      await store.put(
        `s3://images/survey/a${i}.fits`,
        fakeImage({ ra: 9.6, dec: -44, date: `2028-09-0${i + 1}` }),
      );
    await store.put('s3://images/survey/readme.txt', 'not an image');
    await store.put('s3://images/other/b.fits', fakeImage({ ra: 9.6, dec: -44, date: '2028-09-05' }));
    await store.close();
    const db = await env.open();
    try {
      const s = await ingest(db, ['s3://images/survey/'], { s3Endpoint: s3.endpoint });
      assert.deepEqual([s.files, s.inserted, s.unreadable.length], [3, 3, 0]);
      const uris = (await db.query<{ uri: string }>('SELECT uri FROM images ORDER BY uri')).map((r) => r.uri);
      assert.deepEqual(uris, [
        's3://images/survey/a0.fits',
        's3://images/survey/a1.fits',
        's3://images/survey/a2.fits',
      ]);
    } finally {
      await db.close();
    }
  } finally {
    await s3.close();
    await env.cleanup();
  }
});
