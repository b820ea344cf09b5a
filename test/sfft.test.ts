/**
 * SFFT's numerics (src/image/sfft): the FFT-assembled normal equations equal the ones built
 * column by column; a known kernel, spatially varying, and background are recovered; a
 * degenerate pair is the method's failure (SingularSfftError, 65), not a crash; and on SFFT's
 * own DECam example our kernel matches the stacks as SFFT's does.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseFits, readImage } from '../src/fits/index.ts';
import { convolve, gaussianKernel } from '../src/image/convolve.ts';
import { fftBackend } from '../src/image/fft/index.ts';
import { choleskySolve } from '../src/image/linalg.ts';
import { monomials } from '../src/image/sfft/basis.ts';
import { sfftDifference } from '../src/image/sfft/difference.ts';
import { fitSfft, SingularSfftError } from '../src/image/sfft/fit.ts';
import { kernelAt } from '../src/image/sfft/kernel.ts';
import { sfftSystem } from '../src/image/sfft/system.ts';
import { robustSigma } from '../src/image/stats.ts';
import { TEST_DATA } from './support/cli.ts';

function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647;
  };
}

function gauss(rnd: () => number): number {
  return Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
}

test('Cholesky solve: an SPD system exactly; a singular one reported with condition Infinity', () => {
  const n = 5;
  const M = Array.from({ length: n * n }, (_, i) => Math.sin(i * 1.3) + (i % 6 === 0 ? 3 : 0));
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) A[i * n + j] += M[i * n + k] * M[j * n + k];
  const truth = [1, -2, 3, 0.5, 5];
  const b = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) b[i] += A[i * n + j] * truth[j];
  const s = choleskySolve(A, b, n);
  for (let i = 0; i < n; i++) assert.ok(Math.abs(s.x[i] - truth[i]) < 1e-9, `x[${i}] = ${s.x[i]}`);
  assert.ok(Number.isFinite(s.condition) && s.condition >= 1);
  const singular = new Float64Array([1, 1, 1, 1]);
  assert.equal(choleskySolve(singular, new Float64Array([1, 1]), 2).condition, Infinity);
});

test('the normal equations assembled with FFTs equal the sums over pixels of the basis columns', async () => {
  const W = 12;
  const H = 10;
  const w = 1;
  const R = Float64Array.from({ length: W * H }, (_, i) => Math.cos(i * 0.7) + 1);
  const S = Float64Array.from({ length: W * H }, (_, i) => Math.sin(i * 0.3));
  const fit = new Uint8Array(W * H).fill(1);
  fit[5] = 0;
  R[5] = 0;
  S[5] = 0;
  for (const [DK, DB] of [
    [0, 0],
    [2, 1],
  ]) {
    const sys = await sfftSystem(
      {
        width: W,
        height: H,
        convolved: R,
        target: S,
        fit,
        halfWidth: w,
        kernelOrder: DK,
        backgroundOrder: DB,
      },
      fftBackend(),
    );
    const cx = (W - 1) / 2;
    const cy = (H - 1) / 2;
    const sc = Math.max(W, H) / 2;
    const inside = (x: number, y: number) => x >= 0 && x < W && y >= 0 && y < H;
    const Rv = (x: number, y: number) => (inside(x, y) ? R[y * W + x] : 0);
    const cols: number[][] = [];
    const xs: [number, number][] = [];
    for (let y = -2 * w; y < H + 2 * w; y++) for (let x = -2 * w; x < W + 2 * w; x++) xs.push([x, y]);
    for (const [a, b] of monomials(DK))
      for (let j = -w; j <= w; j++)
        for (let i = -w; i <= w; i++)
          cols.push(xs.map(([x, y]) => ((x - cx) / sc) ** a * ((y - cy) / sc) ** b * Rv(x - i, y - j)));
    for (const [a, b] of monomials(DB))
      cols.push(
        xs.map(([x, y]) =>
          inside(x, y) && fit[y * W + x] ? ((x - cx) / sc) ** a * ((y - cy) / sc) ** b : 0,
        ),
      );
    const Sv = xs.map(([x, y]) => (inside(x, y) ? S[y * W + x] : 0));
    assert.equal(sys.n, cols.length);
    for (let r = 0; r < cols.length; r++) {
      const rhs = cols[r].reduce((acc, c, t) => acc + c * Sv[t], 0);
      assert.ok(Math.abs(rhs - sys.rhs[r]) < 1e-9, `b[${r}]`);
      for (let c = 0; c < cols.length; c++) {
        const v = cols[r].reduce((acc, x, t) => acc + x * cols[c][t], 0);
        assert.ok(Math.abs(v - sys.matrix[r * cols.length + c]) < 1e-9, `N[${r},${c}] (DK ${DK}, DB ${DB})`);
      }
    }
  }
});

/** A background-subtracted star field (stars away from the edges) and its convolution with a kernel varying across the image. */
function starPair(varying: boolean) {
  const W = 160;
  const H = 150;
  const w = 3;
  const side = 2 * w + 1;
  const rnd = random(7);
  const R = new Float64Array(W * H);
  for (let i = 0; i < W * H; i++) R[i] = gauss(rnd);
  for (let s = 0; s < 60; s++) {
    const x0 = 15 + rnd() * (W - 30);
    const y0 = 15 + rnd() * (H - 30);
    const f = 200 + rnd() * 5000;
    for (let y = Math.floor(y0 - 8); y <= y0 + 8; y++)
      for (let x = Math.floor(x0 - 8); x <= x0 + 8; x++)
        R[y * W + x] +=
          (f / (2 * Math.PI * 1.6 ** 2)) * Math.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * 1.6 ** 2));
  }
  // K(x) = K0 + u·K1: an off-centre, asymmetric kernel whose shape changes along x.
  const K0 = new Float64Array(side * side);
  const K1 = new Float64Array(side * side);
  K0[w * side + w] = 0.5;
  K0[w * side + w + 1] = 0.3;
  K0[(w - 1) * side + w] = 0.25;
  K1[w * side + w + 1] = varying ? 0.1 : 0;
  K1[w * side + w - 1] = varying ? -0.05 : 0;
  const cx = (W - 1) / 2;
  const scale = Math.max(W, H) / 2;
  const S = new Float64Array(W * H);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const u = (x - cx) / scale;
      let acc = 0;
      for (let j = -w; j <= w; j++)
        for (let i = -w; i <= w; i++) {
          const xx = x - i;
          const yy = y - j;
          if (xx < 0 || xx >= W || yy < 0 || yy >= H) continue;
          const k = (j + w) * side + i + w;
          acc += (K0[k] + u * K1[k]) * R[yy * W + xx];
        }
      S[y * W + x] = acc + 3 + 0.05 * gauss(rnd);
    }
  return { W, H, w, side, R, S, K0, K1, cx, scale };
}

test('a known kernel and background are recovered; a kernel varying across the image with kernelOrder 1', async () => {
  for (const varying of [false, true]) {
    const p = starPair(varying);
    const usable = new Uint8Array(p.W * p.H).fill(1);
    const fit = await fitSfft(p.R, p.S, p.W, p.H, usable, {
      halfWidth: p.w,
      kernelOrder: varying ? 1 : 0,
      iterations: 0,
    });
    for (const x of [10, p.cx, p.W - 10]) {
      const k = kernelAt(fit.solution, x, p.H / 2);
      const u = (x - p.cx) / p.scale;
      let err = 0;
      for (let i = 0; i < k.length; i++) err = Math.max(err, Math.abs(k[i] - (p.K0[i] + u * p.K1[i])));
      assert.ok(err < 0.01, `kernel at x=${x} (varying ${varying}) off by ${err}`);
    }
    assert.ok(Math.abs(fit.solution.background[0] - 3) < 0.05, `background ${fit.solution.background[0]}`);
  }
});

test('a transient in the science image is rejected from the fit and stays in the difference', async () => {
  const p = starPair(false);
  const x0 = 80;
  const y0 = 75;
  const S = Float64Array.from(p.S);
  for (let y = y0 - 8; y <= y0 + 8; y++)
    for (let x = x0 - 8; x <= x0 + 8; x++)
      S[y * p.W + x] +=
        (3000 / (2 * Math.PI * 2.5 ** 2)) * Math.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * 2.5 ** 2));
  const fit = await fitSfft(p.R, S, p.W, p.H, new Uint8Array(p.W * p.H).fill(1), { halfWidth: p.w });
  assert.ok(fit.rejectedPixels > 0);
  assert.equal(fit.fitted[y0 * p.W + x0], 0, 'the transient is out of the fit');
  let flux = 0;
  for (let y = y0 - 8; y <= y0 + 8; y++)
    for (let x = x0 - 8; x <= x0 + 8; x++) flux += S[y * p.W + x] - fit.model[y * p.W + x];
  assert.ok(Math.abs(flux - 3000) < 60, `transient flux in the difference ${flux}`);
});

test('degenerate pairs fail as the method’s failure (65, one line): a constant image; a reference of pure noise', async () => {
  const W = 64;
  const H = 64;
  const usable = new Uint8Array(W * H).fill(1);
  // A constant image, background-subtracted as the fit's inputs are: nothing left to match.
  const flat = new Float64Array(W * H);
  await assert.rejects(
    fitSfft(flat, flat, W, H, usable, { halfWidth: 3 }),
    (e: unknown) =>
      e instanceof SingularSfftError && e.exitCode === 65 && /singular|no signal/.test(e.message),
  );
  const p = starPair(false);
  const rnd = random(3);
  const noise = Float64Array.from({ length: p.W * p.H }, () => gauss(rnd));
  await assert.rejects(
    fitSfft(noise, p.S, p.W, p.H, new Uint8Array(p.W * p.H).fill(1), { halfWidth: 3 }),
    (e: unknown) =>
      e instanceof SingularSfftError && /share no signal/.test(e.message) && !e.message.includes('\n'),
  );
});

test('SFFT’s DECam example: our kernel between the stacks matches as SFFT’s does (same flux ratio, same residual noise)', async () => {
  const dir = join(TEST_DATA, 'real/decam-sfft');
  const load = (p: string) => {
    const im = readImage(parseFits(readFileSync(join(dir, p))).hdus[0]);
    return { width: im.width, height: im.height, data: Float64Array.from(im.data as ArrayLike<number>) };
  };
  const S = load('4check/Stack-DEC-OBS04.fits');
  const R = load('4check/Stack-DEC-OBS18.fits');
  const theirs = load('4check/FinalDifference.fits');
  const K = load('input_data/FinalMatchKernel.fits');
  const W = S.width;
  const H = S.height;
  const fit = await fitSfft(R.data, S.data, W, H, new Uint8Array(W * H).fill(1), { halfWidth: 10 });
  const k = kernelAt(fit.solution, (W - 1) / 2, (H - 1) / 2);
  const ours = k.reduce((a, b) => a + b, 0);
  const their = K.data.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(ours / their - 1) < 0.005, `flux ratio ${ours} against SFFT's ${their}`);
  // The kernel's shape: from these 256² stacks a δ-basis kernel of 441 pixels is noisy (SFFT's
  // example reads its kernel as an input; how it was fitted is not published). Ours differs
  // from SFFT's by less than the kernels fitted on the image's two halves differ from each other.
  const relL2 = (a: Float64Array, b: ArrayLike<number>) => {
    let d = 0;
    let n = 0;
    for (let i = 0; i < a.length; i++) {
      d += (a[i] - b[i]) ** 2;
      n += b[i] ** 2;
    }
    return Math.sqrt(d / n);
  };
  const half = async (left: boolean) => {
    const usable = new Uint8Array(W * H);
    for (let i = 0; i < W * H; i++) usable[i] = i % W < W / 2 === left ? 1 : 0;
    const f = await fitSfft(R.data, S.data, W, H, usable, { halfWidth: 10 });
    return kernelAt(f.solution, (W - 1) / 2, (H - 1) / 2);
  };
  const halves = relL2(await half(true), await half(false));
  const vsSfft = relL2(k, K.data);
  console.error(
    `# DECam kernel: ours against SFFT's ${vsSfft.toFixed(3)} (relative L2); our two halves against each other ${halves.toFixed(3)}`,
  );
  assert.ok(vsSfft < halves, `kernel off SFFT's by ${vsSfft}, halves by ${halves}`);
  // Over the interior: our difference's robust noise no worse than theirs, and the two agree
  // pixel by pixel to a small fraction of it away from the bright star.
  const ourD: number[] = [];
  const theirD: number[] = [];
  const delta: number[] = [];
  for (let y = 20; y < H - 20; y++)
    for (let x = 20; x < W - 20; x++) {
      const i = y * W + x;
      const d = S.data[i] - (fit.model[i] - fit.solution.background[0]);
      ourD.push(d);
      theirD.push(theirs.data[i]);
      delta.push(Math.abs(d - theirs.data[i]));
    }
  const mad = (v: number[]) => {
    const s = [...v].sort((a, b) => a - b);
    const m = s[s.length >> 1];
    const dev = s.map((x) => Math.abs(x - m)).sort((a, b) => a - b);
    return 1.4826 * dev[dev.length >> 1];
  };
  const noise = mad(theirD);
  assert.ok(mad(ourD) <= noise * 1.02, `our noise ${mad(ourD)}, SFFT's ${noise}`);
  delta.sort((a, b) => a - b);
  const median = delta[delta.length >> 1];
  assert.ok(median < 0.1 * noise, `median |ours − SFFT's| ${median} against noise ${noise}`);
  // The transient at the centre is in both, with the same flux within 5%.
  const flux = (img: (i: number) => number) => {
    let f = 0;
    for (let y = 120; y <= 136; y++) for (let x = 121; x <= 137; x++) f += img(y * W + x);
    return f;
  };
  const fOurs = flux((i) => S.data[i] - fit.model[i]);
  const fTheirs = flux((i) => theirs.data[i]);
  assert.ok(Math.abs(fOurs / fTheirs - 1) < 0.05, `transient flux ${fOurs} against SFFT's ${fTheirs}`);
});

test('SFFT’s DECam example, decorrelated: the transient at the S/N of SFFT’s own decorrelated difference within 5%', async () => {
  const dir = join(TEST_DATA, 'real/decam-sfft');
  const load = (p: string) => {
    const im = readImage(parseFits(readFileSync(join(dir, p))).hdus[0]);
    return Float32Array.from(im.data as ArrayLike<number>);
  };
  const W = 256;
  const H = 256;
  const median = (a: Float32Array) => [...a].sort((x, y) => x - y)[a.length >> 1];
  const flat = (a: Float32Array) => {
    const m = median(a);
    return a.map((v) => v - m);
  };
  const S = flat(load('4check/Stack-DEC-OBS04.fits'));
  const R = flat(load('4check/Stack-DEC-OBS18.fits'));
  const theirs = load('4check/FinalDifference.DeCorr.fits');
  // SFFT's example convolves the reference toward the science stack: our direct mode. Its
  // decorrelation needs no PSF; the stamps (the headers' FWHM) only shape the PSF product.
  const psf = (fwhm: number) => Float32Array.from(gaussianKernel(fwhm, 12).data);
  const r = await sfftDifference({
    width: W,
    height: H,
    science: S,
    reference: R,
    sciencePsf: psf(5),
    referencePsf: psf(4),
    scienceSigma: robustSigma(Array.from(S)),
    referenceSigma: robustSigma(Array.from(R)),
    mode: 'direct',
    fit: { halfWidth: 10 },
  });
  // The data's README: the transient at (128.9, 127.7) is about 30σ after a Gaussian filter of
  // FWHM 5 px; measured the same way on both decorrelated differences (σ of the filtered
  // interior).
  const filtered = async (d: Float32Array) => {
    const c = await convolve(
      { width: W, height: H, data: d.map((v) => (Number.isFinite(v) ? v : 0)) },
      gaussianKernel(5, 7),
      { edge: 'zero' },
    );
    const interior: number[] = [];
    for (let y = 20; y < H - 20; y++) for (let x = 20; x < W - 20; x++) interior.push(c[y * W + x]);
    let peak = 0;
    for (let y = 125; y <= 131; y++) for (let x = 126; x <= 132; x++) peak = Math.max(peak, c[y * W + x]);
    return peak / robustSigma(interior);
  };
  const ours = await filtered(r.decorrelated);
  const their = await filtered(theirs);
  const away: number[] = [];
  const theirValues: number[] = [];
  for (let y = 20; y < H - 20; y++)
    for (let x = 20; x < W - 20; x++) {
      const i = y * W + x;
      if (!Number.isFinite(r.decorrelated[i])) continue;
      theirValues.push(theirs[i]);
      if (Math.hypot(x - 55, y - 178) > 20) away.push(r.decorrelated[i] - theirs[i]);
    }
  const rms = Math.sqrt(away.reduce((t, v) => t + v * v, 0) / away.length) / robustSigma(theirValues);
  console.error(
    `# DECam stacks, decorrelated: transient filtered S/N ours ${ours.toFixed(1)}, SFFT's ${their.toFixed(1)} (ratio ${(ours / their).toFixed(3)}); flux ratio ${r.fluxRatio.toFixed(4)}; rms(ours − SFFT's) away from the bright star ${rms.toFixed(2)} of SFFT's noise (the kernels differ: SFFT's fit configuration for this example is not published)`,
  );
  assert.ok(Math.abs(ours / their - 1) < 0.05, `transient S/N ${ours} against SFFT's ${their}`);
});

test('a refit that takes rejected pixels out of the sums equals the sums made again with FFTs', async () => {
  const { assembleSystem, removeFromCorrelations, sfftCorrelations } = await import(
    '../src/image/sfft/system.ts'
  );
  const W = 40;
  const H = 34;
  const w = 2;
  const rnd = random(11);
  const R = Float64Array.from({ length: W * H }, () => gauss(rnd) + 1);
  const S = Float64Array.from({ length: W * H }, () => gauss(rnd));
  const fit = new Uint8Array(W * H).fill(1);
  for (const i of [3, 77, 500]) {
    fit[i] = 0;
    R[i] = 0;
    S[i] = 0;
  }
  const input = {
    width: W,
    height: H,
    convolved: R,
    target: S,
    fit,
    halfWidth: w,
    kernelOrder: 0,
    backgroundOrder: 0,
  };
  const corr = await sfftCorrelations(input, fftBackend());
  // Neighbours, an edge pixel, a corner and a block: pairs with both ends removed included.
  const removed = [0, 1, W, 41, 42, 43, 600, 601, 640, 641, W * H - 1, 1000];
  for (const j of removed) fit[j] = 2;
  removeFromCorrelations(input, corr, removed);
  for (const j of removed) {
    fit[j] = 0;
    R[j] = 0;
    S[j] = 0;
  }
  const updated = assembleSystem(input, corr);
  const fresh = assembleSystem(input, await sfftCorrelations(input, fftBackend()));
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < fresh.matrix.length; i++) {
    worst = Math.max(worst, Math.abs(updated.matrix[i] - fresh.matrix[i]));
    scale = Math.max(scale, Math.abs(fresh.matrix[i]));
  }
  for (let i = 0; i < fresh.rhs.length; i++) worst = Math.max(worst, Math.abs(updated.rhs[i] - fresh.rhs[i]));
  assert.ok(worst < 1e-9 * scale, `largest difference ${worst} (scale ${scale})`);
  assert.equal(updated.fittedPixels, fresh.fittedPixels);
  assert.ok(Math.abs(updated.targetSquares - fresh.targetSquares) < 1e-9 * fresh.targetSquares);
});
