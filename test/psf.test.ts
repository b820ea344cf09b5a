import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Header } from '../src/fits/header.ts';
import { readFits, readImage, writeFits } from '../src/fits/index.ts';
import type { Image } from '../src/image/image.ts';
import {
  estimatePsf,
  GridPsf,
  type PsfModel,
  psfFromFits,
  psfFromImage,
  psfHdus,
  selectStars,
} from '../src/image/psf/index.ts';
import { centralStamp, drawPoint, effectiveFwhm, type PsfProfile, phaseStamps } from '../src/sim/psf.ts';
import { Random } from '../src/sim/random.ts';
import { simulateSurvey } from '../src/sim/simulate.ts';
import { rapid } from './support/cli.ts';
import { hasCommand, requireTool } from './support/tools.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rapid-psf-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A simulated image (F158-like by default) with a dense star field and a constant PSF. */
async function simulated(
  name: string,
  options: {
    psfFwhm?: number;
    size?: number;
    psfVariation?: number;
    seed?: number;
    starDensity?: number;
  } = {},
): Promise<{ image: Image; header: Header; path: string; profile: PsfProfile }> {
  const out = join(dir, name);
  const s = await simulateSurvey(out, {
    epochs: 1,
    size: options.size ?? 1024,
    starDensity: options.starDensity ?? 20000,
    psfVariation: options.psfVariation ?? 0,
    transientsPerImage: 0,
    psfFwhm: options.psfFwhm,
    seed: options.seed ?? 4,
  });
  const path = join(out, s.images[0].file);
  const fits = await readFits(path);
  const img = readImage(fits.hdu(1));
  const header = fits.hdus[0].header;
  return {
    image: { width: img.width, height: img.height, data: img.data as Float32Array },
    header,
    path,
    profile: { kind: 'moffat', fwhm: header.number('PSF_FWHM'), beta: 2.5 },
  };
}

/** Residual energy of a model against the true pixel-integrated PSF: Σ(model − truth)² / Σ truth². */
function residualEnergy(model: PsfModel, truth: PsfProfile, x: number, y: number): number {
  const m = model.stamp(x, y);
  const n = model.size;
  const t = new Float32Array(n * n);
  drawPoint(t, n, n, phaseStamps(truth), (n - 1) / 2 + x - Math.round(x), (n - 1) / 2 + y - Math.round(y), 1);
  let e = 0;
  let s = 0;
  for (let i = 0; i < n * n; i++) {
    e += (m[i] - t[i]) ** 2;
    s += t[i] ** 2;
  }
  return e / s;
}

const PLACES: [number, number][] = [
  [500.3, 400.7],
  [200.0, 800.5],
  [700.45, 300.12],
  [512, 512],
  [100.8, 150.25],
];

/** PSFEx's model of an image, through SourceExtractor's FITS_LDAC catalog with vignettes. */
async function psfexModel(path: string, size: number): Promise<GridPsf> {
  const fits = await readFits(path);
  const img = readImage(fits.hdu(1));
  const work = join(dir, `psfex-${Math.random().toString(36).slice(2)}`);
  spawnSync('mkdir', ['-p', work]);
  await writeFits(join(work, 'img.fits'), [
    { data: img.data, shape: img.shape, header: fits.hdus[0].header },
  ]);
  await writeFile(
    join(work, 'psf.param'),
    'NUMBER\nX_IMAGE\nY_IMAGE\nXWIN_IMAGE\nYWIN_IMAGE\nFLUX_RADIUS\nFLAGS\nFLUX_APER(1)\nFLUXERR_APER(1)\nELONGATION\nSNR_WIN\nVIGNET(25,25)\n',
  );
  const conf = '/usr/share/source-extractor';
  const se = spawnSync(
    'source-extractor',
    [
      'img.fits',
      '-c',
      `${conf}/default.sex`,
      '-PARAMETERS_NAME',
      'psf.param',
      '-FILTER_NAME',
      `${conf}/default.conv`,
      '-CATALOG_NAME',
      'img.cat',
      '-CATALOG_TYPE',
      'FITS_LDAC',
      '-DETECT_THRESH',
      '5',
      '-SATUR_LEVEL',
      '100000',
      '-GAIN',
      '1',
      '-PHOT_APERTURES',
      '6',
      '-VERBOSE_TYPE',
      'QUIET',
    ],
    { cwd: work, encoding: 'utf8' },
  );
  assert.equal(se.status, 0, se.stderr);
  const px = spawnSync(
    'psfex',
    [
      'img.cat',
      '-PSFVAR_DEGREES',
      '0',
      '-SAMPLE_FWHMRANGE',
      '0.8,10',
      '-CHECKPLOT_DEV',
      'NULL',
      '-CHECKIMAGE_TYPE',
      'NONE',
      '-WRITE_XML',
      'N',
      '-VERBOSE_TYPE',
      'QUIET',
    ],
    { cwd: work, encoding: 'utf8' },
  );
  assert.equal(px.status, 0, px.stderr);
  return psfFromFits(await readFits(join(work, 'img.psf')), { size });
}

describe('PSF from an image of it', () => {
  test('is normalised, centred, and has the FWHM of the image', () => {
    const n = 31;
    const sigma = 2;
    const data = new Float64Array(n * n);
    // A Gaussian centred off the grid centre: the loader re-centres it.
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < n; i++)
        data[j * n + i] = 7 * Math.exp(-((i - 15.3) ** 2 + (j - 14.8) ** 2) / (2 * sigma * sigma));
    }
    const psf = psfFromImage(data, n, n);
    const s = psf.stamp(100.25, 50.75);
    let sum = 0;
    let mx = 0;
    let my = 0;
    for (let j = 0; j < psf.size; j++) {
      for (let i = 0; i < psf.size; i++) {
        sum += s[j * psf.size + i];
        mx += s[j * psf.size + i] * (i - (psf.size - 1) / 2);
        my += s[j * psf.size + i] * (j - (psf.size - 1) / 2);
      }
    }
    assert.ok(Math.abs(sum - 1) < 1e-6);
    // The stamp of a source at x + 0.25 has its centroid 0.25 px right of the central pixel.
    assert.ok(Math.abs(mx - 0.25) < 0.01 && Math.abs(my + 0.25) < 0.01, `centroid ${mx}, ${my}`);
    assert.ok(Math.abs(psf.fwhm() / (2.3548 * sigma) - 1) < 0.02, `FWHM ${psf.fwhm()}`);
  });

  test('bad PSF images are rejected with exit code 65', () => {
    assert.throws(
      () => psfFromImage(new Float64Array(12), 4, 3),
      (e: Error & { exitCode?: number }) => e.exitCode === 65 && /square/.test(e.message),
    );
    const nan = new Float64Array(25).fill(1);
    nan[3] = Number.NaN;
    assert.throws(() => psfFromImage(nan, 5, 5), /non-finite/);
    assert.throws(() => psfFromImage(new Float64Array(25), 5, 5), /sum is not positive/);
  });
});

describe('PSF estimation', () => {
  test('well sampled: FWHM within 5% of the truth, residual energy within 2%, and no worse than PSFEx', async (t) => {
    const sim = await simulated('well', { psfFwhm: 3 });
    const est = estimatePsf(sim.image, { saturation: 1e5, gain: 1 });
    const truth = effectiveFwhm(sim.profile);
    const fwhm = est.psf.fwhm();
    const energies = PLACES.map(([x, y]) => residualEnergy(est.psf, sim.profile, x, y));
    const worst = Math.max(...energies);
    console.error(
      `# well-sampled: ${est.stars.length} stars, FWHM ${fwhm.toFixed(3)} vs ${truth.toFixed(3)}; residual energy worst ${worst.toExponential(2)}`,
    );
    assert.ok(est.stars.length >= 30);
    assert.ok(Math.abs(fwhm / truth - 1) < 0.05, `FWHM ${fwhm} vs ${truth}`);
    assert.ok(worst < 0.02, `residual energy ${worst}`);
    if (!requireTool(t, 'psfex', hasCommand('psfex') && hasCommand('source-extractor'))) return;
    const px = await psfexModel(sim.path, est.psf.size);
    const theirs = Math.max(...PLACES.map(([x, y]) => residualEnergy(px, sim.profile, x, y)));
    console.error(
      `# well-sampled PSFEx: FWHM ${px.fwhm().toFixed(3)}; residual energy worst ${theirs.toExponential(2)}`,
    );
    assert.ok(Math.abs(px.fwhm() / truth - 1) < 0.05, 'PSFEx read correctly');
    // Measured on this image: ours 6.1e-4, PSFEx 1.06e-3 (0.57×); on the same simulation with
    // seeds 5, 6, 7: 0.21×, 0.59×, 0.98×. The 10% margin covers PSFEx's version and platform, not
    // a model twice as bad as today's.
    assert.ok(worst <= 1.1 * theirs, `residual energy: ours ${worst} vs PSFEx ${theirs}`);
  });

  test('undersampled (F158, FWHM ≈ 1.2 px): no worse than PSFEx on the same image', async (t) => {
    const sim = await simulated('under');
    const est = estimatePsf(sim.image, { saturation: 1e5, gain: 1 });
    assert.ok(est.oversample > 1, 'an undersampled PSF is modelled on a finer grid');
    const truth = effectiveFwhm(sim.profile);
    const ours = PLACES.map(([x, y]) => residualEnergy(est.psf, sim.profile, x, y));
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
    console.error(
      `# undersampled: ${est.stars.length} stars, oversampling ${est.oversample}, FWHM ${est.psf.fwhm().toFixed(3)} vs ${truth.toFixed(3)}; residual energy median ${median(ours).toExponential(2)}`,
    );
    assert.ok(Math.abs(est.psf.fwhm() / truth - 1) < 0.05);
    assert.ok(median(ours) < 0.02);
    if (!requireTool(t, 'psfex', hasCommand('psfex') && hasCommand('source-extractor'))) return;
    const px = await psfexModel(sim.path, est.psf.size);
    const theirs = PLACES.map(([x, y]) => residualEnergy(px, sim.profile, x, y));
    console.error(
      `# undersampled PSFEx: step ${px.step.toFixed(3)} px, FWHM ${px.fwhm().toFixed(3)}; residual energy median ${median(theirs).toExponential(2)}`,
    );
    assert.ok(median(ours) <= median(theirs), `ours ${median(ours)} vs PSFEx ${median(theirs)}`);
  });

  test('a PSF varying over the image is followed by a degree-2 model', async () => {
    // A degree-2 model needs many stars: about 250 bright ones over the field.
    const sim = await simulated('varying', {
      psfFwhm: 2.5,
      psfVariation: 0.15,
      size: 1536,
      seed: 9,
      starDensity: 60000,
    });
    const est = estimatePsf(sim.image, { saturation: 1e5, gain: 1, degree: 2 });
    const constant = estimatePsf(sim.image, { saturation: 1e5, gain: 1, degree: 0 });
    // The simulator's FWHM grows with the squared distance from the centre, by 15% at the corners.
    const c = (1536 - 1) / 2;
    const at = (x: number, y: number) => {
      const r2 = Math.min(1, ((x - c) ** 2 + (y - c) ** 2) / (2 * c * c));
      const level = Math.round(r2 * 30) / 30;
      return effectiveFwhm({ ...sim.profile, fwhm: sim.profile.fwhm * (1 + 0.15 * level) });
    };
    const corner: [number, number] = [150, 150];
    const centre: [number, number] = [c, c];
    const ratioTruth = at(...corner) / at(...centre);
    const ratioOurs = est.psf.fwhm(...corner) / est.psf.fwhm(...centre);
    console.error(
      `# varying PSF: corner/centre FWHM ratio ${ratioOurs.toFixed(3)} (truth ${ratioTruth.toFixed(3)})`,
    );
    assert.ok(Math.abs(ratioOurs - ratioTruth) < 0.05, `ratio ${ratioOurs} vs ${ratioTruth}`);
    const profileAt = (x: number, y: number): PsfProfile => {
      const r2 = Math.min(1, ((x - c) ** 2 + (y - c) ** 2) / (2 * c * c));
      return { ...sim.profile, fwhm: sim.profile.fwhm * (1 + 0.15 * (Math.round(r2 * 30) / 30)) };
    };
    const varying = residualEnergy(est.psf, profileAt(...corner), ...corner);
    const fixed = residualEnergy(constant.psf, profileAt(...corner), ...corner);
    assert.ok(varying < fixed / 2, `at the corner: varying ${varying} vs constant ${fixed}`);
  });

  test('stars with a clipped pixel are left out, whatever the background under them', () => {
    // A background rising from 100 to 300 across the image: stars on the bright side whose one
    // peak pixel is clipped at the saturation level sit below "saturation − global level" once
    // the background is subtracted, so the raw pixels must be what is judged.
    const n = 256;
    const saturation = 10_000;
    const psf = phaseStamps({ kind: 'moffat', fwhm: 1.2, beta: 2.5 });
    const peakShare = centralStamp(psf).reduce((a, b) => Math.max(a, b), 0);
    const rng = new Random(3, 'clipped');
    const data = new Float32Array(n * n);
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) data[y * n + x] = 100 + (200 * x) / (n - 1);
    const unsaturated: [number, number][] = [];
    for (let k = 0; k < 36; k++) {
      const x = 24 + (k % 6) * 36 + rng.uniform();
      const y = 24 + Math.floor(k / 6) * 36 + rng.uniform();
      unsaturated.push([x, y]);
      drawPoint(data, n, n, psf, x, y, (0.3 * saturation) / peakShare);
    }
    // Clipped stars on the bright side, between the others, centred on pixels.
    const clipped: [number, number][] = [
      [222, 42],
      [222, 114],
      [222, 186],
    ];
    for (const [x, y] of clipped) drawPoint(data, n, n, psf, x, y, (1.3 * (saturation - 300)) / peakShare);
    let clippedPixels = 0;
    for (let i = 0; i < data.length; i++) {
      if (data[i] >= saturation) clippedPixels++;
      data[i] = Math.min(saturation, data[i] + 3 * rng.normal());
    }
    assert.equal(clippedPixels, clipped.length, 'one clipped pixel per bright star');
    const est = estimatePsf({ width: n, height: n, data }, { saturation, gain: 1, minStars: 10 });
    const near = (p: [number, number]) => est.stars.some((s) => Math.hypot(s.x - p[0], s.y - p[1]) < 2);
    assert.ok(unsaturated.filter(near).length >= 20, `${est.stars.length} stars`);
    assert.deepEqual(clipped.filter(near), []);
  });

  test('star selection finds the stars when galaxies of one size outnumber them', () => {
    // 30 stars and 180 round galaxies whose sizes lie within ±10% of one value, on a grid.
    const n = 512;
    const rng = new Random(5, 'locus');
    const data = new Float32Array(n * n);
    const rms = new Float32Array(n * n).fill(3);
    const psf = phaseStamps({ kind: 'moffat', fwhm: 1.2, beta: 2.5 });
    const stars: [number, number][] = [];
    let k = 0;
    for (let gy = 0; gy < 15; gy++) {
      for (let gx = 0; gx < 15 && k < 210; gx++, k++) {
        const x = 30 + gx * 32 + rng.uniform();
        const y = 30 + gy * 32 + rng.uniform();
        if (k % 7 === 0) {
          stars.push([x, y]);
          drawPoint(data, n, n, psf, x, y, 3000);
          continue;
        }
        const sigma = 0.95 + 0.1 * rng.uniform();
        for (let j = -8; j <= 8; j++) {
          for (let i = -8; i <= 8; i++) {
            const px = Math.round(x) + i;
            const py = Math.round(y) + j;
            const r2 = (px - x) ** 2 + (py - y) ** 2;
            data[py * n + px] += (3000 * Math.exp(-r2 / (2 * sigma * sigma))) / (2 * Math.PI * sigma * sigma);
          }
        }
      }
    }
    for (let i = 0; i < data.length; i++) data[i] += 3 * rng.normal();
    const galaxies = 210 - stars.length;
    assert.ok(galaxies >= 5 * stars.length, `${galaxies} galaxies, ${stars.length} stars`);
    const picked = selectStars(data, rms, n, n, undefined, { radius: 12, minSnr: 30 });
    const isStar = (c: { x: number; y: number }) =>
      stars.some(([x, y]) => Math.hypot(c.x - x, c.y - y) < 1.5);
    assert.ok(picked.filter(isStar).length >= 0.9 * stars.length, `${picked.filter(isStar).length} stars`);
    assert.equal(picked.filter((c) => !isStar(c)).length, 0);
  });

  test('in a crowded field the model keeps its light in the core: PSF fluxes agree with apertures', async () => {
    // A 400² F158 image with 150,000 stars per deg² and 250 transients (the post-processing
    // survey's crowding, more stars): neighbours left a bright ring near the stamp's edge in the
    // model, a tenth of its unit flux at some epochs, and PSF fluxes came out 5–12% high.
    const out = join(dir, 'crowded');
    const s = await simulateSurvey(out, {
      tiles: 1,
      epochs: 8,
      size: 400,
      starDensity: 150000,
      transientsPerImage: 250,
      seed: 12,
      workers: 1,
      transientsFrom: '2028-09-16',
    });
    const worst: string[] = [];
    for (const pointing of [3, 5, 7]) {
      const file = s.images.find((i) => i.file.includes(`_${pointing}_1.fits`))!.file;
      const img = readImage((await readFits(join(out, file))).hdu(1));
      const image = { width: img.width, height: img.height, data: img.data as Float32Array };
      const e = estimatePsf(image, { minStars: 3 });
      const stamp = e.psf.stamp(200, 200);
      const c = (e.psf.size - 1) / 2;
      let core = 0;
      for (let j = 0; j < e.psf.size; j++)
        for (let i = 0; i < e.psf.size; i++)
          if (Math.hypot(i - c, j - c) <= 4) core += stamp[j * e.psf.size + i];
      // PSF fluxes of the bright stars against 6-px apertures on a local sky (annulus 10–14 px).
      const ratios: number[] = [];
      for (const star of e.stars.filter((t) => t.snr > 100)) {
        let sum = 0;
        const sky: number[] = [];
        for (let y = Math.floor(star.y) - 14; y <= Math.ceil(star.y) + 14; y++)
          for (let x = Math.floor(star.x) - 14; x <= Math.ceil(star.x) + 14; x++) {
            if (x < 0 || y < 0 || x >= image.width || y >= image.height) continue;
            const r = Math.hypot(x - star.x, y - star.y);
            if (r > 10 && r < 14) sky.push(image.data[y * image.width + x]);
          }
        sky.sort((a, b) => a - b);
        const level = sky[sky.length >> 1];
        for (let y = Math.floor(star.y) - 6; y <= Math.ceil(star.y) + 6; y++)
          for (let x = Math.floor(star.x) - 6; x <= Math.ceil(star.x) + 6; x++)
            if (Math.hypot(x - star.x, y - star.y) <= 6) sum += image.data[y * image.width + x] - level;
        ratios.push(star.flux / sum);
      }
      ratios.sort((a, b) => a - b);
      const ratio = ratios[ratios.length >> 1];
      worst.push(
        `pointing ${pointing}: ${core.toFixed(3)} of the model within 4 px, PSF/aperture ${ratio.toFixed(3)} (${ratios.length} stars)`,
      );
      assert.ok(core > 0.97, worst.at(-1));
      assert.ok(ratio > 0.96 && ratio < 1.03, worst.at(-1));
    }
    console.log(`# crowded field: ${worst.join('; ')}`);
  });

  test('too few stars is bad input (65) with a message saying what to do', () => {
    const n = 256;
    const rng = new Random(1, 'noise');
    const data = new Float32Array(n * n);
    for (let i = 0; i < data.length; i++) data[i] = 100 + 5 * rng.normal();
    assert.throws(
      () => estimatePsf({ width: n, height: n, data }),
      (e: Error & { exitCode?: number }) => e.exitCode === 65 && /usable stars/.test(e.message),
    );
    assert.throws(
      () => estimatePsf({ width: n, height: n, data: new Float32Array(n * n).fill(Number.NaN) }),
      /no valid pixels/,
    );
  });
});

describe('PSF files', () => {
  test('our PSF file round-trips, and its PSF_DATA is PSFEx-shaped', async () => {
    const n = 21;
    const data = new Float64Array(n * n);
    for (let j = 0; j < n; j++)
      for (let i = 0; i < n; i++) data[j * n + i] = Math.exp(-((i - 10) ** 2 + (j - 10) ** 2 * 1.3) / 6);
    const psf = psfFromImage(data, n, n, 0.5, 11);
    const path = join(dir, 'roundtrip.psf.fits');
    await writeFits(path, psfHdus(psf));
    const fits = await readFits(path);
    const table = fits.hdu('PSF_DATA').header;
    assert.equal(table.number('PSF_SAMP'), 0.5);
    assert.equal(table.integer('PSFAXIS1'), n);
    const back = psfFromFits(fits, { size: 11 });
    const a = psf.stamp(30.3, 40.6);
    const b = back.stamp(30.3, 40.6);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    assert.ok(worst < 1e-6, `stamps differ by ${worst}`);
  });
});

describe('rapid psf', () => {
  test('writes the PSF and prints its summary; bad options and files get their exit codes', async () => {
    const sim = await simulated('cli', { size: 768, seed: 5 });
    const out = join(dir, 'cli.psf.fits');
    const r = rapid(['psf', sim.path, '--out', out, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.ok(summary.stars >= 10);
    assert.ok(Math.abs(summary.fwhm / effectiveFwhm(sim.profile) - 1) < 0.05);
    const psf = psfFromFits(await readFits(out));
    assert.ok(psf instanceof GridPsf);
    assert.equal(rapid(['psf', join(dir, 'missing.fits'), '--out', out]).status, 66);
    assert.equal(rapid(['psf', sim.path, '--out', out, '--degree', '3']).status, 64);
    // An image with no stars: write pure noise and ask for its PSF.
    const noise = join(dir, 'noise.fits');
    const rng = new Random(2, 'noise');
    await writeFits(noise, [
      { data: Float32Array.from({ length: 128 * 128 }, () => 10 + rng.normal()), shape: [128, 128] },
    ]);
    const none = rapid(['psf', noise, '--out', out]);
    assert.equal(none.status, 65);
    assert.match(none.stderr, /usable stars/);
  });
});
