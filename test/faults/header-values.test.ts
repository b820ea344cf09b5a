/**
 * Issue 17, case 7: ingest registers only values an exposure can have. A zero point of
 * 2147483648, an MJD of 4294967296 (or one that contradicts DATE-OBS), an impossible gain or
 * exposure time, a 1×1 image, an all-NaN image and a .fz whose tiles cannot be decompressed are
 * each reported with one line and skipped; the good files are registered and ingest ends with 65.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { Header } from '../../src/fits/header.ts';
import { anyValidPixel, encodeFits, parseFits } from '../../src/fits/index.ts';
import { checkExposureValues, exposureMetadata } from '../../src/instrument/exposure.ts';
import { rapid } from '../support/cli.ts';
import { fakeImage, testEnv } from '../support/ops.ts';

const SIZE = 64;
const DATE = '2028-09-07T00:00:00';

/** A 64×64 image with ingest's cards (support/ops.ts fakeImage), its header edited, its pixels replaced. */
function image(edit: (h: Header) => void = () => {}, data?: Float32Array, shape = [SIZE, SIZE]): Uint8Array {
  const fits = parseFits(fakeImage({ ra: 9.6, dec: -44, date: DATE, size: SIZE }));
  const h = fits.hdus[0].header;
  edit(h);
  return encodeFits([{ data: data ?? new Float32Array(shape[0] * shape[1]).fill(1), shape, header: h }]);
}

/**
 * A GZIP_1 tile-compressed 64×64 float32 image (.fz) in tiles of one row, with the ingest cards
 * of `image` in its table header; `tile(r, bytes)` may replace a tile's compressed bytes.
 */
function fz(tile: (r: number, bytes: Uint8Array) => Uint8Array = (_, b) => b): Uint8Array {
  const cards = parseFits(image()).hdus[0].header.cards.filter(
    (c) => !/^(SIMPLE|BITPIX|NAXIS\d*|EXTEND|END)$/.test(c.key),
  );
  const tiles = Array.from({ length: SIZE }, (_, r) => {
    const b = Buffer.alloc(4 * SIZE);
    for (let i = 0; i < SIZE; i++) b.writeFloatBE(r + i / SIZE, 4 * i);
    return tile(r, gzipSync(b));
  });
  const heap = Buffer.concat(tiles);
  const table = Buffer.alloc(8 * SIZE);
  let offset = 0;
  tiles.forEach((c, r) => {
    table.writeInt32BE(c.length, 8 * r);
    table.writeInt32BE(offset, 8 * r + 4);
    offset += c.length;
  });
  const h = new Header()
    .set('XTENSION', 'BINTABLE')
    .set('BITPIX', 8)
    .set('NAXIS', 2)
    .set('NAXIS1', 8)
    .set('NAXIS2', SIZE)
    .set('PCOUNT', heap.length)
    .set('GCOUNT', 1)
    .set('TFIELDS', 1)
    .set('TTYPE1', 'COMPRESSED_DATA')
    .set('TFORM1', `1PB(${Math.max(...tiles.map((c) => c.length))})`)
    .set('ZIMAGE', true)
    .set('ZBITPIX', -32)
    .set('ZNAXIS', 2)
    .set('ZNAXIS1', SIZE)
    .set('ZNAXIS2', SIZE)
    .set('ZTILE1', SIZE)
    .set('ZTILE2', 1)
    .set('ZCMPTYPE', 'GZIP_1');
  for (const c of cards) h.cards.push({ ...c });
  const primary = new Header().set('SIMPLE', true).set('BITPIX', 8).set('NAXIS', 0).set('EXTEND', true);
  const data = Buffer.concat([table, heap]);
  return Buffer.concat([
    primary.toBytes(),
    h.toBytes(),
    data,
    Buffer.alloc((2880 - (data.length % 2880)) % 2880),
  ]);
}

describe('impossible header values (issue 17, case 7)', () => {
  test('checkExposureValues: plausible ranges, MJD against DATE-OBS, numbers that are not finite', () => {
    const ok = exposureMetadata(new Header().set('ZPTMAG', 26.3).set('GAIN', 1.8).set('EXPTIME', 140));
    assert.deepEqual(checkExposureValues(ok), []);
    // Missing values are not problems (ingest says what it assumes instead).
    assert.deepEqual(checkExposureValues({ sources: {} }), []);
    const bad = exposureMetadata(
      new Header().set('ZPTMAG', 2147483648).set('GAIN', 1e6).set('EXPTIME', -5).set('MJD-OBS', 4294967296),
    );
    assert.deepEqual(checkExposureValues(bad), [
      'ZPTMAG = 2147483648 is not a plausible zero point (0 to 50 AB mag)',
      'GAIN = 1000000 is not a plausible gain (0 to 10000 e-/DN)',
      'EXPTIME = -5 is not a plausible exposure time (0 to 1e8 s)',
      'MJD-OBS = 4294967296 is not a plausible MJD (0 to 124593: years 1858 to 2200)',
    ]);
    assert.match(
      checkExposureValues(exposureMetadata(new Header().set('MJD-OBS', 2462021.5)))[0],
      /MJD-OBS = 2462021.5 is not a plausible MJD .*a Julian date\? MJD = JD - 2400000.5/,
    );
    const h = new Header().set('MJD-OBS', 62021.5).set('DATE-OBS', DATE);
    const m = exposureMetadata(h);
    assert.deepEqual(checkExposureValues(m, { dateMjd: 62021.0 }), []);
    assert.deepEqual(checkExposureValues(m, { dateMjd: 60000 }), [
      'MJD-OBS = 62021.5 disagrees with the date (DATE-OBS: MJD 60000.000) by more than a day',
    ]);
    assert.deepEqual(checkExposureValues({ zeroPoint: 0, sources: {} }), [
      'zero point 0 is not a plausible zero point (0 to 50 AB mag)',
    ]);
    // Numbers a header can hold that exposureMetadata skips: 1E999, and integers beyond 2^53.
    const broken = Header.fromText(
      ['EXPTIME =                1E999', 'ZPTMAG  = 99999999999999999999'].map((c) => c.padEnd(80)).join(''),
    );
    assert.deepEqual(checkExposureValues(exposureMetadata(broken), { header: broken }), [
      'ZPTMAG = 99999999999999999999 is not a plausible zero point',
      'EXPTIME = Infinity is not a finite number',
    ]);
  });

  test('anyValidPixel: the first finite (or not BLANK) pixel, read as stored, for every BITPIX', () => {
    const has = (
      data: Float32Array | Float64Array | Int16Array | Int32Array | Uint8Array | BigInt64Array,
      enc = {},
    ) => anyValidPixel(parseFits(encodeFits([{ data, shape: [data.length, 1], ...enc }])).hdus[0]);
    const n = 70_000; // more than one piece of 256 KB for 8-byte pixels
    const nan32 = new Float32Array(n).fill(Number.NaN);
    assert.equal(has(nan32), false);
    nan32[5] = Number.POSITIVE_INFINITY;
    nan32[6] = Number.NEGATIVE_INFINITY;
    assert.equal(has(nan32), false);
    nan32[n - 1] = 0;
    assert.equal(has(nan32), true);
    const nan64 = new Float64Array(n).fill(Number.NaN);
    assert.equal(has(nan64), false);
    nan64[n - 1] = -1e-300;
    assert.equal(has(nan64), true);
    const blank16 = new Int16Array(n).fill(-32768);
    assert.equal(has(blank16, { bitpix: 16, blank: -32768 }), false);
    blank16[n - 1] = 7;
    assert.equal(has(blank16, { bitpix: 16, blank: -32768 }), true);
    // Integers without BLANK always have values.
    assert.equal(has(new Int32Array(n).fill(-1), { bitpix: 32 }), true);
    assert.equal(has(new Int32Array(n).fill(-1), { bitpix: 32, blank: -1 }), false);
    assert.equal(has(new Uint8Array(n).fill(255), { bitpix: 8, blank: 255 }), false);
    const big = new BigInt64Array(n).fill(-9n);
    assert.equal(has(big, { bitpix: 64, blank: -9 }), false);
    big[n - 1] = 0n;
    assert.equal(has(big, { bitpix: 64, blank: -9 }), true);
  });

  test('rapid ingest skips each impossible file with a one-line reason, registers the others, ends with 65', async (t) => {
    const env = await testEnv(t, 'pglite');
    if (!env) return;
    try {
      const dir = join(env.dir, 'images');
      await mkdir(dir, { recursive: true });
      const good: Record<string, Uint8Array> = {
        'good.fits': image(),
        // A missing zero point stays allowed: the filter's is assumed (with a warning).
        'no-zp.fits': image((h) => h.delete('ZPTMAG')),
        // MJD-OBS and DATE-OBS may differ by less than a day (mid-exposure times).
        'mjd-ok.fits': image((h) => h.set('MJD-OBS', 62021.2)),
        'good.fits.fz': fz(),
      };
      const bad: Record<string, RegExp> = {
        'zp.fits': /ZPTMAG = 2147483648 is not a plausible zero point \(0 to 50 AB mag\)/,
        'mjd.fits': /MJD-OBS = 4294967296 is not a plausible MJD/,
        'mjd-date.fits':
          /MJD-OBS = 60000 disagrees with the date \(DATE-OBS: MJD 62021\.000\) by more than a day/,
        'gain.fits': /GAIN = 1000000 is not a plausible gain/,
        'exptime.fits': /EXPTIME = -5 is not a plausible exposure time/,
        'exptime-zero-no-zp.fits':
          /zero point -Infinity \(no ZPTMAG: F158's AB zero point for 0 s, gain 1\) is not a plausible zero point/,
        'nan.fits': /nan\.fits, HDU 0: no valid pixels \(all NaN, infinite or BLANK\)/,
        'tiny.fits': /tiny\.fits, HDU 0: the image is 1×1 pixels, smaller than 16 on a side/,
        'corrupt.fits.fz': /corrupt\.fits\.fz, HDU 1, tile 3: gzip-compressed tile is corrupt/,
      };
      const files: Record<string, Uint8Array> = {
        ...good,
        'zp.fits': image((h) => h.set('ZPTMAG', 2147483648)),
        'mjd.fits': image((h) => h.set('MJD-OBS', 4294967296)),
        'mjd-date.fits': image((h) => h.set('MJD-OBS', 60000)),
        'gain.fits': image((h) => h.set('GAIN', 1e6)),
        'exptime.fits': image((h) => h.set('EXPTIME', -5)),
        'exptime-zero-no-zp.fits': image((h) => {
          h.set('EXPTIME', 0);
          h.delete('ZPTMAG');
        }),
        'nan.fits': image(() => {}, new Float32Array(SIZE * SIZE).fill(Number.NaN)),
        'tiny.fits': image(() => {}, new Float32Array([1]), [1, 1]),
        // Tile 3's deflate stream overwritten: it cannot be decompressed.
        'corrupt.fits.fz': fz((r, b) =>
          r === 2 ? Buffer.concat([b.subarray(0, 10), Buffer.alloc(b.length - 10, 0xff)]) : b,
        ),
      };
      for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);

      const r = rapid(['ingest', dir, ...env.args]);
      assert.equal(r.status, 65, r.stderr);
      const summary = JSON.parse(r.stdout);
      assert.equal(summary.files, Object.keys(files).length);
      assert.equal(summary.inserted, Object.keys(good).length, r.stderr);
      assert.deepEqual(
        summary.unreadable.map((p: { uri: string }) => p.uri.split('/').pop()).sort(),
        Object.keys(bad).sort(),
      );
      const skipped = r.stderr.split('\n').filter((l) => l.startsWith('rapid: skipped '));
      assert.equal(skipped.length, Object.keys(bad).length, r.stderr);
      for (const [name, reason] of Object.entries(bad)) {
        const lines = skipped.filter((l) => l.startsWith(`rapid: skipped ${join(dir, name)}: `));
        assert.equal(lines.length, 1, `${name}: one line expected:\n${r.stderr}`);
        assert.match(lines[0], reason, name);
      }
      assert.match(r.stderr, /no-zp\.fits: no ZPTMAG; using F158's AB zero point/);
      assert.match(r.stderr, /: 13 FITS files: 4 new, 0 updated, 0 already registered, 9 unreadable/);

      const db = await env.open();
      try {
        const rows = await db.query<{ uri: string; zero_point: number; mjd: number }>(
          'SELECT uri, zero_point, mjd FROM images ORDER BY uri',
        );
        assert.deepEqual(
          rows.map((x) => x.uri.split('/').pop()),
          Object.keys(good).sort(),
        );
        for (const row of rows) {
          assert.ok(row.zero_point > 0 && row.zero_point < 50, `${row.uri}: zero point ${row.zero_point}`);
          assert.ok(Math.abs(row.mjd - 62021.2) < 1, `${row.uri}: MJD ${row.mjd}`);
        }
      } finally {
        await db.close();
      }
    } finally {
      await env.cleanup();
    }
  });
});
