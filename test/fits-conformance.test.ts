/**
 * The FITS torture set (ESO-MIDAS tst0001-tst0013): what is standard is read (and agrees with
 * astropy), the rest is refused with a clear error. Plus hand-made bad inputs: each must end in
 * a BadInputError (exit code 65) naming the file, the HDU and the card.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  BLOCK_LENGTH,
  encodeFits,
  type Hdu,
  parseFits,
  readFits,
  readImage,
  readTable,
  verifyFits,
} from '../src/fits/index.ts';
import { BadInputError, ExitCode, MissingInputError } from '../src/util/errors.ts';
import { CONFORMANCE, tempDir } from './support/fits.ts';
import { hasPythonModule, requireTool, runPython } from './support/tools.ts';

const file = (n: number) => join(CONFORMANCE, `tst${String(n).padStart(4, '0')}.mt`);

/** Expected HDUs: kind, shape, name, array type of the image. */
const EXPECTED: Record<number, [string, number[], string | undefined, string | undefined][]> = {
  1: [['image', [123, 321], undefined, 'Uint8Array']],
  2: [['image', [73, 31, 5], undefined, 'Int16Array']],
  3: [['image', [137, 271], undefined, 'Int32Array']],
  4: [['image', [256, 256], undefined, 'Float64Array']], // BITPIX 32 with BSCALE/BZERO
  5: [['image', [102, 109], undefined, 'Float32Array']],
  6: [['image', [77, 173], undefined, 'Float64Array']],
  7: [['image', [38], undefined, 'Float32Array']],
  8: [['image', [38], undefined, 'Float64Array']],
  9: [
    ['image', [], undefined, undefined],
    ['table', [59, 53], 'Asciitable', undefined],
    ['image', [73, 31, 5], 'quality', 'Int16Array'],
  ],
  10: [
    ['image', [], undefined, undefined],
    ['bintable', [99, 11], 'BinTest', undefined],
    ['image', [73, 31, 5], 'quality', 'Int16Array'],
  ],
  11: [
    ['image', [], undefined, undefined],
    ['image', [73, 31, 5], 'quality', 'Int16Array'],
    ['table', [59, 53], 'Asciitable', undefined],
  ],
  12: [
    ['image', [102, 109], undefined, 'Float32Array'],
    ['bintable', [99, 11], 'BinTest', undefined],
    ['unknown', [17, 41, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2], 'Unknown', undefined],
    ['image', [73, 31, 5], 'quality', 'Int16Array'],
    ['table', [59, 53], 'Asciitable', undefined],
  ],
  13: [['image', [128, 128], undefined, 'Float32Array']],
};

/** A Python float repr as a number ('inf', '-inf', 'nan' included). */
function pyFloat(s: string): number {
  return s === 'inf' ? Number.POSITIVE_INFINITY : s === '-inf' ? Number.NEGATIVE_INFINITY : Number(s);
}

function hasImage(h: Hdu): boolean {
  return h.kind === 'image' && h.shape.length > 0;
}

describe('FITS conformance set (tst0001-tst0013)', () => {
  for (const [n, hdus] of Object.entries(EXPECTED)) {
    it(`tst${n.padStart(4, '0')}: ${hdus.map((h) => h[0]).join(', ')}`, async () => {
      const warnings: string[] = [];
      const f = await readFits(file(Number(n)), { warn: (m) => warnings.push(m) });
      assert.deepEqual(
        f.hdus.map((h) => [h.kind, h.shape, h.name]),
        hdus.map(([kind, shape, name]) => [kind, shape, name]),
      );
      f.hdus.forEach((h, i) => {
        const type = hdus[i][3];
        if (type) assert.equal(readImage(h).data.constructor.name, type);
        if (h.kind === 'bintable') assert.equal(readTable(h).nrows, 11);
        if (h.kind === 'table') {
          assert.throws(
            () => readTable(h),
            /is an ASCII table \(XTENSION = 'TABLE'\); only its header is read/,
          );
          assert.throws(() => readImage(h), /is a table HDU, not an image/);
        }
        if (h.kind === 'unknown') {
          assert.equal(h.typeName, 'unknown (XZQ-EXTN)');
          const message =
            /tst0012\.mt, HDU 2, card 1 \(XTENSION\): extension type XTENSION = 'XZQ-EXTN' is not standard/;
          assert.throws(
            () => readImage(h),
            (e: unknown) => e instanceof BadInputError && message.test(e.message),
          );
          assert.throws(() => readTable(h), message);
        }
      });
      if (n === '12')
        assert.match(warnings.join('\n'), /HDU 2: extension type XTENSION = 'XZQ-EXTN' is not standard/);
      else assert.deepEqual(warnings, []);
    });
  }

  it('reads HIERARCH cards and odd reals of tst0013', async () => {
    const h = (await readFits(file(13))).hdu(0).header;
    assert.equal(h.get('ESO TEL FOCUS LENGTH'), 77000);
    assert.equal(h.get('ESO DET NAME'), 'ROCK 256^2');
    assert.equal(h.get('TM-START'), 69932);
    assert.equal(h.get('CRVAL1'), 1);
  });

  it('verify passes the standard files and reports the non-standard extension of tst0012', async () => {
    for (const n of [1, 4, 7, 10, 13]) assert.equal((await verifyFits(file(n))).ok, true, `tst${n}`);
    const r = await verifyFits(file(12));
    assert.equal(r.ok, false);
    assert.match(r.hdus[2].problems[0], /extension type 'XZQ-EXTN' is not standard/);
    assert.deepEqual(
      r.hdus.map((h) => h.ok),
      [true, true, false, true, true],
    );
  });

  it('values agree with astropy for every image and binary-table column we read', async (t) => {
    if (!requireTool(t, 'astropy', hasPythonModule('astropy'))) return;
    const script = `
import sys, json, warnings
import numpy as np
from astropy.io import fits
warnings.simplefilter('ignore')
out = {}
for path in sys.argv[1:]:
    with fits.open(path) as hdul:
        for i, h in enumerate(hdul):
            if isinstance(h, (fits.PrimaryHDU, fits.ImageHDU)) and h.data is not None:
                a = np.asarray(h.data, dtype=np.float64).ravel()
                out[path + ':' + str(i)] = [repr(float(x)) for x in a]
            if isinstance(h, fits.BinTableHDU):
                for c in ['COOR', 'FLUX', 'CHANNEL', 'Index', 'NOTE']:
                    out[path + ':' + str(i) + ':' + c] = [repr(float(x)) for x in np.asarray(h.data[c], dtype=np.float64).ravel()]
print(json.dumps(out))
`;
    const paths = Object.keys(EXPECTED).map((n) => file(Number(n)));
    const expected = JSON.parse(runPython(script, paths)) as Record<string, string[]>;
    let compared = 0;
    for (const path of paths) {
      const f = await readFits(path);
      for (const h of f.hdus) {
        if (hasImage(h)) {
          const theirs = expected[`${path}:${h.index}`];
          const ours = readImage(h).data;
          assert.equal(ours.length, theirs.length);
          for (let i = 0; i < ours.length; i++) {
            const a = Number(ours[i]);
            const b = pyFloat(theirs[i]);
            assert.ok(
              Object.is(a, b) || a === b || (Number.isNaN(a) && Number.isNaN(b)),
              `${path} HDU ${h.index} [${i}]: ${a} vs ${b}`,
            );
          }
          compared++;
        }
        if (h.kind === 'bintable') {
          const table = readTable(h);
          for (const c of ['COOR', 'FLUX', 'CHANNEL', 'Index', 'NOTE']) {
            const theirs = expected[`${path}:${h.index}:${c}`].map(pyFloat);
            const ours = Array.from(table.column(c).data as ArrayLike<number>, Number);
            assert.deepEqual(ours, theirs, `${path} ${c}`);
          }
          compared++;
        }
      }
    }
    assert.equal(compared, 16); // 14 images and 2 binary tables
  });
});

// ---- hand-made bad inputs ---------------------------------------------------------------------

function cards(list: string[]): string {
  const text = [...list, 'END'].map((c) => c.padEnd(80)).join('');
  return text.padEnd(Math.ceil(text.length / BLOCK_LENGTH) * BLOCK_LENGTH);
}

function fits(headerCards: string[], dataBytes = 0): Uint8Array {
  const data = Math.ceil(dataBytes / BLOCK_LENGTH) * BLOCK_LENGTH;
  const out = new Uint8Array(cards(headerCards).length + data);
  Buffer.from(out.buffer).write(cards(headerCards), 0, 'latin1');
  return out;
}

const PRIMARY = [
  'SIMPLE  =                    T',
  'BITPIX  =                  -32',
  'NAXIS   =                    2',
  'NAXIS1  =                   10',
  'NAXIS2  =                   10',
];

function assertBad(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => {
      const f = parseFits(bytes, { file: 'bad.fits' });
      for (const h of f.hdus) if (hasImage(h)) readImage(h);
    },
    (e: unknown) => {
      assert.ok(e instanceof BadInputError, `BadInputError expected, got ${e}`);
      assert.equal(e.exitCode, ExitCode.BAD_INPUT);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

describe('bad input gives a clear BadInputError', () => {
  it('truncated data', () => {
    const good = fits(PRIMARY, 400);
    assertBad(
      good.subarray(0, 2880 + 100),
      /bad\.fits, HDU 0: data unit is truncated: .* implies 400 bytes but only 100 remain/,
    );
  });

  it('a bad card (unreadable value, unclosed string, control byte)', () => {
    assertBad(
      fits([...PRIMARY, 'EXPTIME =                 1.2.3']),
      /bad\.fits, HDU 0, card 6: cannot read the value of EXPTIME: '1\.2\.3'/,
    );
    assertBad(fits([...PRIMARY, "OBJECT  = 'M31"]), /card 6: string value of OBJECT has no closing quote/);
    const ctl = fits(PRIMARY, 400);
    ctl[80 * 3 + 20] = 0x01;
    assertBad(
      ctl,
      /bad\.fits, HDU 0, card 4: header card contains a non-ASCII or control byte \(0x01\) at column 21/,
    );
  });

  it('unknown BITPIX', () => {
    assertBad(
      fits([
        'SIMPLE  =                    T',
        'BITPIX  =                   12',
        'NAXIS   =                    0',
      ]),
      /bad\.fits, HDU 0, card 2 \(BITPIX\): unknown BITPIX = 12/,
    );
  });

  it('NAXISn missing, negative or not an integer', () => {
    assertBad(
      fits(PRIMARY.slice(0, 4)),
      /bad\.fits, HDU 0: mandatory keyword NAXIS2 is missing \(NAXIS = 2\)/,
    );
    assertBad(
      fits([...PRIMARY.slice(0, 4), 'NAXIS2  =                  -10']),
      /card 5 \(NAXIS2\): NAXIS2 = -10 is not valid/,
    );
    assertBad(
      fits([...PRIMARY.slice(0, 4), 'NAXIS2  =                 10.5']),
      /card 5 \(NAXIS2\): NAXIS2 = 10\.5 is not valid/,
    );
    assertBad(
      fits(['SIMPLE  =                    T', 'BITPIX  =                    8']),
      /mandatory keyword NAXIS is missing/,
    );
  });

  it('missing END', () => {
    const text = PRIMARY.map((c) => c.padEnd(80))
      .join('')
      .padEnd(2880);
    assertBad(Buffer.from(text, 'latin1'), /bad\.fits, HDU 0: header has no END card/);
  });

  it('an unknown extension type: listed, its data refused by name and card', () => {
    const ext = fits(
      [
        "XTENSION= 'FOO     '",
        'BITPIX  =                    8',
        'NAXIS   =                    1',
        'NAXIS1  =                   10',
        'PCOUNT  =                    0',
        'GCOUNT  =                    1',
      ],
      10,
    );
    const bytes = Buffer.concat([
      fits([
        'SIMPLE  =                    T',
        'BITPIX  =                    8',
        'NAXIS   =                    0',
        'EXTEND  =                    T',
      ]),
      ext,
    ]);
    const warnings: string[] = [];
    const f = parseFits(bytes, { file: 'bad.fits', warn: (m) => warnings.push(m) });
    assert.equal(f.hdus[1].kind, 'unknown');
    assert.match(warnings[0], /bad\.fits, HDU 1: extension type XTENSION = 'FOO' is not standard/);
    assert.throws(
      () => readImage(f.hdus[1]),
      /bad\.fits, HDU 1, card 1 \(XTENSION\): extension type XTENSION = 'FOO' is not standard; its data cannot be read as an image/,
    );
  });

  it('random groups: listed, their data refused', () => {
    const bytes = fits(
      [
        'SIMPLE  =                    T',
        'BITPIX  =                  -32',
        'NAXIS   =                    2',
        'NAXIS1  =                    0',
        'NAXIS2  =                    3',
        'GROUPS  =                    T',
        'PCOUNT  =                    2',
        'GCOUNT  =                    4',
      ],
      4 * 4 * (2 + 3),
    );
    const h = parseFits(bytes, { file: 'groups.fits' }).hdus[0];
    assert.equal(h.kind, 'unknown');
    assert.equal(h.typeName, 'unknown (random groups)');
    assert.equal(h.dataLength, 80);
    assert.throws(
      () => readImage(h),
      /groups\.fits, HDU 0: random-groups data \(GROUPS = T\) are not supported/,
    );
  });

  it('not FITS, empty, damaged between HDUs, bad extension structure', () => {
    assertBad(
      Buffer.from('\x89PNG\r\n\x1a\n0000000000'),
      /bad\.fits: not a FITS file \(it does not begin with SIMPLE\)/,
    );
    assertBad(new Uint8Array(0), /bad\.fits: the file is empty/);
    const primary = encodeFits([{ data: new Float32Array(4), shape: [2, 2] }]);
    assertBad(
      Buffer.concat([primary, fits(["XTENSIOM= 'IMAGE   '", 'BITPIX  =                    8'])]),
      /bad\.fits, HDU 1: expected XTENSION at byte 5760, found 'XTENSIOM'/,
    );
    assertBad(
      Buffer.concat([
        primary,
        fits(
          [
            "XTENSION= 'IMAGE   '",
            'BITPIX  =                    8',
            'NAXIS   =                    0',
            'PCOUNT  =                    5',
            'GCOUNT  =                    1',
          ],
          5,
        ),
      ]),
      /bad\.fits, HDU 1: an IMAGE extension needs PCOUNT = 0 and GCOUNT = 1/,
    );
    assertBad(
      Buffer.concat([
        primary,
        fits(["XTENSION= 'IMAGE   '", 'BITPIX  =                    8', 'NAXIS   =                    0']),
      ]),
      /bad\.fits, HDU 1: mandatory keyword PCOUNT is missing/,
    );
    // Zero fill after the last HDU is read with a warning, not an error.
    const warnings: string[] = [];
    parseFits(Buffer.concat([primary, new Uint8Array(1000)]), { warn: (m) => warnings.push(m) });
    assert.match(warnings[0], /1000 bytes after the last HDU \(fill\) ignored/);
  });

  it('a missing file is MissingInputError (exit 66), a directory BadInputError', async (t) => {
    const dir = tempDir(t);
    await assert.rejects(
      readFits(join(dir, 'none.fits')),
      (e: unknown) =>
        e instanceof MissingInputError && e.exitCode === 66 && /none\.fits: no such file/.test(e.message),
    );
    mkdirSync(join(dir, 'd.fits'));
    await assert.rejects(readFits(join(dir, 'd.fits')), BadInputError);
    writeFileSync(
      join(dir, 'free.fits'),
      fits(['SIMPLE  =  T', 'BITPIX  =                    8', 'NAXIS   =                    0']),
    );
    const warnings: string[] = [];
    await readFits(join(dir, 'free.fits'), { warn: (m) => warnings.push(m) });
    assert.match(
      warnings.join(),
      /free\.fits, HDU 0, card 1: mandatory keyword SIMPLE is not in fixed format/,
    );
  });
});
