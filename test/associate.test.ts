/** Association of detections into objects, forced photometry, and header stamping: the pure parts. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { associate, type Detection, seamTiles } from '../src/associate/associate.ts';
import { setHeaderCards } from '../src/fits/edit.ts';
import { encodeFits, parseFits, verifyBytes } from '../src/fits/index.ts';
import {
  apertureRatios,
  ForcedFlag,
  forcedErrorScale,
  forcedPhotometry,
  forcedPhotometryJoint,
  groupByDistance,
  psfFluxFloor,
  templatePeaks,
  templateResidual,
} from '../src/image/forced.ts';
import { psfFromImage } from '../src/image/psf/index.ts';
import { Random } from '../src/sim/random.ts';
import { tileOf } from '../src/sky/tiles.ts';

const ARCSEC = 1 / 3600;

/** Objects at random places; each seen `epochs` times with positional scatter `sigma` arcsec. */
function field(n: number, epochs: number, sigma: number, seed: number, dec0 = 10) {
  const r = new Random(seed);
  const rnd = () => r.uniform();
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  const truth: { ra: number; dec: number }[] = [];
  const det: (Detection & { truth: number })[] = [];
  for (let i = 0; i < n; i++) {
    const dec = dec0 + rnd() * 0.5;
    const ra = 150 + (rnd() * 0.5) / Math.cos((dec * Math.PI) / 180);
    truth.push({ ra, dec });
    for (let e = 0; e < epochs; e++)
      det.push({
        id: det.length + 1,
        ra: ra + (gauss() * sigma * ARCSEC) / Math.cos((dec * Math.PI) / 180),
        dec: dec + gauss() * sigma * ARCSEC,
        mjd: 60000 + 5 * e,
        weight: 1,
        truth: i,
      });
  }
  return { truth, det };
}

describe('associate', () => {
  test('each object observed at several epochs becomes one object, none merged', () => {
    // 2,000 objects in 0.25 deg² (0.08 pairs within 0.2″ expected by chance), scatter 0.03″.
    const { truth, det } = field(2000, 5, 0.03, 1);
    const a = associate(det, [], 0.2);
    assert.equal(a.objects.length, truth.length);
    const objOfTruth = new Map<number, number>();
    for (let i = 0; i < det.length; i++) {
      const o = a.objectOf[i];
      const t = det[i].truth;
      if (!objOfTruth.has(t)) objOfTruth.set(t, o);
      assert.equal(objOfTruth.get(t), o, `detection ${i} of object ${t} split off`);
    }
    // The mean position is closer to the truth than the scatter of one detection.
    const o = a.objects[objOfTruth.get(7)!];
    const sep =
      Math.hypot((o.ra - truth[7].ra) * Math.cos((o.dec * Math.PI) / 180), o.dec - truth[7].dec) * 3600;
    assert.ok(sep < 0.06, `mean position ${sep.toFixed(3)}″ from the truth`);
  });

  test('two sources 0.5″ apart stay two objects; within 0.2″ they are one', () => {
    const d = (id: number, ra: number, dec: number, mjd: number): Detection => ({
      id,
      ra,
      dec,
      mjd,
      weight: 1,
    });
    const cd = Math.cos((20 * Math.PI) / 180);
    const apart = associate(
      [
        d(1, 10, 20, 1),
        d(2, 10 + (0.5 * ARCSEC) / cd, 20, 2),
        d(3, 10, 20, 3),
        d(4, 10 + (0.5 * ARCSEC) / cd, 20, 4),
      ],
      [],
      0.2,
    );
    assert.equal(apart.objects.length, 2);
    assert.deepEqual(Array.from(apart.objectOf), [0, 1, 0, 1]);
    const close = associate([d(1, 10, 20, 1), d(2, 10 + (0.15 * ARCSEC) / cd, 20, 2)], [], 0.2);
    assert.equal(close.objects.length, 1);
  });

  test('known objects are matched first; new detections near nothing make new objects', () => {
    const known = [{ id: 41, ra: 200, dec: -30, weight: 4 }];
    const a = associate(
      [
        { id: 1, ra: 200 + 0.05 * ARCSEC, dec: -30, mjd: 1, weight: 1 },
        { id: 2, ra: 201, dec: -30, mjd: 2, weight: 1 },
      ],
      known,
      0.2,
    );
    assert.equal(a.objects[a.objectOf[0]].id, 41);
    assert.equal(a.objects[a.objectOf[1]].id, undefined);
    assert.equal(a.objects[0].weight, 5);
    assert.deepEqual(a.objects[0].members, [0]);
  });

  test('at the pole and across RA 0', () => {
    const a = associate(
      [
        { id: 1, ra: 359.99999, dec: 0, mjd: 1, weight: 1 },
        { id: 2, ra: 0.00001, dec: 0, mjd: 2, weight: 1 },
        { id: 3, ra: 10, dec: 89.99999, mjd: 1, weight: 1 },
        { id: 4, ra: 190, dec: 89.99999, mjd: 2, weight: 1 },
      ],
      [],
      0.2,
    );
    assert.equal(a.objects.length, 2);
    assert.equal(a.objectOf[0], a.objectOf[1]);
    assert.equal(a.objectOf[2], a.objectOf[3]);
  });

  test('the result does not depend on the order given', () => {
    const { det } = field(300, 4, 0.05, 3);
    const a = associate(det, [], 0.2);
    const shuffled = [...det].reverse();
    const b = associate(shuffled, [], 0.2);
    assert.equal(a.objects.length, b.objects.length);
    const groups = (x: typeof a, list: Detection[]) =>
      new Set(
        x.objects.map((o) =>
          o.members
            .map((m) => list[m].id)
            .sort((p, q) => p - q)
            .join(','),
        ),
      );
    assert.deepEqual(groups(a, det), groups(b, shuffled));
  });

  test('bad input is refused', () => {
    assert.throws(() => associate([], [], 0), RangeError);
    assert.throws(
      () => associate([{ id: 1, ra: Number.NaN, dec: 0, mjd: 0, weight: 1 }], [], 0.2),
      RangeError,
    );
  });

  test('seamTiles: one tile inside, two at an edge', () => {
    const nside = 64;
    const at = (ra: number, dec: number) => tileOf(ra, dec, nside);
    // Find a tile edge by walking in RA until the tile changes, then stand just beside it.
    let ra = 30;
    const t0 = at(ra, 5);
    while (at(ra, 5) === t0) ra += 0.1 * ARCSEC * 100;
    let lo = ra - 0.1 * ARCSEC * 100;
    let hi = ra;
    for (let i = 0; i < 60; i++) {
      const mid = (lo + hi) / 2;
      if (at(mid, 5) === t0) lo = mid;
      else hi = mid;
    }
    assert.equal(seamTiles(lo - 0.1 * ARCSEC, 5, 0.2, at).length, 2);
    assert.equal(seamTiles(lo - 10 * ARCSEC, 5, 0.2, at).length, 1);
  });
});

describe('forced photometry', () => {
  const size = 15;
  const sigma = 1.2;
  const psfData = new Float64Array(size * size);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      psfData[y * size + x] = Math.exp(-((x - 7) ** 2 + (y - 7) ** 2) / (2 * sigma ** 2));
  const psf = psfFromImage(psfData, size, size);

  /** A point source on a flat background; with `poisson`, its own noise is in the data and the variance. */
  function image(flux: number, x0: number, y0: number, noise: number, seed: number, poisson = false) {
    const w = 64;
    const h = 64;
    const r = new Random(seed);
    const rnd = () => r.uniform();
    const gauss = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
    const data = new Float32Array(w * h);
    const variance = new Float32Array(w * h).fill(noise * noise);
    const stamp = psf.stamp(x0, y0);
    for (let j = 0; j < size; j++)
      for (let i = 0; i < size; i++) {
        const x = Math.round(x0) + i - 7;
        const y = Math.round(y0) + j - 7;
        if (x >= 0 && y >= 0 && x < w && y < h) data[y * w + x] += flux * stamp[j * size + i];
      }
    for (let k = 0; k < w * h; k++) {
      const v = noise * noise + (poisson ? Math.max(data[k], 0) : 0);
      variance[k] = v;
      data[k] += Math.sqrt(v) * gauss();
    }
    return { width: w, height: h, data, variance };
  }

  test('unbiased, with errors that match the scatter (pull σ ≈ 1), for positive and negative fluxes', () => {
    for (const flux of [500, -300, 0]) {
      const pulls: number[] = [];
      for (let s = 0; s < 300; s++) {
        const r = forcedPhotometry(image(flux, 30.3, 31.7, 5, s + 1), psf, 30.3, 31.7);
        pulls.push((r.flux - flux) / r.fluxErr);
      }
      const mean = pulls.reduce((a, b) => a + b, 0) / pulls.length;
      const sd = Math.sqrt(pulls.reduce((a, b) => a + (b - mean) ** 2, 0) / (pulls.length - 1));
      assert.ok(Math.abs(mean) < 0.2, `flux ${flux}: mean pull ${mean}`);
      assert.ok(Math.abs(sd - 1) < 0.12, `flux ${flux}: pull σ ${sd}`);
    }
  });

  test('a bright source whose own noise is in the variance: still unbiased, errors still right', () => {
    const flux = 50000;
    const pulls: number[] = [];
    for (let s = 0; s < 300; s++) {
      const r = forcedPhotometry(image(flux, 30.3, 31.7, 5, s + 1000, true), psf, 30.3, 31.7);
      pulls.push((r.flux - flux) / r.fluxErr);
    }
    const mean = pulls.reduce((a, b) => a + b, 0) / pulls.length;
    const sd = Math.sqrt(pulls.reduce((a, b) => a + (b - mean) ** 2, 0) / (pulls.length - 1));
    assert.ok(Math.abs(mean) < 0.2, `mean pull ${mean}`);
    assert.ok(Math.abs(sd - 1) < 0.12, `pull σ ${sd}`);
  });

  test('error scale: measured on the image, it corrects errors for correlated noise and leaves white noise alone', () => {
    const w = 400;
    const r = new Random(77);
    const white = Float32Array.from({ length: w * w }, () => r.normal());
    // Noise correlated by a [1 2 1]² smoothing (as resampling does); the variance plane holds
    // its true per-pixel variance (Σk² = 36/256), which says nothing of the correlation.
    const k = [1, 2, 1];
    const smooth = new Float32Array(w * w);
    for (let y = 1; y < w - 1; y++)
      for (let x = 1; x < w - 1; x++) {
        let acc = 0;
        for (let b = -1; b <= 1; b++)
          for (let a = -1; a <= 1; a++) acc += k[a + 1] * k[b + 1] * white[(y + b) * w + x + a];
        smooth[y * w + x] = acc / 16;
      }
    const cases = [
      { name: 'white', data: white, variance: new Float32Array(w * w).fill(1) },
      { name: 'correlated', data: smooth, variance: new Float32Array(w * w).fill(36 / 256) },
    ];
    for (const c of cases) {
      const img = { width: w, height: w, data: c.data, variance: c.variance };
      // The truth: the scatter of flux/error at fresh positions (a grid, unlike the scale's points).
      const pulls: number[] = [];
      for (let y = 15.3; y < w - 15; y += 9.7)
        for (let x = 15.6; x < w - 15; x += 9.7) {
          const f = forcedPhotometry(img, psf, x, y);
          pulls.push(f.flux / f.fluxErr);
        }
      const mean = pulls.reduce((a, b) => a + b, 0) / pulls.length;
      const sd = Math.sqrt(pulls.reduce((a, b) => a + (b - mean) ** 2, 0) / (pulls.length - 1));
      const e = forcedErrorScale(img, psf);
      console.log(
        `# ${c.name} noise: pull σ ${sd.toFixed(3)} (${pulls.length} positions); error scale ${e.scale.toFixed(3)} from ${e.samples}`,
      );
      assert.ok(e.samples >= 500, `${c.name}: ${e.samples} samples`);
      assert.ok(Math.abs(e.scale / sd - 1) < 0.12, `${c.name}: scale ${e.scale} vs σ ${sd}`);
      if (c.name === 'white') assert.ok(Math.abs(e.scale - 1) < 0.1, `white: ${e.scale}`);
      else assert.ok(e.scale > 1.3, `correlated: ${e.scale}`);
    }
    // Too small to measure: scale 1.
    assert.deepEqual(
      forcedErrorScale(
        { width: 20, height: 20, data: white.subarray(0, 400), variance: new Float32Array(400).fill(1) },
        psf,
      ).scale,
      1,
    );
  });

  test('outside the image, at its edge, and without data', () => {
    const img = image(100, 10, 10, 1, 9);
    assert.equal(forcedPhotometry(img, psf, -3, 10).flags, ForcedFlag.OUTSIDE);
    assert.ok(Number.isNaN(forcedPhotometry(img, psf, 70, 10).flux));
    const edge = forcedPhotometry(img, psf, 1, 10);
    assert.equal(edge.flags & ForcedFlag.PARTIAL, ForcedFlag.PARTIAL);
    assert.ok(Number.isFinite(edge.flux));
    const empty = { ...img, data: new Float32Array(img.data.length).fill(Number.NaN) };
    assert.equal(forcedPhotometry(empty, psf, 30, 30).flags & ForcedFlag.NO_DATA, ForcedFlag.NO_DATA);
    // Without a variance plane the flux is measured and its error is unknown.
    const bare = forcedPhotometry({ width: 64, height: 64, data: img.data }, psf, 10, 10);
    assert.equal(bare.flux, forcedPhotometry(img, psf, 10, 10).flux);
    assert.ok(Number.isNaN(bare.fluxErr) && Number.isNaN(bare.chi2));
  });

  test('neighbours fitted together: each flux is its own, with errors that match the scatter', () => {
    const w = 64;
    const bright = { x: 30.3, y: 31.7, flux: 20000 };
    const faint = { x: 34.1, y: 32.2, flux: 1500 };
    const joint: number[] = [];
    const alone: number[] = [];
    const brightPulls: number[] = [];
    for (let s = 0; s < 200; s++) {
      const r = new Random(s + 500);
      const data = Float32Array.from({ length: w * w }, () => 5 * r.normal());
      for (const src of [bright, faint]) {
        const stamp = psf.stamp(src.x, src.y);
        for (let j = 0; j < size; j++)
          for (let i = 0; i < size; i++)
            data[(Math.round(src.y) + j - 7) * w + Math.round(src.x) + i - 7] +=
              src.flux * stamp[j * size + i];
      }
      const img = { width: w, height: w, data, variance: new Float32Array(w * w).fill(25) };
      const [b, f] = forcedPhotometryJoint(img, psf, [bright, faint]);
      joint.push((f.flux - faint.flux) / f.fluxErr);
      brightPulls.push((b.flux - bright.flux) / b.fluxErr);
      const single = forcedPhotometry(img, psf, faint.x, faint.y);
      alone.push((single.flux - faint.flux) / single.fluxErr);
    }
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const sd = (v: number[]) => Math.sqrt(v.reduce((a, b) => a + (b - mean(v)) ** 2, 0) / (v.length - 1));
    console.log(
      `# 3.8 px from a source 13× brighter: pulls alone mean ${mean(alone).toFixed(2)}; together mean ${mean(joint).toFixed(2)} σ ${sd(joint).toFixed(3)}`,
    );
    assert.ok(mean(alone) > 3, `alone: mean pull ${mean(alone)}`);
    for (const [name, p] of [
      ['faint', joint],
      ['bright', brightPulls],
    ] as const) {
      assert.ok(Math.abs(mean(p)) < 0.2, `${name}: mean pull ${mean(p)}`);
      assert.ok(Math.abs(sd(p) - 1) < 0.12, `${name}: pull σ ${sd(p)}`);
    }
    // Groups: friends of friends within the radius; one position is forcedPhotometry's.
    assert.deepEqual(
      groupByDistance(
        [
          { x: 0, y: 0 },
          { x: 50, y: 50 },
          { x: 5, y: 0 },
          { x: 10, y: 3 },
        ],
        7,
      ).map((g) => g.sort()),
      [[0, 2, 3], [1]],
    );
    const img = image(800, 20, 20, 5, 3);
    assert.deepEqual(forcedPhotometryJoint(img, psf, [{ x: 20, y: 20 }]), [
      forcedPhotometry(img, psf, 20, 20),
    ]);
    assert.equal(
      forcedPhotometryJoint(img, psf, [
        { x: 20, y: 20 },
        { x: -5, y: 3 },
      ])[1].flags,
      ForcedFlag.OUTSIDE,
    );
  });

  test('PSF model floor: PSF fluxes checked against apertures; the model’s own error, pooled', () => {
    // Sources on a grid 40 px apart, each drawn with its own Gaussian width (a PSF that varies),
    // measured with one model: their PSF fluxes err by a few per cent, differently for each.
    const gaussian = (s: number) => {
      const d = new Float64Array(size * size);
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++)
          d[y * size + x] = Math.exp(-((x - 7) ** 2 + (y - 7) ** 2) / (2 * s * s));
      return psfFromImage(d, size, size);
    };
    const w = 400;
    const r = new Random(91);
    const gauss = () => Math.sqrt(-2 * Math.log(1 - r.uniform())) * Math.cos(2 * Math.PI * r.uniform());
    const sky = (varying: boolean) => {
      const data = new Float32Array(w * w);
      const variance = new Float32Array(w * w).fill(25);
      const points: { x: number; y: number; flux: number }[] = [];
      for (let gy = 0; gy < 9; gy++)
        for (let gx = 0; gx < 9; gx++) {
          const p = { x: 25 + 40 * gx + r.uniform(), y: 25 + 40 * gy + r.uniform(), flux: 20000 };
          points.push(p);
          const stamp = (varying ? gaussian(1.0 + 0.4 * r.uniform()) : psf).stamp(p.x, p.y);
          for (let j = 0; j < size; j++)
            for (let i = 0; i < size; i++)
              data[(Math.round(p.y) + j - 7) * w + Math.round(p.x) + i - 7] += p.flux * stamp[j * size + i];
        }
      // A faint source and a close pair: not checked.
      points.push({ x: 45.2, y: 45.7, flux: 100 }, { x: 225.4, y: 228.9, flux: 20000 });
      for (let k = 0; k < data.length; k++) data[k] += 5 * gauss();
      return { image: { width: w, height: w, data, variance }, points };
    };
    const right = sky(false);
    const fits = right.points.map((p) => forcedPhotometry(right.image, psf, p.x, p.y));
    const checks = apertureRatios(right.image, psf, right.points, fits);
    assert.equal(checks.filter((c) => c).length, 80, 'the grid but the source beside the pair');
    assert.equal(checks[81], undefined, 'the faint one');
    assert.equal(checks[82], undefined, 'one of the pair');
    const ok = checks.filter((c) => c !== undefined);
    assert.ok(
      ok.every((c) => Math.abs(c.ratio) < 0.01),
      'a right model agrees with the apertures',
    );
    assert.ok(psfFluxFloor(ok).fraction < 0.003, `floor ${psfFluxFloor(ok).fraction}`);
    assert.equal(psfFluxFloor(ok.slice(0, 4)).fraction, 0, 'fewer than 5 checks: none');

    const varying = sky(true);
    const measured = varying.points.map((p) => forcedPhotometry(varying.image, psf, p.x, p.y));
    const floor = psfFluxFloor(
      apertureRatios(varying.image, psf, varying.points, measured).filter((c) => c !== undefined),
    );
    const sd = (v: number[]) => Math.sqrt(v.reduce((a, b) => a + b * b, 0) / v.length);
    const bright = varying.points.slice(0, 81).map((p, i) => ({ p, f: measured[i] }));
    const before = sd(bright.map(({ p, f }) => (f.flux - p.flux) / f.fluxErr));
    const after = sd(
      bright.map(({ p, f }) => (f.flux - p.flux) / Math.hypot(f.fluxErr, floor.fraction * f.flux)),
    );
    console.log(
      `# PSF floor ${(100 * floor.fraction).toFixed(2)}% (${floor.samples} checks): pulls' rms ${before.toFixed(2)} → ${after.toFixed(2)}`,
    );
    assert.ok(floor.fraction > 0.01 && floor.samples >= 70, `floor ${floor.fraction}`);
    assert.ok(before > 2 && after < 1.6, `pulls' rms ${before} → ${after}`);
  });

  test('template residual: the static scene left in a difference, as a fraction of the template flux', () => {
    const w = 400;
    const r = new Random(5);
    const template = new Float32Array(w * w);
    const stars: { x: number; y: number; flux: number }[] = [];
    for (let k = 0; k < 200; k++) {
      const x = 20 + r.uniform() * (w - 40);
      const y = 20 + r.uniform() * (w - 40);
      stars.push({ x, y, flux: 1e3 * 100 ** r.uniform() });
    }
    const add = (img: Float32Array, x0: number, y0: number, flux: number) => {
      const stamp = psf.stamp(x0, y0);
      for (let j = 0; j < size; j++)
        for (let i = 0; i < size; i++)
          img[(Math.round(y0) + j - 7) * w + Math.round(x0) + i - 7] += flux * stamp[j * size + i];
    };
    for (const s of stars) add(template, s.x, s.y, s.flux);
    for (let k = 0; k < w * w; k++) template[k] += 100 + 2 * r.normal();
    const variance = new Float32Array(w * w).fill(25);
    const difference = (eta: number) => {
      const data = Float32Array.from({ length: w * w }, () => 5 * r.normal());
      // Each static source leaves a residual of its own size and sign, σ = η of its flux.
      for (const s of stars) add(data, s.x, s.y, eta * s.flux * r.normal());
      return { width: w, height: w, data, variance };
    };
    const tmpl = { width: w, height: w, data: template };
    const peaks = templatePeaks(tmpl, 7, 100, 400);
    assert.ok(peaks.length >= 150 && peaks.length <= 200, `${peaks.length} peaks`);
    const found = templateResidual(difference(0.04), tmpl, psf, 1, 100);
    console.log(
      `# template residual: η 0.04 measured ${found.fraction.toFixed(4)} on ${found.samples} sources`,
    );
    assert.ok(found.samples >= 150);
    assert.ok(Math.abs(found.fraction / 0.04 - 1) < 0.25, `η ${found.fraction}`);
    assert.ok(templateResidual(difference(0), tmpl, psf, 1, 100).fraction < 0.005, 'noise only');
    // Too few static sources to say: 0.
    const blank = { width: w, height: w, data: new Float32Array(w * w).fill(100) };
    assert.deepEqual(templateResidual(difference(0.04), blank, psf, 1, 100), { fraction: 0, samples: 0 });
  });
});

describe('setHeaderCards', () => {
  const data = Float32Array.from({ length: 100 }, (_, i) => i * 0.5);
  const file = encodeFits(
    [
      { data, shape: [10, 10] },
      { data, shape: [10, 10], name: 'SECOND' },
    ],
    { checksum: true },
  );

  test('adds cards, keeps the data byte for byte, and the checksums verify', () => {
    const out = setHeaderCards(file, 0, [
      { key: 'JOBID', value: 12, comment: 'job' },
      { key: 'DIFIMID', value: 345 },
    ]);
    const f = parseFits(out);
    assert.equal(f.hdus[0].header.get('JOBID'), 12);
    assert.equal(f.hdus[0].header.get('DIFIMID'), 345);
    assert.deepEqual(Buffer.from(f.hdus[0].data), Buffer.from(parseFits(file).hdus[0].data));
    assert.equal(f.hdus[1].name, 'SECOND');
    const report = verifyBytes(out);
    for (const h of report.hdus) {
      assert.equal(h.checksum, 'ok');
      assert.equal(h.datasum, 'ok');
    }
  });

  test('stamping twice changes nothing; a new value replaces the old', () => {
    const once = setHeaderCards(file, 0, [{ key: 'JOBID', value: 12 }]);
    assert.equal(setHeaderCards(once, 0, [{ key: 'JOBID', value: 12 }]), once);
    const again = setHeaderCards(once, 0, [{ key: 'JOBID', value: 13 }]);
    assert.equal(parseFits(again).hdus[0].header.get('JOBID'), 13);
    assert.equal(verifyBytes(again).hdus[0].checksum, 'ok');
  });

  test('a header that grows past its block keeps the file valid', () => {
    const cards = Array.from({ length: 40 }, (_, i) => ({ key: `KEY${i}`, value: i }));
    const out = setHeaderCards(file, 0, cards);
    assert.equal(out.length, file.length + 2880);
    const f = parseFits(out);
    assert.equal(f.hdus[0].header.get('KEY39'), 39);
    assert.deepEqual(Array.from(f.hdus.map((h) => h.name)), [undefined, 'SECOND']);
    assert.equal(verifyBytes(out).hdus[0].checksum, 'ok');
  });
});
