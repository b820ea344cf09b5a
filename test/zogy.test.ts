import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeFits, Header, parseFits } from '../src/fits/index.ts';
import { serialBackend } from '../src/image/fft/index.ts';
import { forcedPhotometry } from '../src/image/forced.ts';
import { GridPsf, psfFromFits, psfFromImage, psfHdus } from '../src/image/psf/index.ts';
import type { PsfModel } from '../src/image/psf/model.ts';
import { DifferencePsf } from '../src/image/zogy/psf.ts';
import { type TiledZogyInput, taper, zogyTiled } from '../src/image/zogy/tiles.ts';
import { type ZogyCache, type ZogyInput, zogy } from '../src/image/zogy/zogy.ts';
import { BadInputError } from '../src/util/errors.ts';
import { makePair, type Pair, PairSciencePsf } from './support/pairs.ts';

// Two threads even on a one-core runner, so that the worker path is the one tested.
process.env.RAPID_WORKERS = '2';

const PRODUCTS = ['difference', 'differenceUncertainty', 'score', 'scoreCorr'] as const;

function tiledInput(p: Pair, sciencePsf: PsfModel): TiledZogyInput {
  const n = p.options.size;
  const k = Math.round(Math.sqrt(p.referencePsf.length));
  return {
    width: n,
    height: n,
    science: p.science,
    reference: p.reference,
    scienceVariance: p.scienceVariance,
    referenceVariance: p.referenceVariance,
    sciencePsf,
    referencePsf: psfFromImage(p.referencePsf, k, k),
    scienceSigma: p.options.scienceSigma,
    referenceSigma: p.options.referenceSigma,
    fluxRatio: p.options.fluxRatio,
    astrometricSigma: [0.1, 0.1],
    referenceShift: [0.2, -0.1],
    tileSize: 200,
    overlap: 32,
  };
}

/** Largest |a − b| over pixels valid in both, and whether the NaN pixels coincide. */
function compare(a: Float32Array, b: Float32Array, where: (i: number) => boolean = () => true) {
  let max = 0;
  let sameNaN = true;
  for (let i = 0; i < a.length; i++) {
    if (!where(i)) continue;
    if (Number.isNaN(a[i]) !== Number.isNaN(b[i])) sameNaN = false;
    else if (!Number.isNaN(a[i])) max = Math.max(max, Math.abs(a[i] - b[i]));
  }
  return { max, sameNaN };
}

describe('ZOGY in sub-images', () => {
  // A science PSF whose FWHM grows by 30% across the field: every tile column has its own.
  const varying = makePair({ size: 600, seed: 3, scienceFwhm: 2, referenceFwhm: 1.7, scienceFwhmSlope: 0.3 });

  test('tiles on worker threads give the products of the same tiles run here, bit for bit', async () => {
    const input = tiledInput(varying, new PairSciencePsf(varying.options));
    const threaded = await zogyTiled(input);
    const here = await zogyTiled(input, serialBackend());
    assert.equal(threaded.tiles.length, 9);
    for (const key of PRODUCTS) {
      const { max, sameNaN } = compare(threaded[key], here[key]);
      assert.ok(sameNaN, `${key}: masked pixels differ`);
      assert.equal(max, 0, `${key} differs by ${max}`);
    }
    assert.deepEqual(threaded.mask, here.mask);
    assert.deepEqual(
      threaded.tiles.map((t) => t.fluxScale),
      here.tiles.map((t) => t.fluxScale),
    );
    // The tiles did get their own PSFs: the difference PSF widens (its peak drops) across the field.
    const peak = (x: number) => Math.max(...threaded.differencePsfModel.stamp(x, 300));
    assert.ok(peak(550) < 0.9 * peak(50), `difference PSF peaks ${peak(50)} → ${peak(550)}`);
  });

  test('kernels kept from one sub-image serve the next only when made from the same PSFs', async () => {
    const psf = new PairSciencePsf(varying.options);
    const cut = (x0: number, stamp: Float32Array): ZogyInput => {
      const w = 160;
      const pick = (a: Float32Array) => {
        const o = new Float32Array(w * w);
        for (let y = 0; y < w; y++) o.set(a.subarray((y + 200) * 600 + x0, (y + 200) * 600 + x0 + w), y * w);
        return o;
      };
      return {
        width: w,
        height: w,
        science: pick(varying.science),
        reference: pick(varying.reference),
        scienceVariance: pick(varying.scienceVariance),
        referenceVariance: pick(varying.referenceVariance),
        sciencePsf: taper(stamp),
        referencePsf: taper(varying.referencePsf),
        scienceSigma: varying.options.scienceSigma,
        referenceSigma: varying.options.referenceSigma,
        fluxRatio: varying.options.fluxRatio,
      };
    };
    const left = cut(20, psf.stamp(100, 280));
    const right = cut(420, psf.stamp(500, 280));
    const backend = serialBackend();
    const grid = { width: 320, height: 320 };
    const cache: ZogyCache = {};
    await zogy(left, backend, { grid, cache });
    const kept = cache.kernels;
    const afterLeft = await zogy(right, backend, { grid, cache });
    assert.notEqual(cache.kernels, kept, 'other PSFs, new kernels');
    const fresh = await zogy(right, backend, { grid });
    for (const key of PRODUCTS) assert.equal(compare(afterLeft[key], fresh[key]).max, 0, key);
    const rightKernels = cache.kernels;
    const again = await zogy({ ...right, sciencePsf: right.sciencePsf.slice() }, backend, { grid, cache });
    assert.equal(cache.kernels, rightKernels, 'the same PSFs (in another array), the same kernels');
    for (const key of PRODUCTS) assert.equal(compare(again[key], fresh[key]).max, 0, key);
  });

  test('with one PSF, tiles blend into the single-piece subtraction', async () => {
    const p = makePair({ size: 600, seed: 4, scienceFwhm: 2, referenceFwhm: 1.7, transients: 30 });
    const k = Math.round(Math.sqrt(p.sciencePsf.length));
    const input = { ...tiledInput(p, psfFromImage(p.sciencePsf, k, k)), overlap: 64 };
    const tiled = await zogyTiled(input);
    const whole = await zogy({
      ...input,
      sciencePsf: taper(p.sciencePsf),
      referencePsf: taper(p.referencePsf),
      mask: undefined,
    });
    // Away from the image edges (where a tile's padding and the whole image's coincide anyway).
    // Tiles cut the kernels' far wings, so the two agree to a fraction of σ, not exactly; a
    // misplaced or stale tile would be off by many σ.
    const interior = (i: number) => {
      const x = i % 600;
      const y = Math.floor(i / 600);
      return x >= 40 && x < 560 && y >= 40 && y < 560;
    };
    const scorr = compare(tiled.scoreCorr, whole.scoreCorr, interior);
    const diff = compare(tiled.difference, whole.difference, interior);
    assert.ok(scorr.sameNaN && diff.sameNaN);
    assert.ok(scorr.max < 0.15, `Scorr differs by ${scorr.max}`);
    assert.ok(diff.max < p.options.scienceSigma, `D differs by ${diff.max}`);
  });

  test('a bad PSF found in a worker is still bad input (exit 65)', async () => {
    const p = makePair({ size: 400, seed: 5, stars: 50 });
    const bad: PsfModel = {
      size: 25,
      stamp: () => new Float32Array(25 * 25).fill(Number.NaN),
      fwhm: () => 2,
    };
    await assert.rejects(zogyTiled(tiledInput(p, bad)), (e: unknown) => {
      assert.ok(e instanceof BadInputError, String(e));
      assert.match((e as Error).message, /non-finite/);
      return true;
    });
  });
});

describe('difference PSF in files', () => {
  // An undersampled science PSF (Moffat, FWHM 1.4 px) on a grid of step 1/3 px, and a kernel
  // with a negative ring, as ZOGY's K_n has.
  const step = 1 / 3;
  const side = 3 * 17;
  const alpha = 1.4 / (2 * Math.sqrt(2 ** (1 / 2.5) - 1));
  const grid = new Float32Array(side * side);
  const c = (side - 1) / 2;
  for (let j = 0; j < side; j++)
    for (let i = 0; i < side; i++)
      grid[j * side + i] = (1 + (((i - c) * step) ** 2 + ((j - c) * step) ** 2) / alpha ** 2) ** -2.5;
  const gsum = grid.reduce((a, b) => a + b, 0) * step * step;
  for (let i = 0; i < grid.length; i++) grid[i] /= gsum;
  const science = new GridPsf([grid], side, step, undefined, 17);
  const ks = 9;
  const kernel = new Float64Array(ks * ks);
  for (let j = 0; j < ks; j++)
    for (let i = 0; i < ks; i++) {
      const r2 = (i - 4) ** 2 + (j - 4) ** 2;
      kernel[j * ks + i] =
        (1.3 * Math.exp(-r2 / 0.72)) / (0.72 * Math.PI) - (0.3 * Math.exp(-r2 / 4.5)) / (4.5 * Math.PI);
    }
  const ksum = kernel.reduce((a, b) => a + b, 0);
  for (let i = 0; i < kernel.length; i++) kernel[i] /= ksum;
  const model = new DifferencePsf(science, kernel, 1);

  const peakDiff = (a: Float32Array, b: Float32Array) => {
    const sa = a.reduce((x, y) => x + y, 0);
    const sb = b.reduce((x, y) => x + y, 0);
    let max = 0;
    let peak = 0;
    for (let i = 0; i < a.length; i++) {
      max = Math.max(max, Math.abs(a[i] / sa - b[i] / sb));
      peak = Math.max(peak, a[i] / sa);
    }
    return max / peak;
  };

  test('the oversampled grid reproduces the model (K_n ⊗ P_n) at any sub-pixel phase', () => {
    const g = model.gridAt(100, 100)!;
    assert.ok(g, 'a grid science PSF gives a grid difference PSF');
    assert.equal(g.step, step);
    for (const [dx, dy] of [
      [0, 0],
      [0.5, 0.5],
      [-0.33, 0.21],
      [0.45, -0.1],
    ]) {
      const exact = model.convolvedStamp(100 + dx, 100 + dy);
      assert.ok(peakDiff(exact, g.stamp(100 + dx, 100 + dy)) < 1e-3, `grid at phase ${dx}, ${dy}`);
      // The model's own stamps (from that grid, for a constant science PSF) keep the flux too.
      const fast = model.stamp(100 + dx, 100 + dy);
      assert.ok(peakDiff(exact, fast) < 1e-3, `stamp at phase ${dx}, ${dy}`);
      const sum = (a: Float32Array) => a.reduce((p, q) => p + q, 0);
      assert.ok(Math.abs(sum(fast) / sum(exact) - 1) < 1e-3, `flux at phase ${dx}, ${dy}`);
    }
  });

  test('PSF photometry with the model read back from diffpsf.fits is unbiased at half-pixel phases', () => {
    const psf = psfFromFits(
      parseFits(encodeFits(psfHdus(model.gridAt(100, 100)!, new Header(), [100, 100]))),
    );
    const width = 60;
    for (const [x, y] of [
      [30, 30],
      [30.5, 29.5],
      [29.7, 30.4],
    ]) {
      const data = new Float32Array(width * width);
      const s = model.convolvedStamp(x, y);
      const h = (model.size - 1) / 2;
      for (let j = 0; j < model.size; j++)
        for (let i = 0; i < model.size; i++)
          data[(Math.round(y) + j - h) * width + Math.round(x) + i - h] = 1000 * s[j * model.size + i];
      const f = forcedPhotometry(
        { width, height: width, data, variance: new Float32Array(width * width).fill(1) },
        psf,
        x,
        y,
      );
      assert.ok(Math.abs(f.flux / 1000 - 1) < 0.005, `flux ${f.flux} at ${x}, ${y}`);
    }
  });
});
