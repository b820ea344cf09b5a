/**
 * PSFs of any size and normalisation (issue 16): big stamps, sums ≠ 1, negative wings and
 * WebbPSF's oversampled files are read to models whose stamps are cut to the light they hold,
 * so that star fits and PSF photometry cost and measure the same as with a 25-px stamp; and a
 * given PSF is checked against the image's own stars.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeFits, type HduInput, Header, parseFits } from '../src/fits/index.ts';
import type { Image } from '../src/image/image.ts';
import {
  comparePsfWithStars,
  DEFAULT_PSF_ENERGY,
  effectiveSize,
  type GridPsf,
  measureStars,
  modelFwhm,
  type PsfModel,
  psfFromFits,
  psfFromImage,
  psfHdus,
} from '../src/image/psf/index.ts';
import {
  centralStamp,
  drawPoint,
  effectiveFwhm,
  moffatAlpha,
  type PsfProfile,
  phaseStamps,
  SimulatedPsf,
} from '../src/sim/psf.ts';
import { Random } from '../src/sim/random.ts';

const TRUTH: PsfProfile = { kind: 'moffat', fwhm: 3, beta: 2.5 };
const TRUE_FWHM = effectiveFwhm(TRUTH);

/**
 * The profile integrated over square cells of `cell` px (sub × sub midpoint samples each) on a
 * side × side image centred on the PSF: cell 1 is the pixel-integrated PSF, cell 1/N the optical
 * PSF oversampled N times as WebbPSF writes it (each sub-pixel's flux). Scaled to sum to `sum`.
 */
function moffatImage(side: number, cell: number, sum: number, profile = TRUTH, sub = 6): Float64Array {
  if (profile.kind !== 'moffat') throw new Error('Moffat only');
  const a2 = moffatAlpha(profile.fwhm, profile.beta) ** 2;
  const c = (side - 1) / 2;
  const out = new Float64Array(side * side);
  let total = 0;
  for (let j = 0; j < side; j++) {
    for (let i = 0; i < side; i++) {
      let acc = 0;
      for (let v = 0; v < sub; v++) {
        const y = (j - c + (v + 0.5) / sub - 0.5) * cell;
        for (let u = 0; u < sub; u++) {
          const x = (i - c + (u + 0.5) / sub - 0.5) * cell;
          acc += (1 + (x * x + y * y) / a2) ** -profile.beta;
        }
      }
      out[j * side + i] = acc;
      total += acc;
    }
  }
  for (let k = 0; k < out.length; k++) out[k] *= sum / total;
  return out;
}

/** The central n × n of a side × side image. */
function centre(data: Float64Array, side: number, n: number): Float64Array {
  const k = (side - n) / 2;
  const out = new Float64Array(n * n);
  for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) out[j * n + i] = data[(j + k) * side + i + k];
  return out;
}

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

/** A FITS file of images, read back as a file would be. */
function fitsOf(hdus: HduInput[]) {
  return parseFits(encodeFits(hdus));
}

function header(cards: Record<string, number | string>): Header {
  const h = new Header();
  for (const [k, v] of Object.entries(cards)) h.set(k, v);
  return h;
}

/** A star field drawn with the true PSF: background 100, σ 5, Poisson noise at gain 1. */
function starField(profile: PsfProfile, seed = 3): Image {
  const n = 512;
  const model = new Float32Array(n * n);
  const stamps = phaseStamps(profile, 40);
  const r = new Random(seed, 'psf-io');
  for (let k = 0; k < 120; k++) {
    const x = r.range(30, n - 30);
    const y = r.range(30, n - 30);
    drawPoint(model, n, n, stamps, x, y, 2e4 * 10 ** r.uniform());
  }
  const data = new Float32Array(n * n);
  for (let i = 0; i < n * n; i++) data[i] = 100 + model[i] + Math.sqrt(25 + model[i]) * r.normal();
  return { width: n, height: n, data };
}

/** Fluxes of the stars both fits found, matched by position. */
function matchedFluxRatios(a: ReturnType<typeof measureStars>, b: ReturnType<typeof measureStars>): number[] {
  const out: number[] = [];
  for (const s of a) {
    const t = b.find((o) => Math.hypot(o.x - s.x, o.y - s.y) < 0.2);
    if (t) out.push(s.flux / t.flux);
  }
  return out;
}

const median = (v: number[]) => [...v].sort((p, q) => p - q)[v.length >> 1];

describe('PSFs of any size', () => {
  const big = moffatImage(301, 1, 7.3);
  // WebbPSF's layout: the optical PSF oversampled ×4 in the primary HDU (an even side), the
  // same binned to detector pixels in DET_SAMP.
  const over = moffatImage(4 * 301, 1 / 4, 7.3, TRUTH, 2);
  const detSampled = moffatImage(301, 1, 7.3);
  const webbpsf = fitsOf([
    {
      data: Float32Array.from(over),
      shape: [4 * 301, 4 * 301],
      header: header({ OVERSAMP: 4, DET_SAMP: 4 }),
      name: 'OVERSAMP',
    },
    {
      data: Float32Array.from(detSampled),
      shape: [301, 301],
      header: header({ OVERSAMP: 1, CALCSAMP: 4 }),
      name: 'DET_SAMP',
    },
  ]);
  const fromImage = psfFromImage(big, 301, 301);
  const fromWebbpsf = psfFromFits(webbpsf);
  const small = psfFromImage(centre(big, 301, 25), 25, 25);

  test('a 301-px stamp summing to 7.3: the right FWHM, unit sum, stamps cut to the light they hold', () => {
    for (const [name, psf] of [
      ['301 px', fromImage],
      ['WebbPSF ×4', fromWebbpsf],
    ] as const) {
      assert.ok(
        Math.abs(psf.fwhm() / TRUE_FWHM - 1) < 0.02,
        `${name}: FWHM ${psf.fwhm().toFixed(3)}, truth ${TRUE_FWHM.toFixed(3)}`,
      );
      for (const [x, y] of [
        [100, 100],
        [50.3, 70.8],
      ]) {
        assert.ok(Math.abs(sum(psf.stamp(x, y)) - 1) < 1e-5, `${name}: stamp sum at ${x}, ${y}`);
      }
      assert.ok(psf.size <= 41 && psf.size >= 25, `${name}: effective size ${psf.size}`);
      assert.ok((psf.enclosed ?? 0) >= DEFAULT_PSF_ENERGY, `${name}: enclosed ${psf.enclosed}`);
      // The grid keeps only what the stamps use.
      assert.ok(psf.side * psf.step < psf.size + 8, `${name}: grid of ${psf.side} nodes`);
    }
    assert.equal(fromWebbpsf.step, 0.25, 'the oversampled image is preferred to DET_SAMP');
    // The stamp holds the stated share of the image's own light.
    const box = sum(centre(big, 301, fromImage.size));
    assert.ok(box / 7.3 >= DEFAULT_PSF_ENERGY, `box holds ${box / 7.3}`);
    console.log(
      `# 301 px: size ${fromImage.size}, enclosed ${fromImage.enclosed?.toFixed(4)}, FWHM ${fromImage.fwhm().toFixed(3)}; WebbPSF ×4: size ${fromWebbpsf.size}, enclosed ${fromWebbpsf.enclosed?.toFixed(4)}, FWHM ${fromWebbpsf.fwhm().toFixed(3)}; truth ${TRUE_FWHM.toFixed(3)}`,
    );
  });

  test('oversampled optical samples are integrated over a pixel; detector-sampled HDUs are read at step 1', () => {
    // Without the pixel integration the ×4 model would be the optical PSF, about 5% narrower.
    const optical = psfFromImage(over, 4 * 301, 4 * 301, 0.25);
    assert.ok(optical.fwhm() < 0.97 * TRUE_FWHM, `optical FWHM ${optical.fwhm()}`);
    const det = psfFromFits(
      fitsOf([
        { data: [], shape: [], header: header({ OVERSAMP: 4 }) },
        {
          data: Float32Array.from(detSampled),
          shape: [301, 301],
          header: header({ OVERSAMP: 1 }),
          name: 'DET_SAMP',
        },
      ]),
    );
    assert.equal(det.step, 1);
    assert.equal(psfFromFits(webbpsf, { hdu: 'DET_SAMP' }).step, 1, 'an HDU asked for is read');
    assert.ok(Math.abs(det.fwhm() / TRUE_FWHM - 1) < 0.02, `DET_SAMP FWHM ${det.fwhm()}`);
  });

  test('negative wings and the energy option: the stamp grows with the share asked for, and holds it', () => {
    // An over-subtracted background far out: −0.2% of the light in a negative pedestal.
    const wings = Float64Array.from(big);
    const c = 150;
    let n = 0;
    for (let j = 0; j < 301; j++) for (let i = 0; i < 301; i++) if (Math.hypot(i - c, j - c) > 60) n++;
    for (let j = 0; j < 301; j++)
      for (let i = 0; i < 301; i++)
        if (Math.hypot(i - c, j - c) > 60) wings[j * 301 + i] -= (0.002 * 7.3) / n;
    const total = sum(wings);
    let last = 0;
    for (const energy of [0.99, 0.995, 0.999]) {
      const psf = psfFromImage(wings, 301, 301, 1, { energy, minSize: 5, maxFwhm: Number.POSITIVE_INFINITY });
      assert.ok(psf.size >= last, `size ${psf.size} for ${energy}`);
      last = psf.size;
      const box = sum(centre(wings, 301, psf.size));
      assert.ok(Math.abs(total - box) <= (1 - energy) * total + 1e-9, `${energy}: box holds ${box / total}`);
      assert.ok(Math.abs(sum(psf.stamp(10.4, 20.6)) - 1) < 1e-5);
    }
    // Never below 3 FWHM, whatever the share; and a given size wins.
    assert.ok(
      psfFromImage(wings, 301, 301, 1, { energy: 0.5, minSize: 1 }).size >= 2 * Math.ceil(3 * TRUE_FWHM) + 1,
    );
    assert.equal(psfFromImage(wings, 301, 301, 1, 51).size, 51);
    assert.throws(() => psfFromImage(wings, 301, 301, 1, 50), /odd/);
  });

  test('a diffraction-limited PSF: its stamp follows the FWHM (≤ 10 FWHM), and says what it holds', () => {
    // An obscured Airy pattern holds its last 0.5% of light some 40 FWHM out.
    const airy: PsfProfile = { kind: 'airy', fwhm: 2, obscuration: 0.3 };
    const data = centralStamp(phaseStamps(airy, 102));
    const total = sum(data);
    const psf = psfFromImage(data, 205, 205);
    const cap = 2 * Math.ceil(10 * psf.fwhm()) + 1;
    assert.ok(psf.size <= cap && psf.size >= 25, `size ${psf.size}, cap ${cap}`);
    const held = sum(centre(Float64Array.from(data), 205, psf.size)) / total;
    assert.ok(Math.abs((psf.enclosed ?? 1) - held) < 1e-3, `enclosed ${psf.enclosed}, box ${held}`);
    assert.ok(held > 0.97 && held < DEFAULT_PSF_ENERGY, `box holds ${held}`);
    // Without the cap, the energy rules.
    const strict = psfFromImage(data, 205, 205, 1, { maxFwhm: Number.POSITIVE_INFINITY });
    const strictHeld = sum(centre(Float64Array.from(data), 205, strict.size)) / total;
    assert.ok(strictHeld >= DEFAULT_PSF_ENERGY, `strict: size ${strict.size} holds ${strictHeld}`);
    console.log(
      `# Airy FWHM ${psf.fwhm().toFixed(2)} px in 205 px: stamp ${psf.size} holding ${held.toFixed(4)}; for 99.5%: ${strict.size}`,
    );
  });

  test('a big PSFEx model (PSF_DATA) is cut the same way; our own files keep their stamp', () => {
    const whole = psfFromImage(big, 301, 301, 1, { keepGrid: true });
    assert.equal(whole.side, 301);
    const hdus = psfHdus(whole);
    // PSFEx's own files do not state a stamp.
    const table = hdus[1].header as Header;
    assert.equal(table.number('PSFSTAMP'), whole.size);
    table.delete('PSFSTAMP');
    table.delete('PSFENCL');
    const back = psfFromFits(fitsOf(hdus));
    assert.equal(back.size, fromImage.size);
    assert.ok(back.side < 301, `grid of ${back.side} nodes`);
    const e = effectiveSize(whole);
    assert.equal(e.size, fromImage.size);
    const a = back.stamp(40.3, 60.7);
    const b = fromImage.stamp(40.3, 60.7);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    assert.ok(worst < 1e-6, `stamps differ by ${worst}`);
    // A cut model written and read again keeps its stamp and what it holds.
    const again = psfFromFits(fitsOf(psfHdus(fromImage)));
    assert.equal(again.size, fromImage.size);
    assert.equal(again.side, fromImage.side);
    assert.ok(Math.abs((again.enclosed ?? 0) - (fromImage.enclosed ?? 1)) < 1e-6);
  });

  test('PSF fluxes with the big stamps equal those with a 25-px stamp within 0.5%, at the same cost', () => {
    const image = starField(TRUTH);
    let t = performance.now();
    const ref = measureStars(image, small, { gain: 1 });
    const tSmall = performance.now() - t;
    assert.ok(ref.length > 50, `${ref.length} stars`);
    for (const [name, psf] of [
      ['301 px', fromImage],
      ['WebbPSF ×4', fromWebbpsf],
    ] as [string, GridPsf][]) {
      t = performance.now();
      const stars = measureStars(image, psf, { gain: 1 });
      const tBig = performance.now() - t;
      const ratios = matchedFluxRatios(stars, ref);
      assert.ok(ratios.length > 0.9 * ref.length, `${name}: ${ratios.length} of ${ref.length} matched`);
      const m = median(ratios);
      const worst = Math.max(...ratios.map((r) => Math.abs(r - 1)));
      console.log(
        `# ${name}: ${ratios.length} stars, flux ratio to 25 px: median ${m.toFixed(4)}, worst ${worst.toFixed(4)}; ${tBig.toFixed(0)} ms against ${tSmall.toFixed(0)} ms`,
      );
      assert.ok(Math.abs(m - 1) < 0.005, `${name}: median flux ratio ${m}`);
      assert.ok(worst < 0.01, `${name}: worst flux ratio ${worst}`);
    }
  });
});

describe('a given PSF against the image’s stars', () => {
  const image = starField(TRUTH, 5);
  const right = psfFromImage(moffatImage(101, 1, 1), 101, 101);
  const broad = psfFromImage(
    moffatImage(101, 1, 1, { kind: 'moffat', fwhm: 1.5 * TRUTH.fwhm, beta: 2.5 }),
    101,
    101,
  );

  test('the right PSF passes, a 1.5× too broad one is flagged', () => {
    const ok = comparePsfWithStars(right, image, { gain: 1 });
    console.log(
      `# right: model ${ok.fwhmModel.toFixed(3)}, stars ${ok.fwhmStars.toFixed(3)} (${ok.nStars}), ratio ${ok.ratio.toFixed(3)}`,
    );
    assert.ok(ok.consistent, ok.message);
    assert.ok(Math.abs(ok.ratio - 1) < 0.05, `ratio ${ok.ratio}`);
    assert.ok(ok.nStars >= 10);
    const bad = comparePsfWithStars(broad, image, { gain: 1 });
    console.log(`# 1.5× broad: model ${bad.fwhmModel.toFixed(3)}, ratio ${bad.ratio.toFixed(3)}`);
    assert.equal(bad.consistent, false);
    assert.ok(bad.ratio > 1.35 && bad.ratio < 1.6, `ratio ${bad.ratio}`);
    assert.match(bad.message ?? '', /FWHM/);
    // An estimate already made is used as it is.
    const again = comparePsfWithStars(broad, image, {
      estimate: {
        psf: right,
        stars: [],
        rejected: 0,
        oversample: 1,
      },
    });
    assert.equal(again.fwhmStars, right.fwhm());
  });

  test('any PsfModel is measured like a grid; without stars there is no verdict', () => {
    const sim: PsfModel = new SimulatedPsf(TRUTH, 31);
    assert.ok(Math.abs(modelFwhm(sim, 100, 100) / TRUE_FWHM - 1) < 0.02, `FWHM ${modelFwhm(sim, 100, 100)}`);
    const r0 = new Random(8, 'empty');
    const empty: Image = {
      width: 256,
      height: 256,
      data: Float32Array.from({ length: 256 * 256 }, () => 100 + 5 * r0.normal()),
    };
    const r = comparePsfWithStars(right, empty);
    assert.equal(r.consistent, true);
    assert.ok(Number.isNaN(r.ratio));
    assert.match(r.message ?? '', /could not be checked/);
  });
});
