import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readFits, readImage, writeFits } from '../src/fits/index.ts';
import { rapid, TEST_DATA } from './support/cli.ts';
import { apertureFlux, cameraSip, renderStars, tanWcs } from './support/starfield.ts';

const CENTRE = { ra: 210.3, dec: 54.3 };
const STAR = { ra: CENTRE.ra, dec: CENTRE.dec + 1 / 3600, flux: 10000 };

test('rapid resample warps onto the target grid, conserving flux, with mask and coverage extensions', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rapid-resample-cli-'));
  try {
    const src = tanWcs({ ...CENTRE, crpix: [64.5, 64.5], scale: 0.11, sip: cameraSip() });
    const target = tanWcs({ ...CENTRE, crpix: [70.5, 60.5], scale: 0.1, rotation: 15 });
    const data = renderStars(src, 128, 128, [STAR], 0.4);
    const input = join(dir, 'in.fits');
    const onto = join(dir, 'target.fits');
    const out = join(dir, 'out.fits');
    await writeFits(input, [{ data, shape: [128, 128], header: src.toHeader() }]);
    await writeFits(onto, [
      { data: new Float32Array(140 * 120), shape: [140, 120], header: target.toHeader() },
    ]);
    for (const kernel of ['lanczos3', 'bilinear', 'nearest']) {
      const r = rapid(['resample', input, '--onto', onto, '--out', out, '--kernel', kernel, '--json']);
      assert.equal(r.status, 0, r.stderr);
      const fits = await readFits(out);
      assert.deepEqual(
        fits.hdus.map((h) => h.name ?? 'PRIMARY'),
        ['PRIMARY', 'MASK', 'COVERAGE'],
      );
      const img = readImage(fits.hdus[0]);
      assert.deepEqual([img.width, img.height], [140, 120]);
      const flux = apertureFlux(
        { width: 140, height: 120, data: img.data as Float32Array },
        target,
        STAR.ra,
        STAR.dec,
        12,
      );
      assert.ok(
        Math.abs(flux / STAR.flux - 1) < (kernel === 'nearest' ? 0.05 : 2e-3),
        `${kernel}: flux ${flux}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rapid resample: no WCS, no overlap, missing file, bad kernel', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rapid-resample-cli-'));
  try {
    const src = tanWcs({ ...CENTRE, crpix: [64.5, 64.5], scale: 0.11 });
    const input = join(dir, 'in.fits');
    const onto = join(dir, 'target.fits');
    const far = join(dir, 'far.fits');
    await writeFits(input, [
      { data: new Float32Array(128 * 128).fill(1), shape: [128, 128], header: src.toHeader() },
    ]);
    await writeFits(onto, [{ data: new Float32Array(64 * 64), shape: [64, 64], header: src.toHeader() }]);
    const farWcs = tanWcs({ ra: CENTRE.ra + 3, dec: CENTRE.dec, crpix: [32.5, 32.5], scale: 0.11 });
    await writeFits(far, [{ data: new Float32Array(64 * 64), shape: [64, 64], header: farWcs.toHeader() }]);
    const out = join(dir, 'out.fits');
    const noWcs = rapid([
      'resample',
      join(TEST_DATA, 'real/sep-ntt/image.fits'),
      '--onto',
      onto,
      '--out',
      out,
    ]);
    assert.equal(noWcs.status, 65);
    assert.match(noWcs.stderr, /WCS/);
    const noOverlap = rapid(['resample', input, '--onto', far, '--out', out]);
    assert.equal(noOverlap.status, 65);
    assert.match(noOverlap.stderr, /overlap/);
    assert.equal(rapid(['resample', join(dir, 'nope.fits'), '--onto', onto, '--out', out]).status, 66);
    assert.equal(rapid(['resample', input, '--onto', onto, '--out', out, '--kernel', 'cubic']).status, 64);
    assert.equal(rapid(['resample', input, '--out', out]).status, 64);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
