/**
 * Matching without stars: the flux ratio, the PSF models' widths and the registration from the
 * images' shared signal (cutouts, sparse fields), on pairs drawn here with known truth.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  crossConvolve,
  fluxRatioFromImages,
  NoSharedSignalError,
  psfMismatchFromImages,
  shiftFromImages,
} from '../src/image/match.ts';
import { prng } from './support/fits.ts';

const W = 96;

/** A unit-sum Gaussian stamp of width σ (px), side 2·ceil(4σ)+1. */
function gaussianStamp(sigma: number): Float32Array {
  const h = Math.ceil(4 * sigma);
  const n = 2 * h + 1;
  const out = new Float32Array(n * n);
  let sum = 0;
  for (let j = 0; j < n; j++)
    for (let i = 0; i < n; i++)
      sum += out[j * n + i] = Math.exp(-((i - h) ** 2 + (j - h) ** 2) / (2 * sigma * sigma));
  return out.map((v) => v / sum);
}

interface Scene {
  /** Galaxies: exponential discs (scale px) with total flux; point sources with flux. */
  galaxies: { x: number; y: number; flux: number; scale: number }[];
  points: { x: number; y: number; flux: number }[];
}

/**
 * The scene seen with a Gaussian PSF of width σ, times `scale`, shifted by (dx, dy), plus
 * white noise of `noise`: each pixel's value integrated on a 5×5 sub-grid.
 */
function draw(
  scene: Scene,
  sigma: number,
  scale: number,
  noise: number,
  seed: number,
  dx = 0,
  dy = 0,
): Float32Array {
  const out = new Float32Array(W * W);
  const rnd = prng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
  for (let y = 0; y < W; y++) {
    for (let x = 0; x < W; x++) {
      let v = 0;
      for (let q = 0; q < 5; q++) {
        for (let p = 0; p < 5; p++) {
          const u = x - 0.4 + 0.2 * p - dx;
          const w = y - 0.4 + 0.2 * q - dy;
          for (const g of scene.galaxies) {
            // An exponential disc seen through a Gaussian: approximated by a sum of Gaussians
            // (its light profile needs only to be extended, not exact).
            for (const [f, s] of [
              [0.4, g.scale * 0.6],
              [0.4, g.scale * 1.4],
              [0.2, g.scale * 2.8],
            ]) {
              const t = s * s + sigma * sigma;
              v += (g.flux * f * Math.exp(-((u - g.x) ** 2 + (w - g.y) ** 2) / (2 * t))) / (2 * Math.PI * t);
            }
          }
          for (const s of scene.points) {
            const t = sigma * sigma;
            v += (s.flux * Math.exp(-((u - s.x) ** 2 + (w - s.y) ** 2) / (2 * t))) / (2 * Math.PI * t);
          }
        }
      }
      out[y * W + x] = (scale * v) / 25 + noise * gauss();
    }
  }
  return out;
}

const host = { x: 48, y: 48, flux: 60_000, scale: 3 };

describe('flux ratio from the images', () => {
  test('a transient on its host: the host gives the ratio, the transient does not pull it', async () => {
    const ratio = 1.3;
    const sigma = 1.4;
    const psf = gaussianStamp(sigma);
    const reference = draw({ galaxies: [host], points: [] }, sigma, 1, 5, 1);
    // A transient of a tenth of the host's flux on its nucleus, 1.5 px off.
    const science = draw({ galaxies: [host], points: [{ x: 49.5, y: 48, flux: 6_000 }] }, sigma, ratio, 5, 2);
    const r = await fluxRatioFromImages(await crossConvolve(science, reference, W, W, psf, psf, 5, 5));
    console.log(
      `# ratio ${r.fluxRatio.toFixed(4)} ± ${r.fluxRatioError.toFixed(4)} (truth ${ratio}) from ${r.pixels} pixels, ${r.regions} region(s), extended ${r.extended}`,
    );
    assert.ok(r.extended, 'the host is extended');
    assert.ok(Math.abs(r.fluxRatio / ratio - 1) < 0.02, `ratio ${r.fluxRatio}`);
    assert.ok(r.fluxRatioError > 0 && r.fluxRatioError < 0.05, `error ${r.fluxRatioError}`);
  });

  test('several stars give the ratio; one point source alone, or noise, gives none', async () => {
    const sigma = 1.2;
    const psf = gaussianStamp(sigma);
    const stars = [
      { x: 20, y: 25, flux: 20_000 },
      { x: 70, y: 30, flux: 9_000 },
      { x: 40, y: 75, flux: 14_000 },
    ];
    const ratio = 0.8;
    const r = await fluxRatioFromImages(
      await crossConvolve(
        draw({ galaxies: [], points: stars }, sigma, ratio, 4, 3),
        draw({ galaxies: [], points: stars }, sigma, 1, 4, 4),
        W,
        W,
        psf,
        psf,
        4,
        4,
      ),
    );
    console.log(
      `# three stars: ratio ${r.fluxRatio.toFixed(4)} ± ${r.fluxRatioError.toFixed(4)} (truth ${ratio})`,
    );
    assert.equal(r.regions, 3);
    assert.ok(Math.abs(r.fluxRatio / ratio - 1) < 0.01, `ratio ${r.fluxRatio}`);
    // A variable star alone: whatever ratio the pixels gave would subtract its change away.
    const alone = [{ x: 48, y: 48, flux: 20_000 }];
    await assert.rejects(
      fluxRatioFromImages(
        await crossConvolve(
          draw({ galaxies: [], points: alone }, sigma, 0.7, 4, 5),
          draw({ galaxies: [], points: alone }, sigma, 1, 4, 6),
          W,
          W,
          psf,
          psf,
          4,
          4,
        ),
      ),
      (e: unknown) => e instanceof NoSharedSignalError && /one point-like source/.test(e.message),
    );
    await assert.rejects(
      fluxRatioFromImages(
        await crossConvolve(
          draw({ galaxies: [], points: [] }, sigma, 1, 4, 7),
          draw({ galaxies: [], points: [] }, sigma, 1, 4, 8),
          W,
          W,
          psf,
          psf,
          4,
          4,
        ),
      ),
      (e: unknown) => e instanceof NoSharedSignalError && /share no signal/.test(e.message),
    );
  });
});

describe('PSF models and registration from the images', () => {
  test('a reference broader than its model is found and measured; right models are left alone', async () => {
    const scene = { galaxies: [host], points: [{ x: 20, y: 70, flux: 15_000 }] };
    const given = gaussianStamp(1.3);
    // The reference's true PSF: σ 1.3 broadened by σ 1.0 (√(1.3² + 1²) = 1.64).
    const science = draw(scene, 1.3, 1, 4, 9);
    const reference = draw(scene, Math.hypot(1.3, 1.0), 1, 4, 10);
    const m = await psfMismatchFromImages(await crossConvolve(science, reference, W, W, given, given, 4, 4));
    console.log(
      `# broader ${m.broader} by σ ${m.sigma} (truth reference, 1.0); scatter ${m.scatterBefore.toFixed(2)} → ${m.scatterAfter.toFixed(2)}`,
    );
    assert.equal(m.broader, 'reference');
    assert.ok(Math.abs(m.sigma - 1.0) <= 0.2, `σ ${m.sigma}`);
    const right = await psfMismatchFromImages(
      await crossConvolve(science, reference, W, W, given, gaussianStamp(Math.hypot(1.3, 1.0)), 4, 4),
    );
    assert.equal(right.broader, 'none', `with the right models: ${JSON.stringify(right)}`);
  });

  test('the offset between the images, with its uncertainty', async () => {
    const scene = { galaxies: [host], points: [{ x: 20, y: 70, flux: 15_000 }] };
    const psf = gaussianStamp(1.4);
    const s = await shiftFromImages(
      await crossConvolve(
        draw(scene, 1.4, 1, 4, 11, 0.3, -0.2),
        draw(scene, 1.4, 1, 4, 12),
        W,
        W,
        psf,
        psf,
        4,
        4,
      ),
    );
    assert.ok(s, 'an offset');
    console.log(
      `# offset (${s.dx.toFixed(3)}, ${s.dy.toFixed(3)}) ± (${s.sigmaX.toFixed(3)}, ${s.sigmaY.toFixed(3)}); truth (0.3, −0.2)`,
    );
    assert.ok(Math.abs(s.dx - 0.3) < 0.05 && Math.abs(s.dy + 0.2) < 0.05, `offset ${s.dx}, ${s.dy}`);
    assert.ok(s.sigmaX > 0 && s.sigmaX < 0.05, `σx ${s.sigmaX}`);
  });
});
