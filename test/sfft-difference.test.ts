/**
 * SFFT's difference image (src/image/sfft/difference.ts) on a simulated pair whose truth is
 * known: the fitted flux ratio, the decorrelated difference's noise (white, of the predicted
 * σ), a transient's flux and S/N, in both modes; and in the pipeline, `method: 'both'` gives
 * both catalogs, and a pair SFFT cannot fit leaves ZOGY's products whole with the failure said.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Header } from '../src/fits/header.ts';
import { gaussianKernel } from '../src/image/convolve.ts';
import { psfFromImage } from '../src/image/psf/index.ts';
import { type SfftMode, sfftDifference } from '../src/image/sfft/difference.ts';
import { robustSigma } from '../src/image/stats.ts';
import { subtract } from '../src/pipeline/subtract.ts';
import { Random } from '../src/sim/random.ts';

const N = 192;
const SIGMA_S = 6;
const SIGMA_R = 3;
const RATIO = 1.25;
const TRANSIENT = { x: 101.3, y: 90.6, flux: 4000 };

/** Gaussian point source of unit flux, pixel-sampled. */
function addStar(img: Float32Array, x0: number, y0: number, flux: number, fwhm: number): void {
  const s = fwhm / 2.3548;
  const r = Math.ceil(5 * s);
  for (let y = Math.floor(y0) - r; y <= Math.ceil(y0) + r; y++)
    for (let x = Math.floor(x0) - r; x <= Math.ceil(x0) + r; x++) {
      if (x < 0 || y < 0 || x >= N || y >= N) continue;
      img[y * N + x] +=
        (flux / (2 * Math.PI * s * s)) * Math.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * s * s));
    }
}

function pair(seed: number, sciFwhm: number, refFwhm: number) {
  const rnd = new Random(seed, 'sfft-difference');
  const sci = new Float32Array(N * N);
  const ref = new Float32Array(N * N);
  for (let k = 0; k < 60; k++) {
    const x = rnd.range(15, N - 15);
    const y = rnd.range(15, N - 15);
    if (Math.hypot(x - TRANSIENT.x, y - TRANSIENT.y) < 12) continue;
    const f = 10 ** rnd.range(3, 4.6);
    addStar(sci, x, y, f * RATIO, sciFwhm);
    addStar(ref, x, y, f, refFwhm);
  }
  addStar(sci, TRANSIENT.x, TRANSIENT.y, TRANSIENT.flux, sciFwhm);
  for (let i = 0; i < N * N; i++) {
    sci[i] += SIGMA_S * rnd.normal();
    ref[i] += SIGMA_R * rnd.normal();
  }
  const stamp = (fwhm: number) => Float32Array.from(gaussianKernel(fwhm, 10).data);
  return { sci, ref, sciPsf: stamp(sciFwhm), refPsf: stamp(refFwhm) };
}

/** Lag-1 autocorrelation of the valid pixels away from sources (|value| < 4σ). */
function lag1(d: Float32Array, sigma: number): number {
  let num = 0;
  let den = 0;
  for (let y = 0; y < N; y++)
    for (let x = 0; x + 1 < N; x++) {
      const a = d[y * N + x];
      const b = d[y * N + x + 1];
      if (!Number.isFinite(a) || !Number.isFinite(b) || Math.abs(a) > 4 * sigma || Math.abs(b) > 4 * sigma)
        continue;
      num += a * b;
      den += a * a;
    }
  return num / den;
}

for (const [mode, sciFwhm, refFwhm] of [
  ['cross', 3.2, 2.4],
  ['cross', 2.4, 3.2],
  ['direct', 3.2, 2.4],
  // The science image sharper: direct mode convolves it toward the reference ('auto').
  ['direct', 2.4, 3.2],
] as [SfftMode, number, number][]) {
  test(`SFFT ${mode} (science FWHM ${sciFwhm}, reference ${refFwhm}): flux ratio, white noise of σ √(σ_S² + r²σ_R²), the transient's flux and S/N`, async () => {
    const p = pair(1, sciFwhm, refFwhm);
    const r = await sfftDifference({
      width: N,
      height: N,
      science: p.sci,
      reference: p.ref,
      sciencePsf: p.sciPsf,
      referencePsf: p.refPsf,
      scienceSigma: SIGMA_S,
      referenceSigma: SIGMA_R,
      mode,
      fit: { halfWidth: 6 },
    });
    assert.equal(r.convolved, mode === 'direct' && sciFwhm < refFwhm ? 'science' : 'reference');
    assert.ok(Math.abs(r.fluxRatio / RATIO - 1) < 0.01, `flux ratio ${r.fluxRatio}`);
    const expected = Math.hypot(SIGMA_S, RATIO * SIGMA_R);
    assert.ok(Math.abs(r.noise / expected - 1) < 0.01, `c ${r.noise} for ${expected}`);
    const valid = Array.from(r.decorrelated).filter(Number.isFinite);
    const measured = robustSigma(valid);
    // The decorrelated difference's noise is white, of the predicted σ (before decorrelation
    // the cross-convolved difference's neighbouring pixels correlate at 0.7–0.9).
    assert.ok(Math.abs(measured / expected - 1) < 0.06, `decorrelated σ ${measured} for ${expected}`);
    const rho = lag1(r.decorrelated, expected);
    assert.ok(Math.abs(rho) < 0.1, `decorrelated lag-1 correlation ${rho}`);
    if (mode === 'cross')
      assert.ok(lag1(r.difference, robustSigma(Array.from(r.difference).filter(Number.isFinite))) > 0.5);
    // The score map is in units of its own σ on blank sky.
    const score = Array.from(r.score).filter(Number.isFinite);
    const scoreSigma = robustSigma(score);
    assert.ok(Math.abs(scoreSigma - 1) < 0.12, `score σ ${scoreSigma}`);
    // The transient: its flux under the difference's PSF (a PSF-weighted sum at its peak), and
    // its S/N at the predicted value: flux·√ΣP_D² / c.
    const cx = Math.round(TRANSIENT.x);
    const cy = Math.round(TRANSIENT.y);
    let peak = 0;
    for (let j = -1; j <= 1; j++)
      for (let i = -1; i <= 1; i++) peak = Math.max(peak, r.score[(cy + j) * N + cx + i]);
    const h = (r.psfSide - 1) / 2;
    let aperture = 0;
    for (let j = -8; j <= 8; j++)
      for (let i = -8; i <= 8; i++) aperture += r.decorrelated[(cy + j) * N + cx + i];
    let enclosed = 0;
    for (let j = -8; j <= 8; j++)
      for (let i = -8; i <= 8; i++) enclosed += r.psf[(h + j) * r.psfSide + h + i];
    const flux = aperture / enclosed;
    assert.ok(
      Math.abs(flux / TRANSIENT.flux - 1) < 0.06,
      `transient flux ${flux.toFixed(0)} for ${TRANSIENT.flux}`,
    );
    const psf2 = r.psf.reduce((s, v) => s + v * v, 0);
    const snr = (TRANSIENT.flux * Math.sqrt(psf2)) / expected;
    assert.ok(
      Math.abs(peak / snr - 1) < 0.15,
      `transient S/N ${peak.toFixed(1)}, predicted ${snr.toFixed(1)}`,
    );
    console.error(
      `# SFFT ${mode} (${r.convolved} convolved) ${sciFwhm}/${refFwhm}: ratio ${r.fluxRatio.toFixed(4)}, σ ${measured.toFixed(2)} (predicted ${expected.toFixed(2)}), lag-1 ${rho.toFixed(3)}, score σ ${scoreSigma.toFixed(3)}, transient flux ${flux.toFixed(0)} S/N ${peak.toFixed(1)} (predicted ${snr.toFixed(1)}), rejected ${r.fit.rejectedPixels}`,
    );
  });
}

test('the pipeline with method both: ZOGY and SFFT catalogs both hold the transient; a pair SFFT cannot fit keeps ZOGY whole', async () => {
  const p = pair(2, 3.2, 2.4);
  const psf = (k: Float32Array) => psfFromImage(k, 21, 21);
  const image = (data: Float32Array) => ({ width: N, height: N, data });
  const r = await subtract(
    { image: image(p.sci), header: new Header(), psf: psf(p.sciPsf) },
    { image: image(p.ref), header: new Header(), psf: psf(p.refPsf) },
    { aligned: true, method: 'both', cosmicRays: false, checkPsf: false },
  );
  const near = (s: { x: number; y: number }) => Math.hypot(s.x - TRANSIENT.x, s.y - TRANSIENT.y) < 2;
  assert.ok(r.zogy, 'ZOGY ran');
  assert.ok(r.sources.some(near), 'ZOGY found the transient');
  assert.ok(r.sfft?.result, `SFFT ran: ${r.sfft?.error}`);
  const found = r.sfft.sources.find(near);
  assert.ok(found, 'SFFT found the transient');
  assert.ok(Math.abs(found.psf!.flux / TRANSIENT.flux - 1) < 0.06, `SFFT PSF flux ${found.psf?.flux}`);
  assert.equal(r.qa.sfftStatus, 'ok');
  assert.ok(r.sfft.sources.length <= 3, `SFFT sources ${r.sfft.sources.length}`);

  // A reference of pure noise: SFFT cannot fit a kernel (the method's failure), ZOGY runs.
  const noise = new Random(5, 'noise');
  const blank = Float32Array.from({ length: N * N }, () => SIGMA_R * noise.normal());
  const f = await subtract(
    { image: image(p.sci), header: new Header(), psf: psf(p.sciPsf) },
    { image: image(blank), header: new Header(), psf: psf(p.refPsf) },
    { aligned: true, method: 'both', cosmicRays: false, checkPsf: false, fluxRatio: 1 },
  );
  assert.ok(f.zogy && f.sources.length > 0, 'ZOGY products and catalog');
  assert.equal(f.sfft?.result, undefined);
  assert.match(f.sfft?.error ?? '', /SFFT/);
  assert.equal(f.qa.sfftStatus, 'failed');
  assert.ok(f.warnings.some((w) => w.startsWith('SFFT failed')));
});

test('the difference PSF model: a tabulated PSF convolved on its grid equals the stamp-by-stamp convolution at any phase', async () => {
  const { ConvolvedPsf, convolvePsf } = await import('../src/image/psf/convolved.ts');
  const { GridPsf } = await import('../src/image/psf/grid.ts');
  // A 3×-oversampled elliptical Gaussian grid, and an asymmetric kernel with negative wings.
  const N = 3;
  const gside = 61;
  const grid = new Float32Array(gside * gside);
  for (let j = 0; j < gside; j++)
    for (let i = 0; i < gside; i++) {
      const u = (i - 30) / N;
      const v = (j - 30) / N;
      grid[j * gside + i] = Math.exp(-(u * u) / (2 * 1.1 ** 2) - (v * v) / (2 * 0.8 ** 2));
    }
  const base = new GridPsf([grid], gside, 1 / N, undefined, 15);
  const kernel = Float32Array.from([0, -0.05, 0, -0.05, 1.1, 0.02, 0, 0.03, -0.05]);
  const fast = convolvePsf(base, kernel);
  assert.ok(fast instanceof GridPsf, 'a tabulated model stays tabulated');
  const slow = new ConvolvedPsf(base, kernel);
  assert.equal(fast.size, slow.size);
  for (const [x, y] of [
    [100, 100],
    [100.3, 99.8],
    [50.49, 70.12],
  ]) {
    const a = fast.stamp(x, y);
    const b = slow.stamp(x, y);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    assert.ok(worst < 2e-4, `at (${x}, ${y}) the two differ by ${worst}`);
  }
});
