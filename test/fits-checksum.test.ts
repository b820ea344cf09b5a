/** The checksum convention: sums, the ASCII encoding, writing, and verification. */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { addSums, complement, encodeChecksum, onesComplementSum } from '../src/fits/checksum.ts';
import { encodeFits, Header, parseFits, verifyBytes, verifyFits, writeFits } from '../src/fits/index.ts';
import { MissingInputError } from '../src/util/errors.ts';
import { assertFitsverifyClean, tempDir } from './support/fits.ts';
import { catalogColumns } from './support/fits-samples.ts';
import { hasPythonModule, requireTool, runPython } from './support/tools.ts';

function sampleFile(checksum: boolean): Uint8Array {
  return encodeFits(
    [
      {
        data: new Float32Array(300).map((_, i) => Math.sin(i)),
        shape: [20, 15],
        header: new Header().set('OBJECT', 'checked'),
      },
      { data: new Int16Array(64).map((_, i) => i * 3), shape: [8, 8], name: 'DQ' },
      { kind: 'bintable', name: 'CAT', columns: catalogColumns() },
    ],
    { checksum },
  );
}

describe('checksums', () => {
  it('adds 32-bit words with end-around carry', () => {
    assert.equal(onesComplementSum(new Uint8Array([0, 0, 0, 1, 0, 0, 0, 2])), 3);
    // 0xFFFFFFFF + 1 wraps to 1 in ones' complement arithmetic.
    assert.equal(onesComplementSum(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1])), 1);
    assert.equal(onesComplementSum(new Uint8Array([0x80, 0, 0, 0, 0x80, 0, 0, 0])), 1);
    assert.equal(addSums(0xffffffff, 5), 5);
    assert.equal(complement(0), 0xffffffff);
  });

  it('encodes a value as 16 alphanumeric characters that restore a sum of -0', () => {
    // The value sits in columns 12-27 of its card, so it starts 3 bytes into a 32-bit word.
    const card = (value: string) => Buffer.from(`CHECKSUM= '${value}' / HDU checksum`.padEnd(80), 'latin1');
    for (const sum of [0, 1, 0x12345678, 0xfffffffe, 0x7f7f7f7f, 2 ** 31]) {
      const text = encodeChecksum(complement(addSums(sum, onesComplementSum(card('0000000000000000')))));
      assert.match(text, /^[0-9A-Za-z]{16}$/);
      assert.equal(addSums(sum, onesComplementSum(card(text))), 0xffffffff, `sum ${sum}`);
    }
  });

  it('writes CHECKSUM and DATASUM that verify, per HDU', async (t) => {
    const bytes = sampleFile(true);
    const file = parseFits(bytes);
    for (const hdu of file.hdus) {
      assert.match(hdu.header.string('CHECKSUM'), /^[0-9A-Za-z]{16}$/);
      assert.match(hdu.header.string('DATASUM'), /^\d+$/);
    }
    const report = verifyBytes(bytes, 'sample.fits');
    assert.equal(report.ok, true, JSON.stringify(report, null, 1));
    assert.deepEqual(
      report.hdus.map((h) => [h.index, h.checksum, h.datasum]),
      [
        [0, 'ok', 'ok'],
        [1, 'ok', 'ok'],
        [2, 'ok', 'ok'],
      ],
    );
    const path = join(tempDir(t), 'sums.fits');
    writeFileSync(path, bytes);
    if (requireTool(t, 'fitsverify')) assertFitsverifyClean(path);
  });

  it('detects a flipped byte in the data or the header', () => {
    const bytes = sampleFile(true);
    const file = parseFits(bytes);
    const dq = file.hdu('DQ');
    const data = new Uint8Array(bytes);
    data[dq.dataStart + 10] ^= 0x01;
    const r = verifyBytes(data, 'flipped.fits');
    assert.equal(r.ok, false);
    assert.deepEqual([r.hdus[1].checksum, r.hdus[1].datasum], ['bad', 'bad']);
    assert.equal(r.hdus[0].ok && r.hdus[2].ok, true);
    assert.match(
      r.hdus[1].problems.join('\n'),
      /flipped\.fits, HDU 1, card \d+ \(DATASUM\): DATASUM = .* the data are corrupted/,
    );

    const header = new Uint8Array(bytes);
    const at = Buffer.from(header).toString('latin1').indexOf("'checked");
    assert.ok(at > 0);
    header[at + 1] = 'C'.charCodeAt(0);
    const h = verifyBytes(header, 'edited.fits');
    assert.deepEqual([h.hdus[0].checksum, h.hdus[0].datasum], ['bad', 'ok']);
    assert.match(h.hdus[0].problems[0], /CHECKSUM does not match/);
  });

  it('reports absent checksums without failing, and a missing file as missing', async (t) => {
    const r = verifyBytes(sampleFile(false));
    assert.equal(r.ok, true);
    assert.deepEqual(
      r.hdus.map((h) => h.checksum),
      ['absent', 'absent', 'absent'],
    );
    await assert.rejects(verifyFits(join(tempDir(t), 'nope.fits')), MissingInputError);
  });

  it('checksums are accepted by astropy (checksum=True)', async (t) => {
    if (!requireTool(t, 'astropy', hasPythonModule('astropy'))) return;
    const path = join(tempDir(t), 'astropy-sums.fits');
    await writeFits(
      path,
      [
        {
          data: new Float64Array(100).map((_, i) => i / 7),
          shape: [10, 10],
          header: new Header().set('OBJECT', 'sum test'),
        },
        { data: new Uint16Array(50).map((_, i) => i * 1000), shape: [5, 10], name: 'U16' },
        { kind: 'bintable', name: 'CAT', columns: catalogColumns() },
      ],
      { checksum: true },
    );
    const out = runPython(
      `
import sys, warnings, json
from astropy.io import fits
warnings.simplefilter('error')
with fits.open(sys.argv[1], checksum=True) as hdul:
    print(json.dumps([[h.verify_checksum(), h.verify_datasum()] for h in hdul]))
`,
      [path],
    );
    // astropy: 1 = valid.
    assert.deepEqual(JSON.parse(out), [
      [1, 1],
      [1, 1],
      [1, 1],
    ]);
  });

  it("accepts astropy's checksums", async (t) => {
    if (!requireTool(t, 'astropy', hasPythonModule('astropy'))) return;
    const path = join(tempDir(t), 'by-astropy.fits');
    runPython(
      `
import sys
import numpy as np
from astropy.io import fits
p = fits.PrimaryHDU(np.arange(120, dtype=np.float32).reshape(10, 12))
p.header['OBJECT'] = 'written by astropy'
e = fits.ImageHDU(np.arange(30, dtype=np.int16).reshape(5, 6), name='DQ')
t = fits.BinTableHDU.from_columns([fits.Column(name='X', format='D', array=np.arange(4.0))], name='CAT')
fits.HDUList([p, e, t]).writeto(sys.argv[1], checksum=True)
`,
      [path],
    );
    const report = await verifyFits(path);
    assert.equal(report.ok, true, JSON.stringify(report));
    assert.deepEqual(
      report.hdus.map((h) => [h.checksum, h.datasum]),
      [
        ['ok', 'ok'],
        ['ok', 'ok'],
        ['ok', 'ok'],
      ],
    );
    const bytes = new Uint8Array(readFileSync(path));
    bytes[bytes.length - 2880] ^= 0x40; // the last block is the table's data
    const flipped = verifyBytes(bytes);
    assert.equal(flipped.ok, false);
    assert.deepEqual([flipped.hdus[2].checksum, flipped.hdus[2].datasum], ['bad', 'bad']);
  });
});
