import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readFits, readImage, writeFits } from '../src/fits/index.ts';
import { MaskBit } from '../src/image/image.ts';
import { resample } from '../src/image/resample.ts';
import { cleanBlocks } from '../src/image/resample-kernel.ts';
import { BadInputError } from '../src/util/errors.ts';
import { Wcs } from '../src/wcs/index.ts';
import { TEST_DATA } from './support/cli.ts';
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

const DECAM = join(TEST_DATA, 'real/decam-sfft/input_data');
async function writeImage(
  path: string,
  data: Float32Array | Float64Array,
  width: number,
  height: number,
  wcs: Wcs,
): Promise<void> {
  await writeFits(path, [{ data, shape: [width, height], header: wcs.toHeader() }]);
}

async function readPlane(
  path: string,
): Promise<{ width: number; height: number; data: Float32Array; wcs: Wcs }> {
  const hdu = (await readFits(path)).firstImage();
  const img = readImage(hdu);
  return {
    width: img.width,
    height: img.height,
    data: Float32Array.from(img.data as ArrayLike<number>),
    wcs: Wcs.fromHeader(hdu.header),
  };
}

/** rms of (a − b) over pixels with both finite and a margin from the edges, relative to the rms of b there. */
function interiorRms(
  a: Float32Array,
  b: Float32Array,
  width: number,
  height: number,
  margin: number,
  ok?: (k: number) => boolean,
) {
  let d2 = 0;
  let v2 = 0;
  let n = 0;
  let mean = 0;
  for (let y = margin; y < height - margin; y++) {
    for (let x = margin; x < width - margin; x++) {
      const k = y * width + x;
      if (!Number.isFinite(a[k]) || !Number.isFinite(b[k]) || (ok && !ok(k))) continue;
      d2 += (a[k] - b[k]) ** 2;
      v2 += b[k] ** 2;
      mean += b[k];
      n++;
    }
  }
  mean /= n;
  let s2 = 0;
  for (let y = margin; y < height - margin; y++) {
    for (let x = margin; x < width - margin; x++) {
      const k = y * width + x;
      if (!Number.isFinite(a[k]) || !Number.isFinite(b[k]) || (ok && !ok(k))) continue;
      s2 += (b[k] - mean) ** 2;
    }
  }
  return { relative: Math.sqrt(d2 / v2), ofSpread: Math.sqrt(d2 / s2), pixels: n };
}

const CENTRE = { ra: 150.1, dec: 2.2 };
const SIZE = 256;
function starField(n: number, seed = 3): Star[] {
  let s = seed;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const stars: Star[] = [];
  // A jittered 4×3 lattice 5″ apart within the central 20″: every star on both grids, none blended.
  for (let i = 0; i < n; i++) {
    const gx = (i % 4) - 1.5;
    const gy = Math.floor(i / 4) - 1;
    stars.push({
      ra: CENTRE.ra + (gx * 5 + (rnd() - 0.5) * 2) / 3600 / Math.cos(CENTRE.dec * D2R),
      dec: CENTRE.dec + (gy * 5 + (rnd() - 0.5) * 2) / 3600,
      flux: 2000 + 20000 * rnd(),
    });
  }
  return stars;
}

// Source: TAN-SIP at 0.11″/px; target: TAN rotated 30°, 0.1″/px, shifted by a fraction of a pixel.
const sourceWcs = tanWcs({ ...CENTRE, crpix: [128.5, 128.5], scale: 0.11, sip: cameraSip() });
const targetWcs = tanWcs({ ...CENTRE, crpix: [140.3, 121.7], scale: 0.1, rotation: 30 });
const FWHM = 0.4; // arcsec: ≈ 3.6 px, well sampled
const STARS = starField(12);

test('resampling onto its own grid returns the image (every kernel), with full coverage inside', async () => {
  const data = renderStars(sourceWcs, SIZE, SIZE, STARS, FWHM, 10);
  for (const kernel of ['nearest', 'bilinear', 'lanczos3'] as const) {
    const out = await resample({ width: SIZE, height: SIZE, data }, sourceWcs, sourceWcs, SIZE, SIZE, {
      kernel,
    });
    let worst = 0;
    for (let k = 0; k < data.length; k++) worst = Math.max(worst, Math.abs(out.data[k] - data[k]));
    assert.ok(worst < 1e-3, `${kernel}: ${worst}`);
    assert.equal(out.coverage[128 * SIZE + 128], 1);
    assert.equal(out.validPixels, SIZE * SIZE);
  }
});

test('TAN-SIP star field onto a rotated, rescaled TAN grid: matches the field drawn on that grid; fluxes conserved', async () => {
  const data = renderStars(sourceWcs, SIZE, SIZE, STARS, FWHM);
  const truth = renderStars(targetWcs, SIZE, SIZE, STARS, FWHM);
  for (const kernel of ['lanczos3', 'bilinear'] as const) {
    const out = await resample({ width: SIZE, height: SIZE, data }, sourceWcs, targetWcs, SIZE, SIZE, {
      kernel,
    });
    const worstFlux = Math.max(
      ...STARS.map((s) => {
        const ours = apertureFlux(out, targetWcs, s.ra, s.dec, 12);
        const src = apertureFlux(
          { width: SIZE, height: SIZE, data },
          sourceWcs,
          s.ra,
          s.dec,
          12 * (0.1 / 0.11),
        );
        return Math.abs(ours / src - 1);
      }),
    );
    const r = interiorRms(out.data, truth, SIZE, SIZE, 20);
    console.error(
      `# ${kernel} vs truth: rms diff / rms value ${r.relative.toExponential(2)}; worst star flux error ${worstFlux.toExponential(2)}`,
    );
    assert.ok(worstFlux < 2e-3, `${kernel} flux ${worstFlux}`);
    assert.ok(r.relative < (kernel === 'lanczos3' ? 0.01 : 0.1), `${kernel} rms ${r.relative}`);
  }
});

test('variance, NaN and mask propagate; coverage falls at the edges; no overlap is bad input', async () => {
  const data = new Float32Array(SIZE * SIZE).fill(100);
  const variance = new Float32Array(SIZE * SIZE).fill(4);
  const mask = new Uint8Array(SIZE * SIZE);
  data[100 * SIZE + 100] = Number.NaN;
  mask[150 * SIZE + 60] = MaskBit.COSMIC_RAY;
  const shifted = tanWcs({ ...CENTRE, crpix: [128.5 - 10.25, 128.5 + 20.5], scale: 0.11, sip: cameraSip() });
  const out = await resample(
    { width: SIZE, height: SIZE, data, variance, mask },
    sourceWcs,
    shifted,
    SIZE,
    SIZE,
    { maskBits: 0 },
  );
  // Without distortion differences the shift is (−10.25, +20.5): source (100, 100) lands near (89.75, 120.5).
  const at = (x: number, y: number) => y * SIZE + x;
  const p = shifted.skyToPixel(sourceWcs.pixelToSky(100, 100).ra, sourceWcs.pixelToSky(100, 100).dec);
  assert.ok(Number.isNaN(out.data[at(Math.round(p.x), Math.round(p.y))]));
  assert.ok(out.mask[at(Math.round(p.x), Math.round(p.y))] & MaskBit.NO_DATA);
  const q = shifted.skyToPixel(sourceWcs.pixelToSky(60, 150).ra, sourceWcs.pixelToSky(60, 150).dec);
  assert.ok(out.mask[at(Math.round(q.x), Math.round(q.y))] & MaskBit.COSMIC_RAY);
  assert.ok(
    Math.abs(out.data[at(Math.round(q.x), Math.round(q.y))] - 100) < 0.5,
    'masked bit kept, value used (maskBits 0)',
  );
  // Flat 100 with the same pixel scale stays 100 (the pixel-area ratio is 1); variance shrinks by Σw²/(Σw)².
  assert.ok(Math.abs(out.data[at(40, 40)] - 100) < 0.05);
  assert.ok(out.variance![at(40, 40)] > 0.5 && out.variance![at(40, 40)] < 4);
  // The target's bottom rows lie beyond the source edge.
  assert.equal(out.coverage[at(128, 3)], 0);
  assert.ok(Number.isNaN(out.data[at(128, 3)]));
  assert.equal(out.coverage[at(128, 128)], 1);
  // A masked pixel is left out when its bit is selected.
  const strict = await resample({ width: SIZE, height: SIZE, data, mask }, sourceWcs, shifted, SIZE, SIZE);
  assert.ok(Number.isNaN(strict.data[at(Math.round(q.x), Math.round(q.y))]));
  const far = tanWcs({ ra: CENTRE.ra + 1, dec: CENTRE.dec, crpix: [128.5, 128.5], scale: 0.11 });
  await assert.rejects(
    resample({ width: SIZE, height: SIZE, data }, sourceWcs, far, SIZE, SIZE),
    BadInputError,
  );
});

test('clean kernel footprints: cleanBlocks against a brute-force scan; a mask changes only the pixels whose footprint it touches', async () => {
  const w = 37;
  const h = 29;
  const mask = new Uint8Array(w * h);
  for (let k = 0; k < 40; k++)
    mask[(k * 97 + 13) % mask.length] = k % 3 === 0 ? MaskBit.COSMIC_RAY : MaskBit.SATURATED;
  for (const taps of [1, 2, 6]) {
    const clean = cleanBlocks(mask, w, h, taps, MaskBit.SATURATED);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let ok = x + taps <= w && y + taps <= h;
        for (let b = 0; ok && b < taps; b++)
          for (let a = 0; a < taps; a++) if (mask[(y + b) * w + x + a] & MaskBit.SATURATED) ok = false;
        assert.equal(clean[y * w + x] >= taps, ok, `taps ${taps} at (${x}, ${y})`);
      }
    }
  }
  // The same star field resampled without a mask and with a sparse one: pixels whose 6×6
  // footprint avoids the masked pixels are identical (the mask-aware fast path).
  const data = renderStars(sourceWcs, SIZE, SIZE, STARS, FWHM, 10);
  const sparse = new Uint8Array(SIZE * SIZE);
  for (let k = 0; k < 30; k++) sparse[(k * 2203) % sparse.length] = MaskBit.SATURATED;
  const target = tanWcs({ ...CENTRE, crpix: [128.5 - 3.3, 128.5 + 2.6], scale: 0.11, rotation: 17 });
  const plain = await resample({ width: SIZE, height: SIZE, data }, sourceWcs, target, SIZE, SIZE);
  const masked = await resample(
    { width: SIZE, height: SIZE, data, mask: sparse },
    sourceWcs,
    target,
    SIZE,
    SIZE,
  );
  let same = 0;
  let changed = 0;
  for (let k = 0; k < plain.data.length; k++) {
    if (!(plain.coverage[k] === 1)) continue;
    if (masked.data[k] === plain.data[k] && masked.mask[k] === 0) same++;
    else changed++;
  }
  // Each masked pixel sits in the 6×6 footprints of 36 output pixels or so (a few more on a rotated grid).
  assert.ok(changed > 0 && changed <= 30 * 40, `${changed} pixels changed by 30 masked pixels`);
  assert.ok(same > 50000, `${same} pixels unchanged`);
});

test('cross-check with SWarp (LANCZOS3, BILINEAR): DECam TPV frame onto a shifted, rotated grid; TAN-SIP star field', async (t) => {
  if (!requireTool(t, 'SWarp')) return;
  const dir = mkdtempSync(join(tmpdir(), 'rapid-resample-'));
  try {
    // 1. A real DECam frame (TPV) onto a TAN grid rotated by 20°, shifted by (7.3, −4.6) px.
    const frame = await readPlane(join(DECAM, 'DEC-OBS04a.mini.fits'));
    const c = frame.wcs.pixelToSky(127.5, 127.5);
    const decamTarget = tanWcs({
      ra: c.ra,
      dec: c.dec,
      crpix: [128.5 + 7.3, 128.5 - 4.6],
      scale: 0.262,
      rotation: 20,
    });
    const decamPath = join(dir, 'decam.fits');
    await writeImage(decamPath, frame.data, frame.width, frame.height, frame.wcs);
    // 2. The TAN-SIP star field, written for SWarp with its exact TPV equivalent.
    const sim = renderStars(sourceWcs, SIZE, SIZE, STARS, FWHM, 50);
    const tpv = sipAsTpv(sourceWcs, SIZE, SIZE);
    for (const [x, y] of [
      [0, 0],
      [255, 0],
      [128, 200],
    ]) {
      const a = sourceWcs.pixelToSky(x, y);
      const b = tpv.skyToPixel(a.ra, a.dec);
      assert.ok(
        Math.hypot(b.x - x, b.y - y) < 1e-4,
        `TPV equivalent off by ${Math.hypot(b.x - x, b.y - y)} px`,
      );
    }
    const simPath = join(dir, 'sim.fits');
    await writeImage(simPath, sim, SIZE, SIZE, tpv);

    const cases = [
      { name: 'DECam', path: decamPath, img: frame, src: frame.wcs, target: decamTarget, sky: 0 },
      {
        name: 'TAN-SIP sim',
        path: simPath,
        img: { width: SIZE, height: SIZE, data: sim },
        src: sourceWcs,
        target: targetWcs,
        sky: 50,
      },
    ];
    for (const cs of cases) {
      for (const [kernel, swarpKernel] of [
        ['lanczos3', 'LANCZOS3'],
        ['bilinear', 'BILINEAR'],
      ] as const) {
        const run = runSwarp([cs.path], dir, cs.target.toHeader(), SIZE, SIZE, {
          RESAMPLING_TYPE: swarpKernel,
        });
        const ref = await readPlane(run.image);
        const weight = await readPlane(run.weight);
        const ours = await resample(cs.img, cs.src, cs.target, SIZE, SIZE, { kernel });
        // Interior: fully covered by both (SWarp's weight positive, ours coverage 1).
        const r = interiorRms(
          ours.data,
          ref.data,
          SIZE,
          SIZE,
          8,
          (k) => weight.data[k] > 0 && ours.coverage[k] === 1,
        );
        let fluxNote = '';
        if (cs.name !== 'DECam') {
          const worst = Math.max(
            ...STARS.map((s) =>
              Math.abs(
                apertureFlux(ours, cs.target, s.ra, s.dec, 12, 50 * (0.1 / 0.11) ** 2) /
                  apertureFlux(ref, cs.target, s.ra, s.dec, 12, 50 * (0.1 / 0.11) ** 2) -
                  1,
              ),
            ),
          );
          fluxNote = `; worst star flux vs SWarp ${worst.toExponential(2)}`;
          assert.ok(worst < 2e-3, `${cs.name} ${kernel}: star flux differs from SWarp's by ${worst}`);
        }
        console.error(
          `# SWarp ${swarpKernel} ${cs.name}: rms diff / rms value ${r.relative.toExponential(2)}, / rms spread ${r.ofSpread.toExponential(2)} over ${r.pixels} px${fluxNote}`,
        );
        assert.ok(r.pixels > 20000);
        assert.ok(r.relative < 5e-3, `${cs.name} ${kernel}: rms difference ${r.relative}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
