/**
 * Pixels not to trust: dead pixels even where the sky makes them shallow, cosmic-ray tracks;
 * and real point sources never taken for cosmic rays, even with a PSF model too broad for them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readFits, readImage } from '../src/fits/index.ts';
import { estimateBackground } from '../src/image/background.ts';
import { MaskBit } from '../src/image/image.ts';
import { buildMask } from '../src/image/masks.ts';
import type { PsfModel } from '../src/image/psf/model.ts';
import { centralStamp, drawPoint, type PhaseStamps, phaseStamps, SimulatedPsf } from '../src/sim/psf.ts';
import { Random } from '../src/sim/random.ts';
import { TEST_DATA } from './support/cli.ts';

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

/**
 * Cosmic-ray hits of the given shapes (x, y offsets in pairs), 1,000–5,000 DN a pixel, on a
 * regular scatter of places away from the stars and from each other: the hit pixels' indices.
 */
function placeHits(
  subtracted: Float32Array,
  stars: [number, number][],
  rng: Random,
  shapes: number[][],
  o: { count: number; span: number; clearance: number },
): number[] {
  const hit: number[] = [];
  for (let k = 0; hit.length < o.count; k++) {
    const x0 = 20 + ((41 * k) % o.span);
    const y0 = 20 + ((59 * k) % o.span);
    if (stars.some(([sx, sy]) => Math.hypot(sx - x0, sy - y0) < o.clearance)) continue;
    if (hit.some((i) => Math.hypot((i % N) - x0, Math.floor(i / N) - y0) < 6)) continue;
    const s = shapes[k % shapes.length];
    const charge = 1000 + 4000 * rng.uniform();
    for (let p = 0; p < s.length; p += 2) {
      const i = (y0 + s[p + 1]) * N + x0 + s[p];
      subtracted[i] += charge * (0.9 + 0.2 * rng.uniform());
      hit.push(i);
    }
  }
  return hit;
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
  const hit = placeHits(subtracted, stars, rng, shapes, { count: 80, span: 200, clearance: 10 });
  hitsMasked(subtracted, hit, stars);
});

/** COSMIC_RAY pixels within 3 px (a 7 × 7 box) of (x, y), but for those in `except`. */
function crNear(mask: Uint8Array, width: number, x: number, y: number, except: number[] = []): number {
  let n = 0;
  const height = mask.length / width;
  for (let j = Math.round(y) - 3; j <= Math.round(y) + 3; j++) {
    for (let i = Math.round(x) - 3; i <= Math.round(x) + 3; i++) {
      if (i < 0 || j < 0 || i >= width || j >= height) continue;
      if (mask[j * width + i] & MaskBit.COSMIC_RAY && !except.includes(j * width + i)) n++;
    }
  }
  return n;
}

/**
 * A host galaxy, as an image shows it: the profile integrated over each pixel (4 × 4 samples),
 * then convolved with the PSF (phase-0 stamp), scaled to the given peak, added into `image`.
 */
function drawHost(
  image: Float32Array,
  width: number,
  psf: PhaseStamps,
  cx: number,
  cy: number,
  profile: (r: number) => number,
  peak: number,
): void {
  const R = 15;
  const side = 2 * R + 1;
  const host = new Float64Array(side * side);
  for (let j = 0; j < side; j++) {
    for (let i = 0; i < side; i++) {
      for (let b = 0; b < 4; b++)
        for (let a = 0; a < 4; a++)
          host[j * side + i] += profile(Math.hypot(i - R + (a - 1.5) / 4, j - R + (b - 1.5) / 4)) / 16;
    }
  }
  const k = centralStamp(psf);
  const kr = psf.radius;
  const ks = 2 * kr + 1;
  const seen = new Float64Array(side * side);
  for (let j = 0; j < side; j++) {
    for (let i = 0; i < side; i++) {
      let sum = 0;
      for (let v = -kr; v <= kr; v++) {
        for (let u = -kr; u <= kr; u++) {
          const y = j - v;
          const x = i - u;
          if (x >= 0 && y >= 0 && x < side && y < side) sum += k[(v + kr) * ks + u + kr] * host[y * side + x];
        }
      }
      seen[j * side + i] = sum;
    }
  }
  const max = Math.max(...seen);
  for (let j = 0; j < side; j++) {
    for (let i = 0; i < side; i++)
      image[(cy - R + j) * width + cx - R + i] += (seen[j * side + i] * peak) / max;
  }
}

test('a transient on a galaxy nucleus is never masked as a cosmic ray, with a PSF model 1.5 times too broad', () => {
  // Exponential discs (scale 2.5 px) and de Vaucouleurs bulges (Sérsic n = 4, r_e 3 px), seen
  // through the PSF; on each nucleus a point source drawn with the true PSF, S/N 10–50. Half
  // the hosts are 2–6 times the point source's peak, half fainter than it (0–0.5 times: the ZTF
  // alert of issue 16, a transient of 1,400 counts over the core). The model given is 1.5 times
  // broader than the truth, so the point sources look sharper than it allows. Before the
  // point-source check, 2 of the 36 on faint hosts lost 2 and 4 pixels (none on bright hosts:
  // a host seen through the PSF is less sharp than the source and dilutes it).
  const size = 256;
  const sigma = 10;
  const exponential = (r: number) => Math.exp(-r / 2.5);
  const sersic = (r: number) => Math.exp(-7.669 * ((r / 3) ** 0.25 - 1));
  const masked: string[] = [];
  for (const fwhm of [1.2, 1.6]) {
    const truth = { kind: 'moffat', fwhm, beta: 2.5 } as const;
    const stamps = phaseStamps(truth);
    const central = centralStamp(stamps);
    const peakShare = Math.max(...central);
    const norm = Math.sqrt(central.reduce((a, p) => a + p * p, 0));
    const rng = new Random(23, 'hosts', fwhm);
    const subtracted = new Float32Array(size * size);
    for (let i = 0; i < subtracted.length; i++) subtracted[i] = sigma * rng.normal();
    const sources: { x: number; y: number; snr: number; host: number }[] = [];
    for (let k = 0; k < 36; k++) {
      const cx = 28 + (k % 6) * 40;
      const cy = 28 + Math.floor(k / 6) * 40;
      const snr = 10 * 5 ** rng.uniform();
      // PSF-fit S/N on the sky's noise: flux · sqrt(Σ p²) / σ.
      const flux = (snr * sigma) / norm;
      const host = k % 4 < 2 ? 2 + 4 * rng.uniform() : 0.5 * rng.uniform();
      drawHost(subtracted, size, stamps, cx, cy, k % 2 ? sersic : exponential, host * flux * peakShare);
      const x = cx + rng.uniform() - 0.5;
      const y = cy + rng.uniform() - 0.5;
      drawPoint(subtracted, size, size, stamps, x, y, flux);
      sources.push({ x, y, snr, host });
    }
    const mask = buildMask(
      subtracted.map((v) => v + 100),
      size,
      size,
      { cosmicRays: { subtracted, sigma, psf: new SimulatedPsf({ ...truth, fwhm: 1.5 * fwhm }, 21) } },
    );
    for (const s of sources) {
      const n = crNear(mask, size, s.x, s.y);
      if (n > 0) masked.push(`FWHM ${fwhm}, S/N ${s.snr.toFixed(0)}, host ${s.host.toFixed(1)}×: ${n} px`);
    }
  }
  assert.deepEqual(masked, []);
});

/** A Gaussian PSF, pixel-integrated (erf), unit sum over its stamp. */
class GaussianPsf implements PsfModel {
  readonly size: number;
  constructor(private readonly width: number) {
    this.size = 2 * Math.ceil(2 * width) + 1;
  }
  stamp(x: number, y: number, out?: Float32Array): Float32Array {
    const n = this.size;
    const h = (n - 1) / 2;
    const s = (this.width / (2 * Math.sqrt(2 * Math.log(2)))) * Math.SQRT2;
    const axis = (d: number) =>
      Array.from({ length: n }, (_, i) => 0.5 * (erf((i - h - d + 0.5) / s) - erf((i - h - d - 0.5) / s)));
    const ax = axis(x - Math.round(x));
    const ay = axis(y - Math.round(y));
    const stamp = out ?? new Float32Array(n * n);
    let sum = 0;
    for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) sum += stamp[j * n + i] = ax[i] * ay[j];
    for (let i = 0; i < stamp.length; i++) stamp[i] /= sum;
    return stamp;
  }
  fwhm(): number {
    return this.width;
  }
}

/** erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7). */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-x * x);
  return x >= 0 ? y : -y;
}

test('real ZTF alerts (rb ≥ 0.5): the candidate is never masked as a cosmic ray', async () => {
  // The science cutouts of the likely real candidates (test/data/README.md), background mesh
  // 16, a Gaussian PSF of the alert's FWHM: broader than the stars' cores, so that before the
  // point-source check four of the seven lost 4, 4, 5 and 5 pixels within 3 px of the
  // candidate (and 1661382530015060001 74 pixels over its whole cutout, on its stars).
  const dir = join(TEST_DATA, 'real/ztf-alerts');
  const candidates: Record<string, { rb: number; fwhm: number; xpos: number; ypos: number }> = JSON.parse(
    readFileSync(join(dir, 'candidates.json'), 'utf8'),
  );
  const real = Object.entries(candidates).filter(([, c]) => c.rb >= 0.5);
  assert.equal(real.length, 7);
  const masked: string[] = [];
  for (const [id, c] of real) {
    const img = readImage((await readFits(join(dir, `cutouts/${id}_cutoutScience.fits`))).firstImage());
    const { width, height } = img;
    const data = Float32Array.from(img.data as ArrayLike<number>);
    const bkg = estimateBackground({ width, height, data }, { meshSize: 16 });
    const subtracted = data.map((v, i) => v - bkg.level[i]);
    const mask = buildMask(data, width, height, {
      cosmicRays: { subtracted, sigma: bkg.rms, psf: new GaussianPsf(c.fwhm) },
    });
    // The candidate is at the centre (31, 31) of a full 63 × 63 cutout; a cutout cut by the
    // CCD's first rows or columns starts at the CCD's pixel 0 (xpos, ypos are 1-based), one cut
    // by its last ones keeps the candidate at 31.
    const x = width === 63 || c.xpos - 1 >= 31 ? 31 : c.xpos - 1;
    const y = height === 63 || c.ypos - 1 >= 31 ? 31 : c.ypos - 1;
    const n = crNear(mask, width, x, y);
    if (n > 0) masked.push(`${id}: ${n} px`);
  }
  assert.deepEqual(masked, []);
});

test("the image's own stars lift the limit when the PSF model is broader than they are; hits are still masked", () => {
  // The model is 1.5 times broader than the stars (Roman-like, undersampled). Before: 36 of
  // the 99 stars masked and 31 of the 101 hit pixels missed (a model this broad leaves out the
  // track and compact-hit tests); without the stars, now, none masked but 35 missed. One star
  // has a hit on its peak: the second sharpest star counts, so that it does not raise the
  // limit (taking the sharpest, 21 missed).
  const rng = new Random(17, 'stars-given');
  const subtracted = new Float32Array(N * N);
  for (let i = 0; i < subtracted.length; i++) subtracted[i] = SIGMA * rng.normal();
  const psf = phaseStamps(PROFILE);
  const stars: [number, number][] = [];
  for (let k = 0; k < 100; k++) {
    const x = 12 + (k % 10) * 25 + rng.uniform();
    const y = 12 + Math.floor(k / 10) * 25 + rng.uniform();
    stars.push([x, y]);
    drawPoint(subtracted, N, N, psf, x, y, 2000 + 40000 * rng.uniform());
  }
  // Single pixels, pairs, diagonal steps, L-shapes and 2 × 2 squares, 1,000–5,000 DN a pixel.
  const shapes = [
    [0, 0],
    [0, 0, 1, 0],
    [0, 0, 1, 1, 2, 1],
    [0, 0, 1, 0, 0, 1],
    [0, 0, 1, 0, 0, 1, 1, 1],
  ];
  const hit = placeHits(subtracted, stars, rng, shapes, { count: 100, span: 220, clearance: 8 });
  const [hx, hy] = stars[0];
  subtracted[Math.round(hy) * N + Math.round(hx)] += 40000;
  const mask = buildMask(
    subtracted.map((v) => v + 92),
    N,
    N,
    {
      cosmicRays: {
        subtracted,
        sigma: SIGMA,
        psf: new SimulatedPsf({ ...PROFILE, fwhm: 1.5 * PROFILE.fwhm }, 15),
        stars: stars.map(([x, y]) => ({ x, y })),
      },
    },
  );
  const missed = hit.filter((i) => !(mask[i] & MaskBit.COSMIC_RAY));
  assert.ok(missed.length <= 0.05 * hit.length, `${missed.length} of ${hit.length} hit pixels missed`);
  starsUntouched(mask, stars.slice(1), MaskBit.COSMIC_RAY);
});

test('a hit beside a star is masked without the star: a track is not followed into a source', () => {
  // Hits of 1–3 pixels 3 px from bright stars: following a track into every neighbour above
  // 0.3 of it took in the stars' cores (before: 117 pixels within 3 px of 10 of the 50 stars).
  const rng = new Random(19, 'beside');
  const subtracted = new Float32Array(N * N);
  for (let i = 0; i < subtracted.length; i++) subtracted[i] = SIGMA * rng.normal();
  const psf = phaseStamps(PROFILE);
  const stars: [number, number][] = [];
  const hit: number[] = [];
  for (let k = 0; k < 50; k++) {
    const x = 20 + (k % 10) * 24 + rng.uniform();
    const y = 20 + Math.floor(k / 10) * 48 + rng.uniform();
    stars.push([x, y]);
    drawPoint(subtracted, N, N, psf, x, y, 2000 + 40000 * rng.uniform());
    const angle = 2 * Math.PI * rng.uniform();
    const step = Math.cos(angle) > 0 ? 1 : -1;
    const hx = Math.round(x + 3 * Math.cos(angle));
    const hy = Math.round(y + 3 * Math.sin(angle));
    const charge = 1000 + 4000 * rng.uniform();
    for (let t = 0; t <= k % 3; t++) {
      subtracted[hy * N + hx + t * step] += charge;
      hit.push(hy * N + hx + t * step);
    }
  }
  const mask = buildMask(
    subtracted.map((v) => v + 92),
    N,
    N,
    { cosmicRays: { subtracted, sigma: SIGMA, psf: new SimulatedPsf(PROFILE, 15) } },
  );
  const missed = hit.filter((i) => !(mask[i] & MaskBit.COSMIC_RAY));
  assert.ok(missed.length <= 0.1 * hit.length, `${missed.length} of ${hit.length} hit pixels missed`);
  const taken = stars.map(([x, y]) => crNear(mask, N, x, y, hit)).filter((n) => n > 0);
  assert.deepEqual(taken, [], 'star pixels masked');
});

test('without the cosmic-ray search (cosmic rays removed upstream) no pixel is flagged as one', () => {
  const rng = new Random(29, 'none');
  const subtracted = new Float32Array(64 * 64);
  for (let i = 0; i < subtracted.length; i++) subtracted[i] = SIGMA * rng.normal();
  for (let k = 0; k < 10; k++) subtracted[(10 + 4 * k) * 64 + 10 + 4 * k] += 3000;
  const mask = buildMask(
    subtracted.map((v) => v + 92),
    64,
    64,
    { deadPixels: { subtracted, sigma: SIGMA } },
  );
  assert.equal(mask.filter((v) => v & MaskBit.COSMIC_RAY).length, 0);
});
