import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readFits, readImage, writeFits } from '../src/fits/index.ts';
import { type CoaddFrame, coadd, combinePixel, tileGrid } from '../src/image/coadd.ts';
import { tileOf } from '../src/sky/tiles.ts';
import { BadInputError } from '../src/util/errors.ts';
import type { Wcs } from '../src/wcs/index.ts';
import {
  apertureFlux,
  cameraSip,
  D2R,
  renderStars,
  type Star,
  sipAsTpv,
  tanWcs,
} from './support/starfield.ts';
import { runSwarp } from './support/swarp.ts';
import { requireTool } from './support/tools.ts';

const CENTRE = { ra: 53.1, dec: -27.8 };
const SIZE = 256;
const FWHM = 0.4; // arcsec, well sampled at 0.11″/px
const SKY = 100;
const NOISE = 3;

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
}

function gaussian(rnd: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());
}

const rnd = lcg(17);
const STARS: Star[] = [];
for (let i = 0; i < 16; i++) {
  const gx = (i % 4) - 1.5;
  const gy = Math.floor(i / 4) - 1.5;
  STARS.push({
    ra: CENTRE.ra + (gx * 4.5 + (rnd() - 0.5)) / 3600 / Math.cos(CENTRE.dec * D2R),
    dec: CENTRE.dec + (gy * 4.5 + (rnd() - 0.5)) / 3600,
    flux: 20000 + 40000 * rnd(),
  });
}
// Between the stars (they sit on a 4.5″ lattice at ±2.25″, ±6.75″).
const TRANSIENT: Star = { ra: CENTRE.ra, dec: CENTRE.dec + 0.2 / 3600, flux: 20000 };

interface SimFrame {
  frame: CoaddFrame;
  wcs: Wcs;
  data: Float32Array;
  /** Counts per unit of the common zero point: data = truth × gain. */
  gain: number;
}

/** Five dithered, slightly rotated TAN-SIP frames; zero points differ; frame 2 has a cosmic ray and a transient. */
function frames(): SimFrame[] {
  const out: SimFrame[] = [];
  const noise = gaussian(lcg(5));
  for (let i = 0; i < 5; i++) {
    const wcs = tanWcs({
      ...CENTRE,
      crpix: [128.5 + 7.3 * i - 14, 128.5 - 5.1 * i + 10],
      scale: 0.11,
      rotation: 3 * i - 6,
      sip: cameraSip(),
    });
    const gain = [1, 1.25, 0.8, 1.1, 0.95][i];
    const stars = STARS.map((s) => ({ ...s, flux: s.flux * gain }));
    if (i === 2) stars.push({ ...TRANSIENT, flux: TRANSIENT.flux * gain });
    const data = renderStars(wcs, SIZE, SIZE, stars, FWHM, SKY * gain);
    for (let k = 0; k < data.length; k++) data[k] += NOISE * gain * noise();
    if (i === 2) {
      // A cosmic ray: a few hot pixels at a star-free place.
      const p = wcs.skyToPixel(CENTRE.ra - 4.5 / 3600 / Math.cos(CENTRE.dec * D2R), CENTRE.dec);
      const cx = Math.round(p.x);
      const cy = Math.round(p.y);
      for (const [dx, dy] of [
        [0, 0],
        [1, 0],
        [1, 1],
      ])
        data[(cy + dy) * SIZE + cx + dx] += 3000;
    }
    const zeroPoint = 25 + 2.5 * Math.log10(gain);
    out.push({
      gain,
      data,
      wcs,
      frame: {
        name: `frame${i}`,
        load: async () => ({ image: { width: SIZE, height: SIZE, data: data.slice() }, wcs, zeroPoint }),
      },
    });
  }
  return out;
}

const grid = () => {
  const wcs = tanWcs({ ...CENTRE, crpix: [150.5, 150.5], scale: 0.11 });
  return { wcs, width: 300, height: 300 };
};

test('combinePixel: clipped weighted mean rejects an outlier; median on request', () => {
  const v = Float64Array.from([10, 11, 9, 10.5, 500]);
  const w = Float64Array.from([1, 1, 1, 1, 1]);
  const c = combinePixel(v.slice(), w.slice(), 5, 'clipped-mean', 3, 0);
  assert.equal(c.used, 4);
  assert.ok(Math.abs(c.value - 10.125) < 1e-9);
  assert.ok(Math.abs(c.uncertainty - 0.5) < 1e-9);
  const m = combinePixel(v.slice(), w.slice(), 5, 'median');
  assert.equal(m.value, 10.5);
  const weighted = combinePixel(
    Float64Array.from([1, 2]),
    Float64Array.from([3, 1]),
    2,
    'clipped-mean',
    3,
    0,
  );
  assert.ok(Math.abs(weighted.value - 1.25) < 1e-12);
  assert.ok(Number.isNaN(combinePixel(v, w, 0, 'clipped-mean').value));
});

test('combinePixel: the median by selection equals the sorted median for 1 to 25 values, ties included; inputs untouched', () => {
  let s = 7;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  for (let trial = 0; trial < 500; trial++) {
    const n = 1 + (trial % 25);
    // Few distinct values on odd trials, so that ties are common.
    const v = Float64Array.from({ length: n }, () => (trial % 2 ? Math.floor(rnd() * 4) : rnd() * 100));
    const w = Float64Array.from({ length: n }, () => 0.5 + rnd());
    const before = v.slice();
    const sorted = [...v].sort((a, b) => a - b);
    const expected = n % 2 ? sorted[n >> 1] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    assert.equal(combinePixel(v, w, n, 'median').value, expected, `n ${n}: ${[...v]}`);
    assert.deepEqual(v, before);
  }
});

test('co-add of five dithered TAN-SIP frames: fluxes on the common zero point, cosmic ray and transient rejected, QA', async () => {
  const sims = frames();
  let loading = 0;
  let maxConcurrent = 0;
  const inputs = sims.map((s) => ({
    ...s.frame,
    load: async () => {
      loading++;
      maxConcurrent = Math.max(maxConcurrent, loading);
      const img = await s.frame.load();
      loading--;
      return img;
    },
  }));
  const g = grid();
  const result = await coadd(inputs, g, { background: { meshSize: 64 }, stripHeight: 37 });
  assert.equal(maxConcurrent, 1, 'one input at a time');
  assert.equal(result.qa.nInputs, 5);
  assert.equal(result.qa.zeroPoint, 25);
  for (const [i, f] of result.frames.entries()) assert.ok(Math.abs(f.scale * sims[i].gain - 1) < 1e-9);
  // Stars: flux on the common zero point (gain 1).
  const worst = Math.max(
    ...STARS.map((s) =>
      Math.abs(
        apertureFlux({ width: g.width, height: g.height, data: result.image }, g.wcs, s.ra, s.dec, 10) /
          s.flux -
          1,
      ),
    ),
  );
  console.error(`# co-add: worst star flux error ${worst.toExponential(2)}; QA ${JSON.stringify(result.qa)}`);
  assert.ok(worst < 0.01, `star flux off by ${worst}`);
  // The transient (one frame of five) is gone: its aperture holds no more than noise.
  const t = apertureFlux(
    { width: g.width, height: g.height, data: result.image },
    g.wcs,
    TRANSIENT.ra,
    TRANSIENT.dec,
    6,
  );
  assert.ok(Math.abs(t) < 0.02 * TRANSIENT.flux, `transient left ${t}`);
  // The cosmic ray too, and the coverage there is 4.
  const cr = g.wcs.skyToPixel(CENTRE.ra - 4.5 / 3600 / Math.cos(CENTRE.dec * D2R), CENTRE.dec);
  const k = Math.round(cr.y) * g.width + Math.round(cr.x);
  assert.ok(Math.abs(result.image[k]) < 5 * NOISE, `cosmic ray left ${result.image[k]}`);
  assert.equal(result.coverage[k], 4);
  assert.ok(result.qa.rejectedValues > 10);
  // Coverage, uncertainty and QA.
  const free = g.wcs.skyToPixel(CENTRE.ra + 4.5 / 3600 / Math.cos(CENTRE.dec * D2R), CENTRE.dec - 4.5 / 3600);
  const c = Math.round(free.y) * g.width + Math.round(free.x);
  assert.equal(result.coverage[c], 5);
  assert.ok(result.uncertainty[c] > 0.5 && result.uncertainty[c] < 3, `uncertainty ${result.uncertainty[c]}`);
  assert.ok(Number.isNaN(result.image[0]) && result.coverage[0] === 0);
  assert.ok(result.qa.cov5percent > 30 && result.qa.cov5percent < 100);
  assert.ok(Math.abs(result.qa.fwhmArcsec - FWHM) < 0.08, `FWHM ${result.qa.fwhmArcsec}`);
  assert.ok(result.qa.backgroundRms > 0.5 && result.qa.backgroundRms < NOISE);
  // Median combination on request: the same fluxes within noise.
  const med = await coadd(inputs, g, { combine: 'median', background: { meshSize: 64 } });
  const s0 = STARS[5];
  const fm = apertureFlux({ width: g.width, height: g.height, data: med.image }, g.wcs, s0.ra, s0.dec, 10);
  assert.ok(Math.abs(fm / s0.flux - 1) < 0.03, `median flux ${fm / s0.flux}`);
});

test('photometric scales from matched stars when asked', async () => {
  const sims = frames();
  // Wrong zero points in the headers: the stars must win.
  const inputs = sims.map((s) => ({
    ...s.frame,
    load: async () => ({ ...(await s.frame.load()), zeroPoint: 25 }),
  }));
  const result = await coadd(inputs, grid(), { photometry: 'stars', background: { meshSize: 64 } });
  result.frames.forEach((f, i) => {
    assert.ok(
      Math.abs(f.scale * sims[i].gain - 1) < 0.01,
      `frame ${i}: scale ${f.scale} for gain ${sims[i].gain}`,
    );
    assert.ok((f.matchedStars ?? 0) >= 10);
  });
});

test('default tile grid and bad inputs', async () => {
  const tile = tileOf(CENTRE.ra, CENTRE.dec, 512);
  const g = tileGrid(tile, 512);
  assert.ok(g.width > 7700 && g.width < 8000, `tile grid ${g.width}`);
  assert.ok(Math.abs(g.wcs.pixelScale() - 0.11) < 1e-6);
  const far = frames()[0].frame;
  const wcs = tanWcs({ ra: CENTRE.ra + 2, dec: CENTRE.dec, crpix: [128.5, 128.5], scale: 0.11 });
  const away = { ...far, load: async () => ({ ...(await far.load()), wcs }) };
  await assert.rejects(coadd([away], grid()), BadInputError);
  await assert.rejects(coadd([], grid()), BadInputError);
});

test('cross-check with SWarp weighted co-add: star fluxes within 1%', async (t) => {
  if (!requireTool(t, 'SWarp')) return;
  const sims = frames();
  const g = grid();
  const dir = mkdtempSync(join(tmpdir(), 'rapid-coadd-'));
  try {
    const paths: string[] = [];
    for (const [i, s] of sims.entries()) {
      const header = sipAsTpv(s.wcs, SIZE, SIZE).toHeader();
      header.set('FLXSCALE', 1 / s.gain, 'to the common zero point');
      const path = join(dir, `in${i}.fits`);
      await writeFits(path, [{ data: s.data, shape: [SIZE, SIZE], header }]);
      paths.push(path);
    }
    const run = runSwarp(paths, dir, g.wcs.toHeader(), g.width, g.height, {
      COMBINE_TYPE: 'WEIGHTED',
      WEIGHT_TYPE: 'BACKGROUND',
      SUBTRACT_BACK: 'Y',
      BACK_SIZE: '64',
      FSCALE_KEYWORD: 'FLXSCALE',
    });
    const ref = readImage((await readFits(run.image)).firstImage());
    const refData = Float32Array.from(ref.data as ArrayLike<number>);
    const ours = await coadd(
      sims.map((s) => s.frame),
      g,
      { background: { meshSize: 64 } },
    );
    const ratios = STARS.map(
      (s) =>
        apertureFlux({ width: g.width, height: g.height, data: ours.image }, g.wcs, s.ra, s.dec, 10) /
        apertureFlux({ width: g.width, height: g.height, data: refData }, g.wcs, s.ra, s.dec, 10),
    );
    const worst = Math.max(...ratios.map((r) => Math.abs(r - 1)));
    console.error(
      `# vs SWarp co-add: worst star flux ratio error ${worst.toExponential(2)} over ${ratios.length} stars`,
    );
    assert.ok(worst < 0.01, `star fluxes differ from SWarp's by up to ${worst}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
