/** Images: every BITPIX, scaling, BLANK/NaN, multi-extension files, gzip, large images. */
import assert from 'node:assert/strict';
import { readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  encodeFits,
  Header,
  type ImageHduInput,
  parseFits,
  readFits,
  readImage,
  writeFits,
} from '../src/fits/index.ts';
import { BadInputError } from '../src/util/errors.ts';
import { assertFitsverifyClean, assertSameValues, tempDir } from './support/fits.ts';
import { SAMPLE_HEIGHT, SAMPLE_WIDTH, sampleImages } from './support/fits-samples.ts';
import { requireTool } from './support/tools.ts';

const W = SAMPLE_WIDTH;
const H = SAMPLE_HEIGHT;

describe('images', () => {
  for (const s of sampleImages()) {
    it(`round-trips ${s.name} (BITPIX ${s.bitpix}${s.bzero !== undefined ? `, BZERO ${s.bzero}` : ''}) in memory and on disk`, async (t) => {
      const bytes = encodeFits([{ data: s.data, shape: [W, H] }]);
      const hdu = parseFits(bytes).hdu(0);
      assert.equal(hdu.header.integer('BITPIX'), s.bitpix);
      if (s.bzero !== undefined)
        assert.equal(BigInt(hdu.header.get('BZERO') as number | bigint), BigInt(s.bzero));
      else assert.equal(hdu.header.has('BZERO'), false);
      const img = readImage(hdu);
      assert.equal(img.data.constructor, s.data.constructor);
      assert.deepEqual(img.shape, [W, H]);
      assert.equal(img.width, W);
      assert.equal(img.height, H);
      assertSameValues(img.data, s.data, s.name);
      if (s.data instanceof Float32Array || s.data instanceof Float64Array) {
        assert.ok(Object.is(img.data[3], -0), 'negative zero kept');
      }

      const path = join(tempDir(t), `${s.name}.fits`);
      await writeFits(path, [{ data: s.data, shape: [W, H] }]);
      assert.deepEqual(new Uint8Array(readFileSync(path)), new Uint8Array(bytes), 'file = encodeFits bytes');
      assertSameValues(readImage((await readFits(path)).hdu(0)).data, s.data, `${s.name} from file`);
      // In shared memory when asked (worker threads then read it without a copy), same values.
      const shared = readImage((await readFits(path)).hdu(0), { shared: true });
      assertSameValues(shared.data, s.data, `${s.name} from file, shared`);
      if (s.bzero === undefined || s.bitpix < 0)
        assert.ok(shared.data.buffer instanceof SharedArrayBuffer, `${s.name}: pixels in shared memory`);
      if (requireTool(t, 'fitsverify')) assertFitsverifyClean(path);
    });
  }

  it('puts pixel (x, y) at data[y * width + x] and keeps planes of a cube in order', () => {
    const shape = [4, 3, 2];
    const data = new Int16Array(24).map((_, i) => i);
    const img = readImage(parseFits(encodeFits([{ data, shape }])).hdus[0]);
    assert.deepEqual(img.shape, shape);
    const at = (x: number, y: number, z: number) => img.data[(z * 3 + y) * 4 + x];
    assert.equal(at(1, 2, 1), 1 + 2 * 4 + 12);
    const bytes = encodeFits([{ data, shape }]);
    // The first stored value is pixel (0,0,0), the second (1,0,0): x varies fastest in the file.
    const view = new DataView(bytes.buffer, bytes.byteOffset + 2880);
    assert.equal(view.getInt16(2), 1);
  });

  it('applies BSCALE/BZERO on write and read, with NaN <-> BLANK', () => {
    const data = new Float32Array([0, 1.5, -2.25, Number.NaN, 1000, -1000]);
    const hdu = parseFits(encodeFits([{ data, shape: [6], bitpix: 16, bscale: 0.25, bzero: 100 }])).hdus[0];
    assert.equal(hdu.header.number('BSCALE'), 0.25);
    assert.equal(hdu.header.number('BZERO'), 100);
    assert.equal(hdu.header.integer('BLANK'), -32768);
    const img = readImage(hdu);
    assert.ok(img.data instanceof Float32Array);
    assertSameValues(img.data, data);
    assert.equal(img.bscale, 0.25);
    assert.equal(img.bzero, 100);
    assert.throws(
      () => encodeFits([{ data: new Float32Array([1e9]), shape: [1], bitpix: 16 }]),
      /do not fit BITPIX 16/,
    );
  });

  it('reads scaled 32-bit integers as Float64Array and keeps BLANK in unscaled integers', () => {
    const scaled = parseFits(
      encodeFits([
        {
          data: new Float64Array([1, 2, Number.NaN]),
          shape: [3],
          bitpix: 32,
          bscale: 1e-3,
          bzero: 5,
          blank: -1,
        },
      ]),
    ).hdus[0];
    const img = readImage(scaled);
    assert.ok(img.data instanceof Float64Array);
    assert.ok(Math.abs((img.data[0] as number) - 1) < 1e-9);
    assert.ok(Number.isNaN(img.data[2] as number));
    const plain = parseFits(encodeFits([{ data: new Int16Array([5, -99, 7]), shape: [3], blank: -99 }]))
      .hdus[0];
    const p = readImage(plain);
    assert.ok(p.data instanceof Int16Array);
    assert.equal(p.blank, -99);
    assert.equal(p.data[1], -99);
    const unsigned = readImage(
      parseFits(encodeFits([{ data: new Uint16Array([1, 2]), shape: [2], blank: -32768 }])).hdus[0],
    );
    assert.ok(unsigned.data instanceof Uint16Array);
    assert.equal(unsigned.blank, 0, 'BLANK in physical units for the unsigned convention');
  });

  it('writes and reads multi-extension files; selects HDUs by index or EXTNAME', async (t) => {
    const header = new Header().set('EXPTIME', 30, 'seconds').set('FILTER', 'r');
    const hdus: ImageHduInput[] = [
      { data: new Uint8Array(0), shape: [], header: new Header().set('TELESCOP', 'Roman') },
      { data: new Float32Array(6).fill(1), shape: [3, 2], name: 'SCI', header },
      { data: new Float32Array(6).fill(2), shape: [3, 2], name: 'ERR' },
      { data: new Int32Array(6).fill(3), shape: [3, 2], name: 'DQ' },
    ];
    const path = join(tempDir(t), 'mef.fits');
    await writeFits(path, hdus);
    const file = await readFits(path);
    assert.equal(file.hdus.length, 4);
    assert.deepEqual(
      file.hdus.map((h) => [h.index, h.kind, h.name]),
      [
        [0, 'image', undefined],
        [1, 'image', 'SCI'],
        [2, 'image', 'ERR'],
        [3, 'image', 'DQ'],
      ],
    );
    assert.equal(file.hdu('sci').index, 1);
    assert.equal(file.hdu('DQ').index, 3);
    assert.equal(file.hdu(2).name, 'ERR');
    assert.equal(file.hdu('2').name, 'ERR');
    assert.equal(file.hdu('PRIMARY').index, 0);
    assert.equal(file.firstImage().index, 1);
    assert.equal(file.hdu('SCI').header.number('EXPTIME'), 30);
    assert.equal(file.hdu(0).header.string('TELESCOP'), 'Roman');
    assert.deepEqual(Array.from(readImage(file.hdu('DQ')).data as Int32Array), [3, 3, 3, 3, 3, 3]);
    assert.throws(
      () => file.hdu('VAR'),
      (e: unknown) =>
        e instanceof BadInputError &&
        /no HDU named 'VAR' \(HDUs: 0 PRIMARY, 1 SCI, 2 ERR, 3 DQ\)/.test(e.message),
    );
    assert.throws(() => file.hdu(4), /no HDU 4; the file has 4/);
    assert.throws(() => readImage(file.hdu(0)), /holds no image data.*extension/);
    if (requireTool(t, 'fitsverify')) assertFitsverifyClean(path);
  });

  it('keeps user cards and does not duplicate structural keywords', () => {
    const source = parseFits(
      encodeFits([
        {
          data: new Int16Array([3, 5, 7, 9]),
          shape: [2, 2],
          bitpix: 16,
          bscale: 2,
          bzero: 1,
          header: new Header().set('OBJECT', 'x').addHistory('step 1'),
        },
      ]),
    ).hdus[0];
    // Re-write the physical values as float32 with the source header: its BSCALE/BZERO must go.
    const out = parseFits(
      encodeFits([{ data: readImage(source).data, shape: [2, 2], header: source.header }]),
    ).hdus[0];
    const keys = out.header.cards.map((c) => c.key);
    for (const k of ['SIMPLE', 'BITPIX', 'NAXIS', 'NAXIS1', 'NAXIS2'])
      assert.equal(keys.filter((x) => x === k).length, 1, k);
    assert.equal(out.header.has('BSCALE'), false);
    assert.equal(out.header.integer('BITPIX'), -32);
    assert.equal(out.header.string('OBJECT'), 'x');
    assert.deepEqual(out.header.history(), ['step 1']);
    assert.deepEqual(Array.from(readImage(out).data as Float32Array), [3, 5, 7, 9]);
  });

  it('reads and writes gzip-compressed files, recognised by magic bytes', async (t) => {
    const dir = tempDir(t);
    const data = new Float32Array(100).map((_, i) => i / 3);
    const gz = join(dir, 'img.fits.gz');
    await writeFits(gz, [{ data, shape: [10, 10], name: 'SCI' }]);
    const raw = readFileSync(gz);
    assert.deepEqual([raw[0], raw[1]], [0x1f, 0x8b]);
    assertSameValues(readImage((await readFits(gz)).hdu('SCI')).data, data);
    if (requireTool(t, 'fitsverify')) assertFitsverifyClean(gz);
    const disguised = join(dir, 'img.fits');
    renameSync(gz, disguised);
    assertSameValues(readImage((await readFits(disguised)).hdu(0)).data, data);
    assertSameValues(readImage(parseFits(raw).hdu('SCI')).data, data);
    writeFileSync(join(dir, 'cut.fits.gz'), raw.subarray(0, raw.length - 20));
    await assert.rejects(
      readFits(join(dir, 'cut.fits.gz')),
      (e: unknown) => e instanceof BadInputError && /gzip data is corrupt or truncated/.test(e.message),
    );
  });

  it('reads a 4088 x 4088 float32 image into an array of its own, and writes it back', async (t) => {
    const n = 4088;
    const data = new Float32Array(n * n);
    for (let i = 0; i < data.length; i += 997) data[i] = i * 0.5;
    const path = join(tempDir(t), 'big.fits');
    await writeFits(path, [{ data, shape: [n, n] }]);
    const img = readImage((await readFits(path)).hdu(0));
    assert.ok(img.data instanceof Float32Array);
    // Decoded straight into its own buffer: no view into a copy of the whole file.
    assert.equal(img.data.buffer.byteLength, n * n * 4);
    assert.equal(img.data[997 * 1000], 997 * 1000 * 0.5);
    assert.equal(img.data[n * n - 1], data[n * n - 1]);
  });

  it('gives a clear error when a file shrinks between opening and reading', async (t) => {
    const path = join(tempDir(t), 'shrink.fits');
    await writeFits(path, [{ data: new Float64Array(2000), shape: [2000] }]);
    const file = await readFits(path);
    truncateSync(path, 4000);
    assert.throws(
      () => readImage(file.hdu(0)),
      (e: unknown) =>
        e instanceof BadInputError && /truncated or changed after it was opened/.test(e.message),
    );
  });

  it('refuses to write inconsistent input', () => {
    assert.throws(
      () => encodeFits([{ data: new Float32Array(5), shape: [2, 2] }]),
      /5 values but shape 2 x 2 needs 4/,
    );
    assert.throws(() => encodeFits([]), /no HDUs/);
    assert.throws(
      () =>
        encodeFits([{ data: new Float32Array(1), shape: [1], header: new Header().set('OBJECT', 'café') }]),
      /not printable ASCII/,
    );
  });
});
