/** Pixels not to trust: dead pixels even where the sky makes them shallow, cosmic-ray tracks. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MaskBit } from '../src/image/image.ts';
import { buildMask } from '../src/image/masks.ts';
import { drawPoint, phaseStamps, SimulatedPsf } from '../src/sim/psf.ts';
import { Random } from '../src/sim/random.ts';

const N = 256;
const SIGMA = 13;
const PROFILE = { kind: 'moffat', fwhm: 1.2, beta: 2.5 } as const;

/**
 * A background-subtracted Roman F158-like sky (σ 13 DN) with 20 undersampled stars on a grid;
 * `flux` gives each star's flux.
 */
function skyWithStars(
  rng: Random,
  flux: () => number,
): { subtracted: Float32Array; stars: [number, number][] } {
  const subtracted = new Float32Array(N * N);
  for (let i = 0; i < subtracted.length; i++) subtracted[i] = SIGMA * rng.normal();
  const psf = phaseStamps(PROFILE);
  const stars: [number, number][] = [];
  for (let k = 0; k < 20; k++) {
    const x = 16 + (k % 5) * 48 + rng.uniform();
    const y = 16 + Math.floor(k / 5) * 60 + rng.uniform();
    stars.push([x, y]);
    drawPoint(subtracted, N, N, psf, x, y, flux());
  }
  return { subtracted, stars };
}

/** No pixel within 3 px of a star carries the bit. */
function starsUntouched(mask: Uint8Array, stars: [number, number][], bit: number): void {
  for (const [x, y] of stars) {
    for (let j = -3; j <= 3; j++)
      for (let i = -3; i <= 3; i++)
        assert.equal(mask[(Math.round(y) + j) * N + Math.round(x) + i] & bit, 0, `star ${x}, ${y}`);
  }
}

/** Cosmic-ray masking on the sky with a sky level of 92 DN: at most 5% of the hit pixels missed, no star touched. */
function hitsMasked(subtracted: Float32Array, hit: number[], stars: [number, number][]): void {
  const raw = subtracted.map((v) => v + 92);
  const mask = buildMask(raw, N, N, {
    cosmicRays: { subtracted, sigma: SIGMA, psf: new SimulatedPsf(PROFILE, 15) },
  });
  const missed = hit.filter((i) => !(mask[i] & MaskBit.COSMIC_RAY));
  assert.ok(missed.length <= 0.05 * hit.length, `${missed.length} of ${hit.length} hit pixels missed`);
  starsUntouched(mask, stars, MaskBit.COSMIC_RAY);
}

test('dead pixels 7σ below a bright sky are masked; noise and stars are not', () => {
  // Roman F158-like: sky 92 DN with σ 13, so a dead pixel (0 DN) is only 7σ deep; the matched
  // filter of an undersampled PSF still sees it at 5–6σ in a difference image.
  const { subtracted, stars } = skyWithStars(new Random(7, 'dead'), () => 20000);
  const dead: number[] = [];
  for (let k = 0; dead.length < 30; k++) {
    const x = 30 + ((7 * k) % 200);
    const y = 40 + ((11 * k) % 200);
    if (stars.some(([sx, sy]) => Math.hypot(sx - x, sy - y) < 8)) continue;
    subtracted[y * N + x] = -92;
    dead.push(y * N + x);
  }
  const raw = subtracted.map((v) => v + 92);
  const mask = buildMask(raw, N, N, { deadPixels: { subtracted, sigma: SIGMA } });
  assert.deepEqual(
    dead.filter((i) => !(mask[i] & MaskBit.BAD)),
    [],
  );
  const others = [...mask.keys()].filter((i) => mask[i] & MaskBit.BAD && !dead.includes(i));
  // Noise alone: P(z < −5) · 65,536 ≈ 0.02 pixels.
  assert.ok(others.length <= 1, `${others.length} other pixels masked`);
  starsUntouched(mask, stars, MaskBit.BAD);
});

test('cosmic-ray tracks of several pixels are masked on an undersampled image; stars are not', () => {
  const rng = new Random(11, 'tracks');
  const { subtracted, stars } = skyWithStars(rng, () => 2000 + 40000 * rng.uniform());
  // Tracks of 2–4 pixels, 1,000–5,000 DN each pixel, away from the stars.
  const track: number[] = [];
  for (let k = 0; track.length < 60; k++) {
    const x0 = 20 + ((37 * k) % 210);
    const y0 = 20 + ((53 * k) % 210);
    if (stars.some(([sx, sy]) => Math.hypot(sx - x0, sy - y0) < 10)) continue;
    const length = 2 + (k % 3);
    const angle = (k * 0.7) % Math.PI;
    const charge = 1000 + 4000 * rng.uniform();
    const pixels = new Set<number>();
    for (let t = 0; t < length; t++)
      pixels.add(Math.floor(y0 + t * Math.sin(angle)) * N + Math.floor(x0 + t * Math.cos(angle)));
    for (const i of pixels) {
      subtracted[i] += charge;
      track.push(i);
    }
  }
  hitsMasked(subtracted, track, stars);
});

test('compact hits of three or four pixels are masked on an undersampled image; stars, even between pixels, are not', () => {
  const rng = new Random(13, 'clumps');
  const { subtracted, stars } = skyWithStars(rng, () => 2000 + 40000 * rng.uniform());
  // Stars at pixel corners too: their four brightest pixels are nearly equal, as in a 2×2 hit.
  const psf = phaseStamps(PROFILE);
  for (let k = 0; k < 8; k++) {
    const x = 40 + k * 24 + 0.5;
    const y = 245.5;
    stars.push([x, y]);
    drawPoint(subtracted, N, N, psf, x, y, 5000 + 30000 * rng.uniform());
  }
  // L-shapes, diagonal steps and 2×2 squares; 1,000–5,000 DN a pixel, as the survey's hits.
  const shapes = [
    [0, 0, 1, 0, 0, 1],
    [0, 0, 1, 1, 1, 2, 0, 1],
    [0, 0, 1, 0, 0, 1, 1, 1],
    [1, 0, 0, 1, 1, 1, -1, 2],
  ];
  const hit: number[] = [];
  for (let k = 0; hit.length < 80; k++) {
    const x0 = 20 + ((41 * k) % 200);
    const y0 = 20 + ((59 * k) % 200);
    if (stars.some(([sx, sy]) => Math.hypot(sx - x0, sy - y0) < 10)) continue;
    if (hit.some((i) => Math.hypot((i % N) - x0, Math.floor(i / N) - y0) < 6)) continue;
    const s = shapes[k % shapes.length];
    const charge = 1000 + 4000 * rng.uniform();
    for (let p = 0; p < s.length; p += 2) {
      const i = (y0 + s[p + 1]) * N + x0 + s[p];
      subtracted[i] += charge * (0.9 + 0.2 * rng.uniform());
      hit.push(i);
    }
  }
  hitsMasked(subtracted, hit, stars);
});
