import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { drawGalaxy } from '../src/sim/galaxy.ts';
import { besselJ1, drawPoint, moffatEnclosed, type PsfProfile, phaseStamps } from '../src/sim/psf.ts';
import { Random } from '../src/sim/random.ts';
import { galaxyKernel } from '../src/sim/render.ts';

function moments(
  img: Float32Array,
  w: number,
): { sum: number; x: number; y: number; xx: number; yy: number } {
  let sum = 0;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < img.length; i++) {
    sum += img[i];
    sx += img[i] * (i % w);
    sy += img[i] * Math.floor(i / w);
  }
  const x = sx / sum;
  const y = sy / sum;
  let xx = 0;
  let yy = 0;
  for (let i = 0; i < img.length; i++) {
    xx += img[i] * ((i % w) - x) ** 2;
    yy += img[i] * (Math.floor(i / w) - y) ** 2;
  }
  return { sum, x, y, xx: xx / sum, yy: yy / sum };
}

describe('simulated PSF', () => {
  test('Bessel J1 matches known values', () => {
    // J1 at a few points (Abramowitz & Stegun table 9.1), and its first zero 3.8317.
    assert.ok(Math.abs(besselJ1(1) - 0.4400505857) < 1e-7);
    assert.ok(Math.abs(besselJ1(2.5) - 0.4970941024) < 1e-7);
    assert.ok(Math.abs(besselJ1(5) - -0.3275791376) < 1e-7);
    assert.ok(Math.abs(besselJ1(3.83170597)) < 1e-7);
  });

  for (const kind of ['moffat', 'airy'] as const) {
    test(`${kind}: the drawn PSF conserves flux within 0.5% for FWHM 0.5–3 px, centred where asked`, () => {
      const rng = new Random(3, kind);
      for (const fwhm of [0.5, 0.75, 1.0, 1.16, 1.5, 2, 3]) {
        const profile: PsfProfile =
          kind === 'moffat' ? { kind, fwhm, beta: 2.5 } : { kind, fwhm, obscuration: 0.3 };
        const psf = phaseStamps(profile);
        const w = 2 * psf.radius + 9;
        for (let k = 0; k < 6; k++) {
          const img = new Float32Array(w * w);
          const x = w / 2 + rng.range(-1, 1);
          const y = w / 2 + rng.range(-1, 1);
          const added = drawPoint(img, w, w, psf, x, y, 1000);
          const m = moments(img, w);
          assert.ok(Math.abs(m.sum - added) < 1e-3, 'returned flux is the drawn flux');
          assert.ok(Math.abs(m.sum / 1000 - 1) < 0.005, `FWHM ${fwhm}: sum ${m.sum}`);
          // Centroid of pixel values is the source position for well-sampled PSFs only (an
          // undersampled one is pulled toward the pixel centre: the pixel-phase bias).
          if (fwhm >= 2) {
            assert.ok(
              Math.abs(m.x - x) < 0.01 && Math.abs(m.y - y) < 0.01,
              `FWHM ${fwhm}: centroid ${m.x},${m.y} vs ${x},${y}`,
            );
          }
        }
      }
    });
  }

  test('drawn pixels equal the profile integrated over each pixel, at any sub-pixel position', () => {
    const rng = new Random(5, 'brute');
    for (const fwhm of [0.5, 1.16, 2.5]) {
      const beta = 2.5;
      const psf = phaseStamps({ kind: 'moffat', fwhm, beta });
      const alpha = fwhm / (2 * Math.sqrt(2 ** (1 / beta) - 1));
      const norm = (Math.PI * alpha * alpha) / (beta - 1);
      const w = 2 * psf.radius + 5;
      const x = w / 2 + rng.range(-0.5, 0.5);
      const y = w / 2 + rng.range(-0.5, 0.5);
      const img = new Float32Array(w * w);
      drawPoint(img, w, w, psf, x, y, 1);
      let worst = 0;
      let peak = 0;
      const n = 48; // sub-samples per pixel side for the brute-force integral
      for (let py = Math.round(y) - 3; py <= Math.round(y) + 3; py++) {
        for (let px = Math.round(x) - 3; px <= Math.round(x) + 3; px++) {
          let acc = 0;
          for (let j = 0; j < n; j++) {
            for (let i = 0; i < n; i++) {
              const dx = px - 0.5 + (i + 0.5) / n - x;
              const dy = py - 0.5 + (j + 0.5) / n - y;
              acc += (1 + (dx * dx + dy * dy) / (alpha * alpha)) ** -beta;
            }
          }
          const expected = acc / (n * n) / norm;
          peak = Math.max(peak, expected);
          worst = Math.max(worst, Math.abs(img[py * w + px] - expected));
        }
      }
      // Bilinear interpolation between 1/16-px phases: within 1% of the peak even at 0.5 px FWHM.
      assert.ok(worst < 0.01 * peak, `FWHM ${fwhm}: worst pixel error ${worst} of peak ${peak}`);
    }
  });

  test('a Moffat stamp holds the analytic enclosed flux', () => {
    const profile: PsfProfile = { kind: 'moffat', fwhm: 2, beta: 2.5 };
    const psf = phaseStamps(profile);
    // A square stamp holds more than the inscribed circle and less than the circumscribed one.
    assert.ok(psf.enclosed >= moffatEnclosed(2, 2.5, psf.radius + 0.5) - 1e-4);
    assert.ok(psf.enclosed <= moffatEnclosed(2, 2.5, (psf.radius + 0.5) * Math.SQRT2) + 1e-4);
  });

  test('the pixel-integrated PSF is wider than the optical one by the pixel (variance + 1/12)', () => {
    // For a Gaussian-like core, the pixel box adds 1/12 px² to the variance; check for FWHM 3,
    // where a Moffat with large β is nearly Gaussian.
    const fwhm = 3;
    const beta = 50;
    const psf = phaseStamps({ kind: 'moffat', fwhm, beta });
    const w = 2 * psf.radius + 1;
    const img = new Float32Array(w * w);
    drawPoint(img, w, w, psf, psf.radius, psf.radius, 1);
    const m = moments(img, w);
    const alpha = fwhm / (2 * Math.sqrt(2 ** (1 / beta) - 1));
    const optical = (alpha * alpha) / (2 * (beta - 2)); // per-axis variance of a Moffat
    assert.ok(Math.abs(m.xx - (optical + 1 / 12)) < 0.02 * m.xx, `variance ${m.xx} vs ${optical + 1 / 12}`);
  });

  test('a galaxy is drawn with its flux, centred, elongated along its major axis', () => {
    const psf = phaseStamps({ kind: 'moffat', fwhm: 1.2, beta: 2.5 });
    const kernel = galaxyKernel(psf);
    const w = 64;
    const img = new Float32Array(w * w);
    const added = drawGalaxy(img, w, w, { n: 1, re: 4, q: 0.5, theta: 0 }, 31.3, 32.6, 5000, kernel);
    const m = moments(img, w);
    assert.ok(Math.abs(m.sum - 5000) < 1, `sum ${m.sum}`);
    assert.ok(Math.abs(added - 5000) < 1);
    assert.ok(Math.abs(m.x - 31.3) < 0.02 && Math.abs(m.y - 32.6) < 0.02, `centroid ${m.x},${m.y}`);
    assert.ok(m.xx > 2.5 * m.yy, `major axis along x: ${m.xx} vs ${m.yy}`);
  });
});
