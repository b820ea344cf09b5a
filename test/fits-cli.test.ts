/** `rapid fits info` and `rapid fits verify` (the built command; `npm test` builds first). */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { encodeFits, Header, parseFits, writeFits } from '../src/fits/index.ts';
import { rapid } from './support/cli.ts';
import { CONFORMANCE, tempDir } from './support/fits.ts';
import { requireTool, run } from './support/tools.ts';

async function sampleFile(dir: string, checksum = true): Promise<string> {
  const path = join(dir, 'sample.fits');
  const sci = new Header().set('EXPTIME', 30.5).set('FILTER', 'F158').set('DATE-OBS', '2027-01-02T03:04:05');
  await writeFits(
    path,
    [
      { data: new Uint8Array(0), shape: [], header: new Header().set('TELESCOP', 'Roman') },
      { data: new Float32Array(12 * 8), shape: [12, 8], name: 'SCI', header: sci },
      {
        data: new Float32Array(12 * 8).fill(100),
        shape: [12, 8],
        name: 'SCALED',
        bitpix: 16,
        bscale: 0.5,
        bzero: 50,
      },
      {
        kind: 'bintable',
        name: 'CAT',
        columns: [{ name: 'FLUX', data: new Float32Array(6), repeat: 3, unit: 'count' }],
      },
    ],
    { checksum },
  );
  return path;
}

describe('rapid fits info', () => {
  it('lists HDUs with types, shapes and key cards', async (t) => {
    const path = await sampleFile(tempDir(t));
    const r = rapid(['fits', 'info', path]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /sample\.fits: 4 HDUs/);
    assert.match(r.stdout, /^HDU\s+NAME\s+TYPE\s+BITPIX\s+DIMENSIONS\s+CARDS$/m);
    assert.match(
      r.stdout,
      /^1\s+SCI\s+image\s+-32\s+12 x 8\s+EXPTIME=30\.5 FILTER='F158' DATE-OBS='2027-01-02T03:04:05'$/m,
    );
    assert.match(r.stdout, /^2\s+SCALED\s+image\s+16\s+12 x 8\s+BSCALE=0\.5 BZERO=50$/m);
    assert.match(r.stdout, /^3\s+CAT\s+bintable\s+8\s+2 rows x 1 cols/m);
    assert.equal(r.stderr, '');
  });

  it('prints JSON with --json, and a full header with --hdu (index or EXTNAME)', async (t) => {
    const path = await sampleFile(tempDir(t));
    const j = rapid(['fits', 'info', path, '--json']);
    assert.equal(j.status, 0, j.stderr);
    const info = JSON.parse(j.stdout);
    assert.deepEqual(
      info.hdus.map((h: { index: number; name: string; type: string; shape: number[] }) => [
        h.index,
        h.name,
        h.type,
        h.shape,
      ]),
      [
        [0, 'PRIMARY', 'image', []],
        [1, 'SCI', 'image', [12, 8]],
        [2, 'SCALED', 'image', [12, 8]],
        [3, 'CAT', 'bintable', [12, 2]],
      ],
    );
    assert.equal(info.hdus[1].cards.FILTER, 'F158');
    for (const sel of ['1', 'sci']) {
      const h = rapid(['fits', 'info', path, '--hdu', sel]);
      assert.equal(h.status, 0, h.stderr);
      assert.match(h.stdout, /^HDU 1 SCI: image, 12 x 8$/m);
      assert.match(h.stdout, /^XTENSION= 'IMAGE {3}'/m);
      assert.match(h.stdout, /^FILTER {2}= 'F158 {4}'/m);
      assert.match(h.stdout, /^END$/m);
    }
    const hj = JSON.parse(rapid(['fits', 'info', path, '--hdu', 'CAT', '--json']).stdout);
    assert.equal(hj.type, 'bintable');
    assert.deepEqual(
      hj.header.find((c: { key: string }) => c.key === 'TUNIT1'),
      { key: 'TUNIT1', value: 'count' },
    );
  });

  it('shows compressed images and non-standard extensions; warnings go to stderr', async (t) => {
    const r = rapid(['fits', 'info', join(CONFORMANCE, 'tst0012.mt')]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^2\s+Unknown\s+unknown \(XZQ-EXTN\)/m);
    assert.match(r.stdout, /^4\s+Asciitable\s+table\s+8\s+53 rows x 8 cols/m);
    assert.match(
      r.stderr,
      /^rapid: warning: .*tst0012\.mt, HDU 2: extension type XTENSION = 'XZQ-EXTN' is not standard/m,
    );
    if (!requireTool(t, 'fpack')) return;
    const dir = tempDir(t);
    const src = join(dir, 'img.fits');
    writeFileSync(src, encodeFits([{ data: new Int16Array(400).map((_, i) => i), shape: [20, 20] }]));
    run('fpack', ['-O', `${src}.fz`, src]);
    const fz = rapid(['fits', 'info', `${src}.fz`]);
    assert.equal(fz.status, 0, fz.stderr);
    assert.match(fz.stdout, /^1\s+compressed-image \(RICE_1\)\s+16\s+20 x 20/m);
  });

  it('exits 66 for a missing file and 65 for a bad file or HDU, with one clear line', async (t) => {
    const dir = tempDir(t);
    const missing = rapid(['fits', 'info', join(dir, 'none.fits')]);
    assert.equal(missing.status, 66);
    assert.equal(missing.stderr.trim().split('\n').length, 1);
    assert.match(missing.stderr, /^rapid: .*none\.fits: no such file; check the path$/m);

    const path = await sampleFile(dir);
    const cut = join(dir, 'cut.fits');
    writeFileSync(cut, readFileSync(path).subarray(0, 2880 * 2 + 100));
    const bad = rapid(['fits', 'info', cut]);
    assert.equal(bad.status, 65);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
    assert.match(bad.stderr, /^rapid: .*cut\.fits, HDU 1: data unit is truncated/);

    const noHdu = rapid(['fits', 'info', path, '--hdu', 'VAR']);
    assert.equal(noHdu.status, 65);
    assert.match(noHdu.stderr, /no HDU named 'VAR' \(HDUs: 0 PRIMARY, 1 SCI, 2 SCALED, 3 CAT\)/);
  });
});

describe('rapid fits verify', () => {
  it('passes a good file, reporting checksums per HDU', async (t) => {
    const path = await sampleFile(tempDir(t));
    const r = rapid(['fits', 'verify', path]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /sample\.fits: OK/);
    assert.match(r.stdout, /^1\s+SCI\s+image\s+ok\s+ok\s+ok$/m);
    const j = JSON.parse(rapid(['fits', 'verify', path, '--json']).stdout);
    assert.equal(j.ok, true);
    assert.deepEqual(
      j.hdus.map((h: { checksum: string }) => h.checksum),
      ['ok', 'ok', 'ok', 'ok'],
    );
  });

  it('detects a flipped byte: exit 65, and says where', async (t) => {
    const dir = tempDir(t);
    const path = await sampleFile(dir);
    const bytes = new Uint8Array(readFileSync(path));
    const sci = parseFits(bytes).hdu('SCI');
    bytes[sci.dataStart + 17] ^= 0x10;
    const flipped = join(dir, 'flipped.fits');
    writeFileSync(flipped, bytes);
    const r = rapid(['fits', 'verify', flipped]);
    assert.equal(r.status, 65);
    assert.match(r.stdout, /^1\s+SCI\s+image\s+bad\s+bad\s+PROBLEM$/m);
    assert.match(
      r.stdout,
      /problem: .*flipped\.fits, HDU 1, card \d+ \(DATASUM\): DATASUM = .* the data are corrupted/,
    );
    assert.match(r.stderr, /^rapid: verification failed: .*flipped\.fits, HDU 1/);
    const j = rapid(['fits', 'verify', flipped, '--json']);
    assert.equal(j.status, 65);
    assert.equal(JSON.parse(j.stdout).hdus[1].datasum, 'bad');
  });

  it('fails on the non-standard extension of tst0012, on --strict warnings, and exits 66 when missing', async (t) => {
    assert.equal(rapid(['fits', 'verify', join(CONFORMANCE, 'tst0012.mt')]).status, 65);
    assert.equal(rapid(['fits', 'verify', join(CONFORMANCE, 'tst0010.mt')]).status, 0);
    const dir = tempDir(t);
    const free = join(dir, 'free.fits');
    const text = ['SIMPLE  =  T', 'BITPIX  =                    8', 'NAXIS   =                    0', 'END']
      .map((c) => c.padEnd(80))
      .join('');
    writeFileSync(free, Buffer.from(text.padEnd(2880), 'latin1'));
    const lenient = rapid(['fits', 'verify', free]);
    assert.equal(lenient.status, 0);
    assert.match(lenient.stdout, /warning: .*SIMPLE is not in fixed format/);
    assert.equal(rapid(['fits', 'verify', free, '--strict']).status, 65);
    assert.equal(rapid(['fits', 'verify', join(dir, 'none.fits')]).status, 66);
  });
});
