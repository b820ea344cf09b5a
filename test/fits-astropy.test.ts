/**
 * Cross-checks with astropy (Debian's /usr/bin/python3): astropy reads our files with the same
 * values and header values, and we read files astropy writes as astropy reads them.
 * Values travel as JSON: numbers as strings (exact for int64 and float64), NaN and ±inf named.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  type FitsTable,
  Header,
  type ImageHduInput,
  readFits,
  readImage,
  readTable,
  writeFits,
} from '../src/fits/index.ts';
import { tempDir } from './support/fits.ts';
import { catalogColumns, SAMPLE_HEIGHT, SAMPLE_WIDTH, sampleImages } from './support/fits-samples.ts';
import { hasPythonModule, requireTool, runPython } from './support/tools.ts';

/** Python: describe every HDU of a file as astropy reads it. */
const DUMP = `
import sys, json, warnings
import numpy as np
from astropy.io import fits
warnings.simplefilter('error')

def val(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, bytes):
        return v.decode('ascii')
    return str(v)

def arr(a):
    return [val(x) for x in np.asarray(a).ravel()]

out = []
with fits.open(sys.argv[1]) as hdul:
    for h in hdul:
        d = {'name': h.name, 'header': {k: val(v) for k, v in h.header.items() if k not in ('COMMENT', 'HISTORY', '')},
             'history': [str(x) for x in h.header.get('HISTORY', [])], 'comments': [str(x) for x in h.header.get('COMMENT', [])]}
        if isinstance(h, fits.BinTableHDU):
            # Strings through astropy's own access, which drops trailing blanks as FITS says.
            d['columns'] = {c.name: {'format': c.format, 'unit': c.unit,
                                     'values': [str(x) for x in h.data[c.name]] if 'A' in c.format else arr(h.data[c.name])}
                            for c in h.columns}
        elif h.data is not None:
            d['dtype'] = h.data.dtype.kind + str(h.data.dtype.itemsize)
            d['shape'] = list(h.data.shape)
            d['values'] = arr(h.data)
        out.append(d)
print(json.dumps(out))
`;

interface Dumped {
  name: string;
  header: Record<string, string | boolean>;
  history: string[];
  comments: string[];
  dtype?: string;
  shape?: number[];
  values?: string[];
  columns?: Record<string, { format: string; unit: string | null; values: string[] }>;
}

function dump(path: string): Dumped[] {
  return JSON.parse(runPython(DUMP, [path])) as Dumped[];
}

/** Compare our values with astropy's strings: exact, NaN = NaN, -0 = 0 allowed (repr keeps it). */
function assertValues(ours: ArrayLike<number | bigint>, theirs: string[], what: string): void {
  assert.equal(ours.length, theirs.length, `${what}: length`);
  for (let i = 0; i < ours.length; i++) {
    const o = ours[i];
    const s = theirs[i];
    if (typeof o === 'bigint') {
      assert.equal(o, BigInt(s), `${what}[${i}]`);
    } else if (s === 'nan') {
      assert.ok(Number.isNaN(o), `${what}[${i}] is ${o}, astropy NaN`);
    } else {
      const t = s === 'inf' ? Number.POSITIVE_INFINITY : s === '-inf' ? Number.NEGATIVE_INFINITY : Number(s);
      assert.ok(Object.is(o, t) || o === t, `${what}[${i}]: ours ${o}, astropy ${s}`);
    }
  }
}

/** numpy dtype (kind and size) that astropy gives for each of our array types. */
const DTYPES: Record<string, string> = {
  Uint8Array: 'u1',
  Int8Array: 'i1',
  Int16Array: 'i2',
  Uint16Array: 'u2',
  Int32Array: 'i4',
  Uint32Array: 'u4',
  BigInt64Array: 'i8',
  BigUint64Array: 'u8',
  Float32Array: 'f4',
  Float64Array: 'f8',
};

describe('astropy cross-checks', () => {
  it('astropy reads our images of every type, tables and headers identically', async (t) => {
    if (!requireTool(t, 'astropy', hasPythonModule('astropy'))) return;
    const samples = sampleImages();
    const header = new Header()
      .set('OBJECT', "NGC 1365's core", 'target')
      .set('EXPTIME', 30.25, 'seconds')
      .set('NCOMBINE', 7)
      .set('FLAG', true)
      .set('NOTE', `${'a long note, '.repeat(12)}end`, 'long string with CONTINUE')
      .set('ESO DET NAME', 'CCD-42', 'HIERARCH card')
      .addHistory('bias subtracted')
      .addComment('written by rapid');
    const hdus: (
      | ImageHduInput
      | { kind: 'bintable'; name: string; columns: ReturnType<typeof catalogColumns> }
    )[] = samples.map((s, i) => ({
      data: s.data,
      shape: [SAMPLE_WIDTH, SAMPLE_HEIGHT],
      name: i === 0 ? undefined : s.name.toUpperCase(),
      header: i === 0 ? header : undefined,
    }));
    hdus.push({ kind: 'bintable', name: 'CAT', columns: catalogColumns() });
    const path = join(tempDir(t), 'ours.fits');
    await writeFits(path, hdus);
    const theirs = dump(path);
    assert.equal(theirs.length, samples.length + 1);
    samples.forEach((s, i) => {
      const d = theirs[i];
      assert.equal(d.dtype, DTYPES[s.data.constructor.name], `${s.name} dtype`);
      assert.deepEqual(d.shape, [SAMPLE_HEIGHT, SAMPLE_WIDTH], 'astropy shape is (NAXIS2, NAXIS1)');
      assertValues(s.data, d.values ?? [], s.name);
    });
    const h0 = theirs[0].header;
    assert.equal(h0.OBJECT, "NGC 1365's core");
    assert.equal(h0.EXPTIME, '30.25');
    assert.equal(h0.NCOMBINE, '7');
    assert.equal(h0.FLAG, true);
    assert.equal(h0.NOTE, header.get('NOTE'));
    assert.equal(h0['ESO DET NAME'], 'CCD-42');
    assert.deepEqual(theirs[0].history, ['bias subtracted']);
    assert.deepEqual(theirs[0].comments, ['written by rapid']);
    const cat = theirs[samples.length];
    assert.equal(cat.name, 'CAT');
    for (const c of catalogColumns()) {
      const col = cat.columns?.[c.name];
      assert.ok(col, c.name);
      if (c.unit) assert.equal(col.unit, c.unit);
      if (c.name === 'ISSTAR') assert.deepEqual(col.values, [true, false, true]);
      else if (c.name === 'NAME') assert.deepEqual(col.values, c.data);
      else assertValues(c.data as ArrayLike<number>, col.values, c.name);
    }
    assert.equal(cat.columns?.FLUX_APER.format, '6E');
  });

  it('we read files written by astropy as astropy reads them (plain and gzip)', async (t) => {
    if (!requireTool(t, 'astropy', hasPythonModule('astropy'))) return;
    const dir = tempDir(t);
    const plain = join(dir, 'astropy.fits');
    const gz = join(dir, 'astropy.fits.gz');
    runPython(
      `
import sys
import numpy as np
from astropy.io import fits
rng = np.random.default_rng(5)
h = fits.Header()
h['OBJECT'] = ("O'Brien field", 'target')
h['EXPTIME'] = 45.5
h['NCOMBINE'] = 3
h['DONE'] = False
h['LONGSTR'] = 'x' * 100 + ' and more text ' + 'y' * 60
h['HIERARCH ESO INS FILT NAME'] = 'Ks'
h['HISTORY'] = 'flat fielded'
h['COMMENT'] = 'from astropy'
hdus = [fits.PrimaryHDU(rng.normal(100, 5, (9, 11)).astype(np.float32), header=h)]
for dt in ['u1', 'i2', 'u2', 'i4', 'u4', 'i8', 'f8']:
    info = np.iinfo(dt) if dt[0] in 'iu' else None
    a = rng.integers(info.min, info.max, (4, 6), dtype=dt, endpoint=True) if info else rng.normal(0, 1e5, (4, 6))
    hdus.append(fits.ImageHDU(a, name='T_' + dt))
hdus.append(fits.ImageHDU(np.arange(60, dtype=np.int32).reshape(3, 4, 5), name='CUBE'))
# Stored integers with scaling and BLANK, set after construction so that astropy keeps them.
scaled = fits.ImageHDU(np.array([[0, 1, -32768], [200, -200, 32767]], dtype=np.int16), name='SCALED')
scaled.header['BSCALE'] = 0.5
scaled.header['BZERO'] = 10.0
scaled.header['BLANK'] = -32768
hdus.append(scaled)
blank = fits.ImageHDU(np.array([5, -1, 7], dtype=np.int16), name='BLANKINT')
blank.header['BLANK'] = -1
hdus.append(blank)
cols = [
    fits.Column(name='ID', format='J', array=np.array([1, 2, 3], dtype=np.int32)),
    fits.Column(name='RA', format='D', unit='deg', array=np.array([10.5, 11.25, 12.0])),
    fits.Column(name='MAG', format='E', unit='mag', array=np.array([18.0, np.nan, 20.5], dtype=np.float32)),
    fits.Column(name='FLUX_APER', format='6E', unit='count', array=rng.normal(1000, 10, (3, 6)).astype(np.float32)),
    fits.Column(name='NAME', format='10A', array=np.array(['alpha', 'beta', ''])),
    fits.Column(name='STAR', format='L', array=np.array([True, False, True])),
    fits.Column(name='BIG', format='K', array=np.array([-(2**62), 0, 2**62], dtype=np.int64)),
    fits.Column(name='U16', format='I', bzero=32768, array=np.array([0, 40000, 65535], dtype=np.uint16)),
    fits.Column(name='SHORT', format='I', array=np.array([-5, 0, 5], dtype=np.int16)),
    fits.Column(name='BYTE', format='B', array=np.array([0, 7, 255], dtype=np.uint8)),
]
hdus.append(fits.BinTableHDU.from_columns(cols, name='CAT'))
fits.HDUList(hdus).writeto(sys.argv[1])
fits.HDUList(hdus).writeto(sys.argv[2])
`,
      [plain, gz],
    );
    const expected = dump(plain);
    for (const path of [plain, gz]) {
      const file = await readFits(path);
      assert.equal(file.hdus.length, expected.length);
      file.hdus.forEach((hdu, i) => {
        const e = expected[i];
        if (hdu.kind === 'bintable') {
          const table: FitsTable = readTable(hdu);
          for (const [name, col] of Object.entries(e.columns ?? {})) {
            const ours = table.column(name);
            assert.equal(ours.unit ?? null, col.unit, `${name} unit`);
            if (name === 'NAME') assert.deepEqual(ours.data, col.values);
            else if (name === 'STAR')
              assert.deepEqual(Array.from(ours.data as Uint8Array).map(Boolean), col.values);
            else assertValues(ours.data as ArrayLike<number>, col.values, `${path} ${name}`);
          }
          assert.ok(table.column('U16').data instanceof Uint16Array);
          return;
        }
        if (!e.values) return;
        const img = readImage(hdu);
        assert.deepEqual([...img.shape].reverse(), e.shape, `${e.name} shape`);
        // astropy turns BLANK pixels of unscaled integers into NaN (and the image into floats);
        // we keep the integers and say which value is BLANK.
        const data =
          img.blank !== undefined
            ? Array.from(img.data as Int16Array, (v) => (v === img.blank ? Number.NaN : v))
            : img.data;
        assertValues(data, e.values, `${path} ${e.name}`);
        assert.equal(hdu.name ?? 'PRIMARY', e.name);
      });
      const h = file.hdu(0).header;
      assert.equal(h.get('OBJECT'), expected[0].header.OBJECT);
      assert.equal(h.comment('OBJECT'), 'target');
      assert.equal(String(h.get('EXPTIME')), expected[0].header.EXPTIME);
      assert.equal(h.get('DONE'), false);
      assert.equal(h.get('LONGSTR'), expected[0].header.LONGSTR);
      assert.equal(h.get('ESO INS FILT NAME'), 'Ks');
      assert.deepEqual(h.history(), ['flat fielded']);
      assert.deepEqual(h.comments(), ['from astropy']);
      assert.ok(readImage(file.hdu('SCALED')).data instanceof Float32Array);
      const blankInt = readImage(file.hdu('BLANKINT'));
      assert.ok(blankInt.data instanceof Int16Array);
      assert.equal(blankInt.blank, -1);
      assert.ok(readImage(file.hdu('T_U2')).data instanceof Uint16Array);
      assert.ok(readImage(file.hdu('T_U4')).data instanceof Uint32Array);
      assert.ok(readImage(file.hdu('T_I8')).data instanceof BigInt64Array);
    }
  });
});
