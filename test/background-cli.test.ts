import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readFits, readImage, writeFits } from '../src/fits/index.ts';
import { rapid, TEST_DATA } from './support/cli.ts';

const NTT = join(TEST_DATA, 'real/sep-ntt');

test('rapid background writes the background and RMS maps (SourceExtractor defaults)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rapid-bkg-cli-'));
  try {
    const out = join(dir, 'bkg.fits');
    const rms = join(dir, 'rms.fits');
    const r = rapid(['background', join(NTT, 'image.fits'), '--out', out, '--rms-out', rms, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.deepEqual(summary.meshes, [4, 4]);
    const ours = readImage((await readFits(out)).firstImage()).data as Float32Array;
    const ref = readImage((await readFits(join(NTT, 'back.fits'))).firstImage()).data as Float32Array;
    assert.equal(ours.length, 256 * 256);
    assert.ok(Math.abs(ours[1000] / ref[1000] - 1) < 1e-3);
    const ourRms = readImage((await readFits(rms)).firstImage()).data as Float32Array;
    assert.ok(ourRms[500] > 60 && ourRms[500] < 70);
    // A smaller mesh.
    const r2 = rapid([
      'background',
      join(NTT, 'image.fits'),
      '--out',
      out,
      '--back-size',
      '32',
      '--filter-size',
      '1',
      '--json',
    ]);
    assert.equal(r2.status, 0, r2.stderr);
    assert.deepEqual(JSON.parse(r2.stdout).meshes, [8, 8]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rapid background: errors and their exit codes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rapid-bkg-cli-'));
  try {
    const out = join(dir, 'bkg.fits');
    assert.equal(rapid(['background', join(dir, 'missing.fits'), '--out', out]).status, 66);
    assert.equal(rapid(['background', join(NTT, 'image.fits')]).status, 64);
    assert.equal(rapid(['background', join(NTT, 'image.fits'), '--out', out, '--back-size', 'x']).status, 64);
    const nan = join(dir, 'nan.fits');
    await writeFits(nan, [{ data: new Float32Array(64 * 64).fill(Number.NaN), shape: [64, 64] }]);
    const r = rapid(['background', nan, '--out', out]);
    assert.equal(r.status, 65);
    assert.match(r.stderr, /no valid pixels \(all NaN or BLANK\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
