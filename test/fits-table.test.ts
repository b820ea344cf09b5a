/** Binary tables: every scalar type, strings, vector columns, units, the ESO test table. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  type ColumnInput,
  encodeFits,
  Header,
  parseFits,
  readFits,
  readImage,
  readTable,
  writeFits,
} from '../src/fits/index.ts';
import { BadInputError } from '../src/util/errors.ts';
import { assertFitsverifyClean, assertSameValues, CONFORMANCE, tempDir } from './support/fits.ts';
import { catalogColumns } from './support/fits-samples.ts';
import { requireTool } from './support/tools.ts';

describe('binary tables', () => {
  it('writes and reads numeric, logical, string and vector columns with units', async (t) => {
    const path = join(tempDir(t), 'cat.fits');
    await writeFits(path, [{ kind: 'bintable', name: 'LDAC_OBJECTS', columns: catalogColumns() }]);
    const file = await readFits(path);
    assert.equal(file.hdus.length, 2, 'an empty primary HDU is written before a table');
    assert.equal(file.hdus[0].header.integer('NAXIS'), 0);
    const hdu = file.hdu('LDAC_OBJECTS');
    assert.equal(hdu.kind, 'bintable');
    const table = readTable(hdu);
    assert.equal(table.nrows, 3);
    assert.deepEqual(
      table.names,
      catalogColumns().map((c) => c.name),
    );
    const col = (n: string) => table.column(n);
    assert.deepEqual(
      table.columns.map((c) => c.format),
      ['1J', '1I', '1B', '1K', '1D', '1E', '6E', '1L', '6A'],
    );
    assert.ok(col('NUMBER').data instanceof Int32Array);
    assert.ok(col('FLAGS').data instanceof Int16Array);
    assert.ok(col('CLASS').data instanceof Uint8Array);
    assert.ok(col('ID64').data instanceof BigInt64Array);
    assert.ok(col('X_IMAGE').data instanceof Float64Array);
    assert.ok(col('MAG_AUTO').data instanceof Float32Array);
    for (const c of catalogColumns()) {
      if (c.name === 'ISSTAR') assert.deepEqual(Array.from(col(c.name).data as Uint8Array), [1, 0, 1]);
      else if (c.name === 'NAME') assert.deepEqual(col(c.name).data, c.data);
      else assertSameValues(col(c.name).data as ArrayLike<number>, c.data as ArrayLike<number>, c.name);
    }
    assert.equal(col('FLUX_APER').repeat, 6);
    assert.equal(col('flux_aper').unit, 'count');
    assert.equal(col('X_IMAGE').unit, 'pixel');
    // Row 2's fourth aperture flux:
    assert.equal((col('FLUX_APER').data as Float32Array)[1 * 6 + 3], 9 * 1.5);
    assert.throws(
      () => table.column('MISSING'),
      (e: unknown) => e instanceof BadInputError && /no column named 'MISSING'/.test(e.message),
    );
    if (requireTool(t, 'fitsverify')) assertFitsverifyClean(path);
  });

  it('stores unsigned and signed-byte columns with the TZERO conventions', () => {
    const columns: ColumnInput[] = [
      { name: 'U16', data: new Uint16Array([0, 32768, 65535]) },
      { name: 'U32', data: new Uint32Array([0, 2 ** 31, 2 ** 32 - 1]) },
      { name: 'I8', data: new Int8Array([-128, 0, 127]) },
      { name: 'U64', data: new BigUint64Array([0n, 2n ** 63n, 2n ** 64n - 1n]) },
    ];
    const hdu = parseFits(encodeFits([{ kind: 'bintable', columns }])).hdus[1];
    assert.equal(hdu.header.get('TZERO1'), 32768);
    assert.equal(hdu.header.get('TZERO4'), 2n ** 63n);
    const table = readTable(hdu);
    for (const c of columns) {
      const got = table.column(c.name).data;
      assert.equal(got.constructor, c.data.constructor, c.name);
      assertSameValues(got as ArrayLike<number>, c.data as ArrayLike<number>, c.name);
    }
  });

  it('converts to an explicit format, with TNULL for NaN in integer columns', () => {
    const hdu = parseFits(
      encodeFits([
        {
          kind: 'bintable',
          columns: [
            { name: 'A', data: new Float64Array([1.5, 2.5]), format: 'E' },
            { name: 'B', data: [1, Number.NaN], format: 'J', null: -999 },
            { name: 'S', data: ['ab', 'c'], format: '8A' },
            { name: 'V', data: new Float64Array([1, 2, 3, 4]), format: '2D', dim: [2] },
          ],
        },
      ]),
    ).hdus[1];
    const t = readTable(hdu);
    assert.ok(t.column('A').data instanceof Float32Array);
    assert.deepEqual(Array.from(t.column('B').data as Int32Array), [1, -999]);
    assert.equal(t.column('B').nullValue, -999);
    assert.equal(t.column('S').format, '8A');
    assert.deepEqual(t.column('S').data, ['ab', 'c']);
    assert.equal(t.column('V').repeat, 2);
    assert.deepEqual(t.column('V').dim, [2]);
    assert.throws(
      () => encodeFits([{ kind: 'bintable', columns: [{ name: 'B', data: [Number.NaN], format: 'J' }] }]),
      /NaN in an integer column/,
    );
    assert.throws(
      () =>
        encodeFits([
          {
            kind: 'bintable',
            columns: [
              { name: 'A', data: new Float32Array(3) },
              { name: 'B', data: new Float32Array(4) },
            ],
          },
        ]),
      /has 4 rows but A has 3/,
    );
    assert.throws(
      () => encodeFits([{ kind: 'bintable', columns: [{ name: 'S', data: ['toolong'], format: '3A' }] }]),
      /exceeds 3A/,
    );
  });

  it('writes an empty table and a table after an image', () => {
    const file = parseFits(
      encodeFits([
        { data: new Float32Array(4), shape: [2, 2], header: new Header().set('OBJECT', 'field') },
        { kind: 'bintable', name: 'EMPTY', columns: [{ name: 'X', data: new Float64Array(0) }] },
      ]),
    );
    assert.equal(file.hdus.length, 2);
    assert.equal(readTable(file.hdu('EMPTY')).nrows, 0);
    assert.equal(readImage(file.hdu(0)).data.length, 4);
    assert.throws(() => readTable(file.hdu(0)), /is an image, not a binary table/);
  });

  it('reads the ESO test table (tst0010): scaling, TNULL, bits, complex and variable-length arrays', async () => {
    const file = await readFits(join(CONFORMANCE, 'tst0010.mt'));
    const t = readTable(file.hdu('BinTest'));
    assert.equal(t.nrows, 11);
    assert.deepEqual((t.column('IDENT').data as string[]).slice(0, 2), ['Ident2001', 'Ident2002']);
    const flags = t.column('FLAGS');
    assert.equal(flags.repeat, 13);
    assert.deepEqual(
      Array.from((flags.data as Uint8Array).subarray(13, 26)),
      [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0],
    );
    // COUNTS: 3B with TSCAL 123.1, TZERO -12.65, TNULL 237 -> physical floats, null -> NaN.
    const counts = t.column('COUNTS').data as Float64Array;
    assert.ok(Math.abs(counts[0] - 110.45) < 1e-9);
    assert.ok(Number.isNaN(counts[6]), 'the raw value 237 is TNULL');
    assert.equal(t.column('COOR').unit, 'M');
    assert.deepEqual(
      Array.from((t.column('Index').data as Int32Array).subarray(9, 12)),
      [793149, 793149, 793149],
    );
    assert.equal(t.column('Index').nullValue, 793149);
    assert.equal(t.column('DUMMY').repeat, 0);
    assert.deepEqual(Array.from(t.column('Yes_No').data as Uint8Array).slice(0, 4), [1, 1, 0, 1]);
    const arrays = t.column('Array').data as Int16Array[];
    assert.equal(arrays[0].length, 0);
    assert.deepEqual(Array.from(arrays[1]).slice(0, 3), [1792, 2048, 2304]);
    assert.deepEqual(Array.from((t.column('Complex').data as Float32Array).subarray(0, 4)), [1, 2, 3, 4]);
    assert.deepEqual(Array.from((t.column('NOTE').data as Uint8Array).subarray(0, 4)), [1, 2, 80, 0]);
  });

  it('rejects a table whose TFORMs do not add up to NAXIS1', () => {
    const bytes = encodeFits([{ kind: 'bintable', columns: [{ name: 'X', data: new Float64Array(2) }] }]);
    const text = Buffer.from(bytes).toString('latin1');
    const at = text.indexOf("TFORM1  = '1D");
    Buffer.from(bytes.buffer, bytes.byteOffset).write("TFORM1  = '1E", at, 'latin1');
    const hdu = parseFits(bytes, { file: 'bad.fits' }).hdus[1];
    assert.throws(
      () => readTable(hdu),
      (e: unknown) =>
        e instanceof BadInputError &&
        /bad\.fits, HDU 1, card 4 \(NAXIS1\): the columns' TFORMs add up to 4 bytes per row but NAXIS1 = 8/.test(
          e.message,
        ),
    );
  });
});
