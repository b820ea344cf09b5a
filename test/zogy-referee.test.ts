/**
 * ZOGY against an independent referee: test/support/zogy_ref.py, a short numpy implementation
 * written from Zackay, Ofek & Gal-Yam (2016)'s equations alone (D eq. 13, P_D eq. 14, F_D eq. 15,
 * S eq. 12, the source-noise and astrometric terms eq. 26–31, Scorr eq. 25). Both get the same
 * images, variances, PSF stamps, noise levels and flux ratio; our zogy() runs as one piece (one
 * tile covering the whole image, so tiling plays no part) and the pixel maps D, S and Scorr are
 * compared away from the edges.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { serialBackend } from '../src/image/fft/index.ts';
import { estimatePsf } from '../src/image/psf/index.ts';
import { median, regularSample, robustSigma } from '../src/image/stats.ts';
import { taper } from '../src/image/zogy/tiles.ts';
import { type ZogyInput, type ZogyResult, zogy } from '../src/image/zogy/zogy.ts';
import { loadImage } from '../src/pipeline/load.ts';
import { Random } from '../src/sim/random.ts';
import { TEST_DATA } from './support/cli.ts';
import { readNpy, writeNpy } from './support/npy.ts';
import { hasPythonModule, PYTHON, requireTool, run } from './support/tools.ts';

const SCRIPT = fileURLToPath(new URL('./support/zogy_ref.py', import.meta.url));

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'rapid-zogy-referee-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Referee {
  D: Float64Array;
  S: Float64Array;
  Scorr: Float64Array;
  PD: Float64Array;
  FD: number;
}

/** The numpy ZOGY on the same inputs; variances given as one number are passed as scalars. */
function referee(
  name: string,
  input: ZogyInput,
  scalarVariance?: { science: number; reference: number },
): Referee {
  const d = mkdtempSync(join(dir, `${name}-`));
  const { width: w, height: h } = input;
  const side = (a: Float32Array) => Math.round(Math.sqrt(a.length));
  const file = (what: string, a: Float32Array, shape: number[]) => {
    const path = join(d, `${what}.npy`);
    writeNpy(path, a, shape);
    return path;
  };
  const params = {
    new: file('new', input.science, [h, w]),
    ref: file('ref', input.reference, [h, w]),
    psf_new: file('psf_new', input.sciencePsf, [side(input.sciencePsf), side(input.sciencePsf)]),
    psf_ref: file('psf_ref', input.referencePsf, [side(input.referencePsf), side(input.referencePsf)]),
    var_new: scalarVariance?.science ?? file('var_new', input.scienceVariance, [h, w]),
    var_ref: scalarVariance?.reference ?? file('var_ref', input.referenceVariance, [h, w]),
    sigma_new: input.scienceSigma,
    sigma_ref: input.referenceSigma,
    flux_ratio: input.fluxRatio,
    astrometric_sigma: input.astrometricSigma ?? [0, 0],
    out: d,
  };
  writeFileSync(join(d, 'params.json'), JSON.stringify(params));
  const { F_D } = JSON.parse(run(PYTHON, [SCRIPT, join(d, 'params.json')]));
  return {
    D: readNpy(join(d, 'D.npy')),
    S: readNpy(join(d, 'S.npy')),
    Scorr: readNpy(join(d, 'Scorr.npy')),
    PD: readNpy(join(d, 'P_D.npy')),
    FD: F_D,
  };
}

interface Agreement {
  /** Pearson correlation. */
  corr: number;
  /** rms(ours − theirs) / rms(theirs). */
  rel: number;
  /** max |ours − theirs|, in the map's own units. */
  max: number;
  n: number;
}

/** Agreement of two maps over pixels at least `margin` from every edge where both are finite. */
function agree(
  ours: ArrayLike<number>,
  theirs: ArrayLike<number>,
  w: number,
  h: number,
  margin: number,
  scale = 1,
): Agreement {
  let n = 0;
  let sa = 0;
  let sb = 0;
  let saa = 0;
  let sbb = 0;
  let sab = 0;
  let sdd = 0;
  let max = 0;
  for (let y = margin; y < h - margin; y++) {
    for (let x = margin; x < w - margin; x++) {
      const a = ours[y * w + x] * scale;
      const b = theirs[y * w + x];
      if (!Number.isFinite(a) || !Number.isFinite(b)) continue;
      n++;
      sa += a;
      sb += b;
      saa += a * a;
      sbb += b * b;
      sab += a * b;
      sdd += (a - b) ** 2;
      max = Math.max(max, Math.abs(a - b));
    }
  }
  const cov = sab / n - (sa / n) * (sb / n);
  const corr = cov / Math.sqrt((saa / n - (sa / n) ** 2) * (sbb / n - (sb / n) ** 2));
  return { corr, rel: Math.sqrt(sdd / sbb), max, n };
}

/**
 * Tolerances, from what we measure. The two implementations agree to a relative rms of
 * ≤ 3e-5 in D (≤ 1e-7 but on DECam), ≤ 3e-7 in S and ≤ 1e-6 in Scorr, and pixel by pixel to
 * ≤ 8e-4 σ in D and ≤ 7e-5 σ in Scorr (both in σ units: ZOGY's D has unit background noise,
 * Scorr counts its own σ); correlations differ from 1 by < 1e-7. The largest residual is
 * DECam's D: its K_n (a narrow reference PSF over a wider science one) keeps 6e-5 of its
 * energy beyond 64 px, past our zero padding (2 PSF sides), so a little of it wraps around; the
 * rest is our float32 planes. The bounds sit 30× (rms) and 12× (pixels) above that, and ≥ 3×
 * below the smallest real error we tried on the numpy side, each caught on the simulated pair,
 * on DECam and on the ZTF triplets (but the one with flux ratio 1 for errors in F_n): Scorr
 * moves by 0.3–95% rms without the astrometric term, 0.3–26% with S's gradient for S_R's,
 * 0.9–5% with k_r lacking its F_n (eq. 28), 0.4–22% with V(S_N) off by F_n², 1.3–42% without
 * V(S_R); D moves by 3–100% with F_n and F_r swapped. Correlation alone would not do: k_r
 * lacking its F_n leaves it at 0.99981–0.999999, hence the rms bound.
 */
const TOL = { corr: 0.99999, rel: 1e-3, maxSigma: 0.01 };

/** Compare ours with the referee; returns a line to print, asserts the tolerances. */
function check(label: string, input: ZogyInput, ours: ZogyResult, ref: Referee, margin: number): string {
  const { width: w, height: h } = input;
  // Our D is in science units (D · F_n / F_D): back to ZOGY's D.
  const D = agree(ours.difference, ref.D, w, h, margin, 1 / ours.scale);
  const S = agree(ours.score, ref.S, w, h, margin);
  const C = agree(ours.scoreCorr, ref.Scorr, w, h, margin);
  // P_D: ours is normalised to unit sum, the paper's to unit sum by construction (P̂_D(0) = 1).
  const pdSum = ref.PD.reduce((a, b) => a + b, 0);
  let pdMax = 0;
  let pdPeak = 0;
  for (let i = 0; i < ref.PD.length; i++) {
    pdMax = Math.max(pdMax, Math.abs(ours.differencePsf[i] - ref.PD[i] / pdSum));
    pdPeak = Math.max(pdPeak, ref.PD[i] / pdSum);
  }
  const f = (a: Agreement) =>
    `corr ${a.corr.toFixed(7)}, rel rms ${a.rel.toExponential(1)}, max ${a.max.toExponential(1)}`;
  const line = `${label} (${D.n} px): D ${f(D)}; S ${f(S)}; Scorr ${f(C)}; F_D ${ours.fluxScale.toPrecision(6)} vs ${ref.FD.toPrecision(6)}; P_D max diff ${(pdMax / pdPeak).toExponential(1)} of peak`;
  console.error(`# ${line}`);
  assert.equal(ref.PD.length, ours.differencePsf.length, 'P_D sizes');
  assert.ok(Math.abs(ours.fluxScale / ref.FD - 1) < 1e-9, `${label}: F_D ${ours.fluxScale} vs ${ref.FD}`);
  assert.ok(pdMax < 1e-4 * pdPeak, `${label}: P_D differs by ${pdMax}`);
  for (const [name, a] of [
    ['D', D],
    ['S', S],
    ['Scorr', C],
  ] as const) {
    assert.ok(
      a.n > 0.5 * (w - 2 * margin) * (h - 2 * margin),
      `${label}: ${name} has ${a.n} pixels to compare`,
    );
    assert.ok(a.corr >= TOL.corr, `${label}: ${name} correlation ${a.corr}`);
    assert.ok(a.rel <= TOL.rel, `${label}: ${name} relative rms difference ${a.rel}`);
  }
  // D and Scorr are in σ units: pixel by pixel too.
  assert.ok(D.max <= TOL.maxSigma, `${label}: D differs by up to ${D.max} σ`);
  assert.ok(C.max <= TOL.maxSigma, `${label}: Scorr differs by up to ${C.max} σ`);
  return line;
}

const numpy = (t: TestContext) => requireTool(t, 'python3-numpy', hasPythonModule('numpy'));

/** erf, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7). */
function erf(x: number): number {
  const s = Math.sign(x);
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const p = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return s * (1 - p * Math.exp(-a * a));
}

/** Add a pixel-integrated circular Gaussian of this FWHM and flux at (x0, y0). */
function addGaussian(
  data: Float32Array,
  w: number,
  h: number,
  x0: number,
  y0: number,
  flux: number,
  fwhm: number,
) {
  const s = (fwhm / 2.3548) * Math.SQRT2;
  const r = Math.ceil(4 * fwhm);
  const cdf = (u: number) => 0.5 * (1 + erf(u / s));
  for (let y = Math.max(0, Math.round(y0) - r); y <= Math.min(h - 1, Math.round(y0) + r); y++) {
    const fy = cdf(y + 0.5 - y0) - cdf(y - 0.5 - y0);
    for (let x = Math.max(0, Math.round(x0) - r); x <= Math.min(w - 1, Math.round(x0) + r); x++)
      data[y * w + x] += flux * fy * (cdf(x + 0.5 - x0) - cdf(x - 0.5 - x0));
  }
}

/** A centred, unit-sum, pixel-integrated Gaussian stamp of odd side. */
function gaussianStamp(fwhm: number, side = 2 * Math.ceil(3 * fwhm) + 1): Float32Array {
  const s = new Float32Array(side * side);
  addGaussian(s, side, side, (side - 1) / 2, (side - 1) / 2, 1, fwhm);
  const sum = s.reduce((a, b) => a + b, 0);
  return s.map((v) => v / sum);
}

describe('ZOGY against an independent numpy implementation of the paper', () => {
  test('a simulated pair: Gaussian PSFs of different widths, flux ratio 1.3, transients', async (t) => {
    if (!numpy(t)) return;
    const n = 256;
    const fwhmN = 3.4;
    const fwhmR = 2.4;
    const Fn = 1.3;
    const sn = 8;
    const sr = 3;
    const rng = new Random(7, 'zogy-referee');
    const sci = new Float32Array(n * n);
    const ref = new Float32Array(n * n);
    for (let k = 0; k < 40; k++) {
      const x = rng.range(12, n - 12);
      const y = rng.range(12, n - 12);
      const flux = 2e3 * 100 ** rng.uniform();
      addGaussian(ref, n, n, x, y, flux, fwhmR);
      addGaussian(sci, n, n, x, y, Fn * flux, fwhmN);
    }
    for (let k = 0; k < 6; k++)
      addGaussian(sci, n, n, rng.range(30, n - 30), rng.range(30, n - 30), 500 * 10 ** rng.uniform(), fwhmN);
    // White background noise plus the stars' Poisson noise (gain 1), with the true variances.
    const noisy = (model: Float32Array, sigma: number) => {
      const variance = model.map((m) => sigma * sigma + Math.max(m, 0));
      return { data: model.map((m, i) => m + Math.sqrt(variance[i]) * rng.normal()), variance };
    };
    const N = noisy(sci, sn);
    const R = noisy(ref, sr);
    const input: ZogyInput = {
      width: n,
      height: n,
      science: N.data,
      reference: R.data,
      scienceVariance: N.variance,
      referenceVariance: R.variance,
      sciencePsf: gaussianStamp(fwhmN),
      referencePsf: gaussianStamp(fwhmR),
      scienceSigma: sn,
      referenceSigma: sr,
      fluxRatio: Fn,
      astrometricSigma: [0.15, 0.1],
    };
    const ours = await zogy(input, serialBackend());
    check('simulated 256²', input, ours, referee('sim', input), 16);
  });

  test('the real DECam stacks, with PSFs estimated by our code and a measured flux ratio', async (t) => {
    if (!numpy(t)) return;
    const D = join(TEST_DATA, 'real/decam-sfft/4check');
    const sci = await loadImage(join(D, 'Stack-DEC-OBS04.fits'));
    const ref = await loadImage(join(D, 'Stack-DEC-OBS18.fits'));
    const { width: w, height: h } = sci.image;
    const prepared = (im: typeof sci) => {
      const level = median(regularSample(im.image.data));
      const data = im.image.data.map((v) => v - level);
      const sigma = robustSigma(regularSample(data));
      const gain = im.header.number('GAIN');
      const est = estimatePsf(
        { width: w, height: h, data },
        { saturation: im.header.number('SATURATE') - level, gain, minStars: 3 },
      );
      return { data, sigma, gain, est, variance: data.map((v) => sigma * sigma + Math.max(v, 0) / gain) };
    };
    const N = prepared(sci);
    const R = prepared(ref);
    // The flux ratio from the stars both PSF fits measured.
    const ratios: number[] = [];
    for (const s of N.est.stars) {
      const r = R.est.stars.find((q) => Math.hypot(q.x - s.x, q.y - s.y) < 1.5);
      if (r && r.flux > 0) ratios.push(s.flux / r.flux);
    }
    assert.ok(ratios.length >= 3, `${ratios.length} stars in common`);
    const Fn = median(ratios);
    const input: ZogyInput = {
      width: w,
      height: h,
      science: N.data,
      reference: R.data,
      scienceVariance: N.variance,
      referenceVariance: R.variance,
      sciencePsf: taper(N.est.psf.stamp(w / 2, h / 2)),
      referencePsf: taper(R.est.psf.stamp(w / 2, h / 2)),
      scienceSigma: N.sigma,
      referenceSigma: R.sigma,
      fluxRatio: Fn,
      astrometricSigma: [0.1, 0.1],
    };
    console.error(
      `# DECam: PSF FWHM science ${N.est.psf.fwhm().toFixed(2)} px, reference ${R.est.psf.fwhm().toFixed(2)} px (stamps ${N.est.psf.size} and ${R.est.psf.size} px); σ ${N.sigma.toFixed(2)}, ${R.sigma.toFixed(2)}; flux ratio ${Fn.toFixed(3)} from ${ratios.length} stars`,
    );
    const ours = await zogy(input, serialBackend());
    const side = Math.round(Math.sqrt(Math.max(input.sciencePsf.length, input.referencePsf.length)));
    check('DECam stacks 256²', input, ours, referee('decam', input), side);
  });

  test('the real ZTF triplets with rb ≥ 0.5: Gaussian PSFs of the candidate FWHM, scalar noise, measured flux ratio', async (t) => {
    if (!numpy(t)) return;
    const Z = join(TEST_DATA, 'real/ztf-alerts');
    const candidates: Record<string, { rb: number; fwhm: number }> = JSON.parse(
      readFileSync(join(Z, 'candidates.json'), 'utf8'),
    );
    const real = Object.entries(candidates).filter(([, c]) => c.rb >= 0.5);
    assert.equal(real.length, 7);
    const failures: string[] = [];
    for (const [candid, c] of real) {
      const load = async (kind: string) => {
        const im = await loadImage(join(Z, 'cutouts', `${candid}_cutout${kind}.fits`));
        const level = median(Array.from(im.image.data).filter(Number.isFinite));
        const data = im.image.data.map((v) => v - level);
        return { image: im.image, data, sigma: robustSigma(Array.from(data).filter(Number.isFinite)) };
      };
      const sci = await load('Science');
      const tpl = await load('Template');
      const { width: w, height: h } = sci.image;
      const psf = gaussianStamp(c.fwhm);
      // The flux ratio from the template's bright pixels away from the candidate (the stars
      // these stamps hold); 1 when there are too few.
      const bright: number[] = [];
      for (let i = 0; i < w * h; i++) {
        const far = Math.hypot((i % w) - 31, Math.floor(i / w) - 31) > 5;
        if (far && tpl.data[i] > 10 * tpl.sigma && Number.isFinite(sci.data[i])) bright.push(i);
      }
      const sum = (a: Float32Array) => bright.reduce((s, i) => s + a[i], 0);
      const Fn = bright.length >= 10 ? sum(sci.data) / sum(tpl.data) : 1;
      const input: ZogyInput = {
        width: w,
        height: h,
        science: sci.data,
        reference: tpl.data,
        scienceVariance: new Float32Array(w * h).fill(sci.sigma ** 2),
        referenceVariance: new Float32Array(w * h).fill(tpl.sigma ** 2),
        sciencePsf: psf,
        referencePsf: psf,
        scienceSigma: sci.sigma,
        referenceSigma: tpl.sigma,
        fluxRatio: Fn,
        astrometricSigma: [0.1, 0.1],
      };
      const ours = await zogy(input, serialBackend());
      const ref = referee(`ztf-${candid}`, input, { science: sci.sigma ** 2, reference: tpl.sigma ** 2 });
      // Every candidate is compared (and printed) before the verdict.
      try {
        check(
          `ZTF ${candid} ${w}×${h} FWHM ${c.fwhm.toFixed(2)} flux ratio ${Fn.toFixed(3)}`,
          input,
          ours,
          ref,
          Math.round(Math.sqrt(psf.length) / 2),
        );
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    assert.deepEqual(failures, []);
  });
});
