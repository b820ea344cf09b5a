import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readFits, readImage } from '../src/fits/index.ts';
import { romanFilter } from '../src/instrument/roman.ts';
import { DEFAULT_INSTRUMENT, detectorModel, nominalFwhm } from '../src/sim/exposure.ts';
import { relativeFlux } from '../src/sim/lightcurve.ts';
import { drawPoint, effectiveFwhm, phaseStamps } from '../src/sim/psf.ts';
import { Random } from '../src/sim/random.ts';
import { predictedLimitFlux, renderRows, skyLevel, skyVariance } from '../src/sim/render.ts';
import { simulateSurvey } from '../src/sim/simulate.ts';
import { DEFAULT_SURVEY, planSurvey } from '../src/sim/survey.ts';
import { rapid } from './support/cli.ts';
import { hasCommand, hasPythonModule, requireTool, run, runPython } from './support/tools.ts';

interface Truth {
  object_id: number;
  ra: number;
  dec: number;
  x: number;
  y: number;
  realized_flux: number;
  flux: number;
  mag: number;
  obj_type: string;
}

async function readTruth(path: string): Promise<Truth[]> {
  const lines = (await readFile(path, 'utf8')).trim().split('\n');
  const names = lines[0].split(/\s+/);
  assert.deepEqual(names, ['object_id', 'ra', 'dec', 'x', 'y', 'realized_flux', 'flux', 'mag', 'obj_type']);
  return lines.slice(1).map((l) => {
    const v = l.split(/\s+/);
    return {
      object_id: Number(v[0]),
      ra: Number(v[1]),
      dec: Number(v[2]),
      x: Number(v[3]),
      y: Number(v[4]),
      realized_flux: Number(v[5]),
      flux: Number(v[6]),
      mag: Number(v[7]),
      obj_type: v[8],
    };
  });
}

async function readPixels(path: string): Promise<{ data: Float32Array; width: number; height: number }> {
  const fits = await readFits(path);
  const img = readImage(fits.hdu(1));
  return { data: img.data as Float32Array, width: img.width, height: img.height };
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rapid-sim-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('survey plan', () => {
  test('--tiles 2 --epochs 5 --filters F158 plans 10 images, 5 days apart, in the OpenUniverse era', () => {
    const plans = planSurvey({ ...DEFAULT_SURVEY, tiles: 2, epochs: 5, filters: ['F158'] });
    assert.equal(plans.length, 10);
    assert.equal(new Set(plans.map((p) => p.tile)).size, 2);
    assert.equal(new Set(plans.map((p) => p.pointing)).size, 10);
    const first = plans.filter((p) => p.tile === plans[0].tile);
    for (let i = 1; i < first.length; i++) assert.ok(Math.abs(first[i].mjd - first[i - 1].mjd - 5) < 1e-9);
    for (const p of plans) {
      const year = new Date(p.dateObs).getUTCFullYear();
      assert.ok(year >= 2028 && year <= 2032);
      assert.equal(p.filter.band, 'H158');
    }
  });

  test('both filter spellings are accepted; bad options are usage errors', () => {
    assert.deepEqual(
      planSurvey({ ...DEFAULT_SURVEY, filters: ['H158', 'f106'], epochs: 1 }).map((p) => p.filter.name),
      ['F158', 'F106'],
    );
    assert.throws(() => planSurvey({ ...DEFAULT_SURVEY, filters: ['F999'] }), /unknown Roman filter 'F999'/);
    assert.throws(() => planSurvey({ ...DEFAULT_SURVEY, size: 10 }), /--size must be/);
    assert.throws(() => planSurvey({ ...DEFAULT_SURVEY, epochs: 0 }), /--epochs must be/);
    assert.throws(() => planSurvey({ ...DEFAULT_SURVEY, start: 'yesterday' }), /--start must be a date/);
    assert.throws(() => planSurvey({ ...DEFAULT_SURVEY, filters: ['F158', 'H158'] }), /twice/);
  });

  test('several detectors per pointing tile the focal plane without overlap', () => {
    const plans = planSurvey({ ...DEFAULT_SURVEY, epochs: 1, scas: 3, size: 512 });
    assert.deepEqual(
      plans.map((p) => p.sca),
      [1, 2, 3],
    );
    // Neighbouring detector centres are a detector width (plus the gap) apart on the sky.
    const d = Math.hypot(
      (plans[1].centre.ra - plans[0].centre.ra) * Math.cos((plans[0].centre.dec * Math.PI) / 180),
      plans[1].centre.dec - plans[0].centre.dec,
    );
    assert.ok(Math.abs(d * 3600 - 512 * 1.01 * 0.11) < 0.5, `separation ${d * 3600}″`);
  });
});

describe('simulated survey on disk', () => {
  let summary: Awaited<ReturnType<typeof simulateSurvey>>;
  const out = () => join(dir, 'survey');

  const options = {
    tiles: 2,
    epochs: 3,
    filters: ['F158', 'Y106'],
    size: 256,
    transientsPerImage: 20,
    seed: 7,
  };
  before(async () => {
    summary = await simulateSurvey(out(), options);
  });

  test('writes OpenUniverse file names, headers and truth files', async () => {
    assert.equal(summary.counts.images, 12);
    const img = summary.images[0];
    assert.match(img.file, /^images\/simple_model\/H158\/0\/Roman_TDS_simple_model_H158_0_1\.fits\.gz$/);
    assert.match(img.truth, /^truth\/H158\/0\/Roman_TDS_index_H158_0_1\.txt$/);
    const fits = await readFits(join(out(), img.file));
    assert.equal(fits.hdus.length, 2);
    const h = fits.hdus[0].header;
    for (const key of [
      'DATE-OBS',
      'MJD',
      'EXPTIME',
      'FILTER',
      'SCA_NUM',
      'ZPTMAG',
      'GAIN',
      'CTYPE1',
      'A_ORDER',
    ]) {
      assert.ok(h.has(key), `primary header has ${key}`);
    }
    assert.equal(h.string('FILTER'), 'H158');
    assert.equal(h.string('CTYPE1'), 'RA---TAN-SIP');
    assert.equal(h.number('EXPTIME'), romanFilter('F158').exptime);
    const pixels = readImage(fits.hdu(1));
    assert.deepEqual(pixels.shape, [256, 256]);
    const truth = await readTruth(join(out(), img.truth));
    assert.ok(truth.length > 20);
    for (const t of truth) {
      assert.ok(Number.isFinite(t.mag), `mag of ${t.object_id}`);
      assert.ok(['star', 'galaxy', 'transient', 'variable'].includes(t.obj_type));
      assert.ok(t.x >= -0.5 && t.x < 255.5 && t.y >= -0.5 && t.y < 255.5);
      // mag is the AB magnitude of `flux` through the image's zero point.
      assert.ok(Math.abs(t.mag - (h.number('ZPTMAG') - 2.5 * Math.log10(t.flux))) < 1e-5);
    }
    const json = JSON.parse(await readFile(join(out(), 'summary.json'), 'utf8'));
    assert.equal(json.seed, 7);
    assert.deepEqual(json.filters, ['F158', 'F106']);
    assert.equal(json.epochs.length, 3);
    assert.match(json.software, /^rapid-ts /);
  });

  test('the images pass fitsverify with no warnings', (t) => {
    if (!requireTool(t, 'fitsverify')) return;
    for (const img of summary.images.slice(0, 2)) {
      const r = spawnSync('fitsverify', ['-q', join(out(), img.file)], { encoding: 'utf8' });
      assert.match(r.stdout, /verification OK/, r.stdout);
    }
  });

  test('transients appear with the light-curve flux of their epoch and are omitted while off', async () => {
    const table = (await readFile(join(out(), 'Roman_TDS_transients.txt'), 'utf8')).trim().split('\n');
    const curves = (await readFile(join(out(), 'Roman_TDS_lightcurves.txt'), 'utf8')).trim().split('\n');
    assert.ok(table.length > 5, 'some transients were observed');
    assert.ok(curves.length > table.length);
    const kinds = new Set(table.slice(1).map((l) => l.split(/\s+/)[2]));
    for (const k of ['supernova', 'variable', 'flare']) assert.ok(kinds.has(k), `a ${k} was simulated`);
    // Every supernova seen in an image is on at that epoch; one that is off is absent from truth.
    let checked = 0;
    for (const line of table.slice(1)) {
      const v = line.split(/\s+/);
      if (v[2] !== 'supernova') continue;
      const t0 = Number(v[7]);
      const lc = { kind: 'supernova' as const, t0, rise: Number(v[8]), fall: Number(v[9]) };
      for (const img of summary.images) {
        const truth = await readTruth(join(out(), img.truth));
        const row = truth.find((t) => t.object_id === Number(v[0]));
        if (row) {
          assert.ok(relativeFlux(lc, img.mjd) > 0, 'listed only while on');
          checked++;
        }
      }
    }
    assert.ok(checked > 0);
  });

  test('the same seed gives the same survey, whatever the number of workers', async () => {
    const again = join(dir, 'again');
    await simulateSurvey(again, { ...options, workers: 1 });
    const a = await readPixels(join(out(), summary.images[0].file));
    const b = await readPixels(join(again, summary.images[0].file));
    assert.deepEqual(b.data, a.data);
    assert.equal(
      await readFile(join(again, summary.images[0].truth), 'utf8'),
      await readFile(join(out(), summary.images[0].truth), 'utf8'),
    );
    const other = join(dir, 'other');
    await simulateSurvey(other, { ...options, seed: 8 });
    const c = await readPixels(join(other, summary.images[0].file));
    assert.notDeepEqual(c.data, a.data);
  });

  test('truth x, y agree with astropy’s sky→pixel through the written WCS within 0.001 px', async (t) => {
    if (!requireTool(t, 'astropy', hasPythonModule('astropy'))) return;
    let worst = 0;
    for (const img of summary.images.slice(0, 4)) {
      const truth = await readTruth(join(out(), img.truth));
      const script = `
import sys, json, numpy as np
from astropy.io import fits
from astropy.wcs import WCS
h = fits.getheader(sys.argv[1], 0)
w = WCS(h)
d = json.load(sys.stdin)
x, y = w.all_world2pix(np.array(d['ra']), np.array(d['dec']), 0, tolerance=1e-10, maxiter=100)
print(json.dumps({'x': x.tolist(), 'y': y.tolist()}))
`;
      const ref = JSON.parse(
        runPython(
          script,
          [join(out(), img.file)],
          JSON.stringify({ ra: truth.map((r) => r.ra), dec: truth.map((r) => r.dec) }),
        ),
      );
      truth.forEach((r, i) => {
        worst = Math.max(worst, Math.abs(r.x - ref.x[i]), Math.abs(r.y - ref.y[i]));
      });
    }
    // Truth is written with 6 decimals; the WCS itself agrees far better.
    assert.ok(worst < 1e-3, `worst difference ${worst} px`);
  });
});

describe('a reference season before the transients', () => {
  test('--transients-from: no supernova or flare light before the date; the static sky is the same', async () => {
    const options = {
      tiles: 1,
      epochs: 5,
      filters: ['F158'],
      size: 256,
      transientsPerImage: 200,
      seed: 3,
      workers: 1,
    };
    const plain = join(dir, 'plain');
    const late = join(dir, 'late');
    await simulateSurvey(plain, options);
    await simulateSurvey(late, { ...options, transientsFrom: '2028-09-11' });
    const from = 62021; // MJD of 2028-09-11
    const kinds = new Map(
      (await readFile(join(late, 'Roman_TDS_transients.txt'), 'utf8'))
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s+/))
        .map((v) => [v[0], v[2]]),
    );
    const rows = (await readFile(join(late, 'Roman_TDS_lightcurves.txt'), 'utf8'))
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(/\s+/));
    const transient = rows.filter((v) => kinds.get(v[0]) === 'supernova' || kinds.get(v[0]) === 'flare');
    assert.ok(transient.length > 5, `only ${transient.length} transient rows`);
    for (const v of transient)
      assert.ok(Number(v[5]) >= from, `${kinds.get(v[0])} ${v[0]} on at MJD ${v[5]}`);
    // Before the date the sky is the plain survey's without its transients: stars and galaxies
    // of the first epoch are the same objects with the same fluxes.
    const statics = async (root: string) =>
      (await readFile(join(root, 'truth/H158/0/Roman_TDS_index_H158_0_1.txt'), 'utf8'))
        .split('\n')
        .filter((l) => / (star|galaxy)$/.test(l))
        .map((l) => l.split(/\s+/).slice(0, 5).join(' '));
    assert.deepEqual(await statics(late), await statics(plain));
  });
});

describe('simulated detector', () => {
  test('noise-free: aperture flux of isolated bright stars equals the injected flux within 1%', async () => {
    const out = join(dir, 'noiseless');
    const s = await simulateSurvey(out, {
      epochs: 1,
      size: 512,
      noise: false,
      background: false,
      psfVariation: 0,
      starDensity: 20000,
      transientsPerImage: 0,
    });
    const { data, width } = await readPixels(join(out, s.images[0].file));
    const truth = await readTruth(join(out, s.images[0].truth));
    const psf = phaseStamps({ kind: 'moffat', fwhm: 1.2, beta: 2.5 });
    const r = psf.radius + 0.5;
    let tested = 0;
    for (const star of truth) {
      if (star.obj_type !== 'star' || star.mag > 22) continue;
      if (star.x < r + 2 || star.y < r + 2 || star.x > width - r - 3 || star.y > width - r - 3) continue;
      // Isolated: nothing brighter than 0.5% of the star within twice the aperture.
      const crowded = truth.some(
        (o) =>
          o !== star && Math.hypot(o.x - star.x, o.y - star.y) < 2 * r + 10 && o.flux > 0.005 * star.flux,
      );
      if (crowded) continue;
      let sum = 0;
      for (let y = Math.floor(star.y - r); y <= Math.ceil(star.y + r); y++) {
        for (let x = Math.floor(star.x - r); x <= Math.ceil(star.x + r); x++) {
          if (Math.hypot(x - star.x, y - star.y) <= r) sum += data[y * width + x];
        }
      }
      assert.ok(
        Math.abs(sum / star.flux - 1) < 0.01,
        `star ${star.object_id}: aperture ${sum} vs ${star.flux}`,
      );
      tested++;
    }
    assert.ok(tested >= 5, `only ${tested} isolated bright stars`);
  });

  test('blank sky: the measured background mean and variance match the model within 1%', () => {
    const plan = planSurvey({ ...DEFAULT_SURVEY, epochs: 1, size: 1024 })[0];
    const model = { ...detectorModel(plan, DEFAULT_INSTRUMENT), cosmicRate: 0, badPixelFraction: 0 };
    const data = new Float32Array(1024 * 1024);
    renderRows(
      data,
      model,
      { seed: 3, label: 'sky', noise: true, background: true },
      [],
      [{ kind: 'moffat', fwhm: 1.2, beta: 2.5 }],
      0,
      1024,
    );
    let sum = 0;
    for (const v of data) sum += v;
    const mean = sum / data.length;
    let ss = 0;
    for (const v of data) ss += (v - mean) ** 2;
    const variance = ss / (data.length - 1);
    assert.ok(Math.abs(mean / skyLevel(model) - 1) < 0.01, `mean ${mean} vs ${skyLevel(model)}`);
    assert.ok(
      Math.abs(variance / skyVariance(model) - 1) < 0.01,
      `variance ${variance} vs ${skyVariance(model)}`,
    );
  });

  test('cosmic rays and bad pixels appear at the configured rates; bad pixels stay put', () => {
    const plan = planSurvey({ ...DEFAULT_SURVEY, epochs: 1, size: 1024 })[0];
    const model = { ...detectorModel(plan, DEFAULT_INSTRUMENT), cosmicRate: 50, badPixelFraction: 1e-3 };
    const draw = (label: string) => {
      const data = new Float32Array(1024 * 1024);
      const r = renderRows(
        data,
        model,
        { seed: 1, label, noise: true, background: true },
        [],
        [{ kind: 'moffat', fwhm: 1.2, beta: 2.5 }],
        0,
        1024,
      );
      return { data, ...r };
    };
    const a = draw('a');
    const b = draw('b');
    const expectedCr = (50 * 1024 * 1024 * model.exptime) / 1e6 / 100;
    assert.ok(
      Math.abs(a.cosmicRays - expectedCr) < 5 * Math.sqrt(expectedCr),
      `${a.cosmicRays} vs ${expectedCr}`,
    );
    const dead = (d: Float32Array) => {
      const s = new Set<number>();
      d.forEach((v, i) => {
        if (v === 0) s.add(i);
      });
      return s;
    };
    const da = dead(a.data);
    const db = dead(b.data);
    assert.ok(Math.abs(da.size - 524) < 5 * Math.sqrt(524), `dead pixels ${da.size}`);
    assert.deepEqual([...da].sort(), [...db].sort(), 'the same dead pixels in two exposures');
  });

  test('the 5σ depth measured on an F158 exposure agrees with the noise model within 0.1 mag', async () => {
    const out = join(dir, 'depth');
    const common = {
      epochs: 1,
      size: 1024,
      filters: ['F158'],
      psfVariation: 0,
      transientsPerImage: 0,
      seed: 11,
    };
    const s = await simulateSurvey(out, common);
    const clean = await simulateSurvey(join(dir, 'depth-clean'), {
      ...common,
      noise: false,
      background: false,
    });
    const fits = await readFits(join(out, s.images[0].file));
    const header = fits.hdus[0].header;
    const { data, width } = await readPixels(join(out, s.images[0].file));
    const model = await readPixels(join(dir, 'depth-clean', clean.images[0].file));
    const plan = planSurvey({ ...DEFAULT_SURVEY, ...common })[0];
    const det = detectorModel(plan, DEFAULT_INSTRUMENT);
    const psf = phaseStamps({ kind: 'moffat', fwhm: nominalFwhm(plan), beta: 2.5 });
    const sky = skyLevel(det);
    const sigmaPix = Math.sqrt(skyVariance(det));
    // PSF-fit flux at random blank places (where sources add < 0.05σ per pixel).
    const rng = new Random(5, 'depth');
    const fluxes: number[] = [];
    const stamp = new Float32Array(width * width);
    const R = psf.radius;
    while (fluxes.length < 3000) {
      const x = rng.range(R + 2, width - R - 3);
      const y = rng.range(R + 2, width - R - 3);
      let blank = true;
      for (let yy = Math.round(y) - R; yy <= Math.round(y) + R && blank; yy++) {
        for (let xx = Math.round(x) - R; xx <= Math.round(x) + R; xx++) {
          if (model.data[yy * width + xx] > 0.05 * sigmaPix) {
            blank = false;
            break;
          }
        }
      }
      if (!blank) continue;
      drawPoint(stamp, width, width, psf, x, y, 1);
      let num = 0;
      let den = 0;
      for (let yy = Math.round(y) - R; yy <= Math.round(y) + R; yy++) {
        for (let xx = Math.round(x) - R; xx <= Math.round(x) + R; xx++) {
          const p = stamp[yy * width + xx];
          const v = data[yy * width + xx];
          stamp[yy * width + xx] = 0;
          if (v <= 0 || v >= det.saturation) continue; // bad pixels
          num += p * (v - sky);
          den += p * p;
        }
      }
      fluxes.push(num / den);
    }
    fluxes.sort((a, b) => a - b);
    const median = fluxes[fluxes.length >> 1];
    const mad = fluxes.map((f) => Math.abs(f - median)).sort((a, b) => a - b)[fluxes.length >> 1] * 1.4826;
    // 5σ limit with the measured background noise, plus the model's source-noise term.
    const predicted = predictedLimitFlux(det, psf);
    const backgroundOnly = predictedLimitFlux({ ...det, readNoise: 0, background: 0, dark: 0 }, psf);
    const k = backgroundOnly / 25; // F·k is the source-noise variance at the limit
    const measured = (25 * k + Math.sqrt(625 * k * k + 100 * mad * mad)) / 2;
    const zp = header.number('ZPTMAG');
    const depthModel = zp - 2.5 * Math.log10(predicted);
    const depthMeasured = zp - 2.5 * Math.log10(measured);
    console.error(
      `# F158 ${det.exptime} s: 5σ depth measured ${depthMeasured.toFixed(3)}, model ${depthModel.toFixed(3)}`,
    );
    assert.ok(Math.abs(depthMeasured - depthModel) < 0.1, `measured ${depthMeasured} vs model ${depthModel}`);
    assert.ok(Math.abs(median) < 0.2 * mad, 'blank-sky fluxes are unbiased');
  });
});

describe('SourceExtractor on a simulated image', () => {
  test('finds ≥ 95% of stars 3 mag above the 5σ limit within 0.1 px, and the PSF FWHM within 10%', async (t) => {
    if (!requireTool(t, 'source-extractor', hasCommand('source-extractor'))) return;
    const out = join(dir, 'sextractor');
    const s = await simulateSurvey(out, {
      epochs: 1,
      size: 2048,
      filters: ['F213'],
      starDensity: 15000,
      psfVariation: 0,
      transientsPerImage: 0,
      seed: 3,
    });
    const img = s.images[0];
    const plan = planSurvey({ ...DEFAULT_SURVEY, epochs: 1, size: 2048, filters: ['F213'], seed: 3 })[0];
    const det = detectorModel(plan, DEFAULT_INSTRUMENT);
    const profile = { kind: 'moffat' as const, fwhm: nominalFwhm(plan), beta: 2.5 };
    const limit = predictedLimitFlux(det, phaseStamps(profile));
    // SourceExtractor reads plain FITS: decompress our .fits.gz with our own reader and writer.
    const fits = await readFits(join(out, img.file));
    const pixels = readImage(fits.hdu(1));
    const plain = join(dir, 'k213.fits');
    const { writeFits } = await import('../src/fits/index.ts');
    await writeFits(plain, [{ data: pixels.data, shape: pixels.shape, header: fits.hdus[0].header }]);
    const param = join(dir, 'se.param');
    await writeFile(param, 'NUMBER\nXWIN_IMAGE\nYWIN_IMAGE\nFLUX_AUTO\nFLUX_MAX\nFWHM_IMAGE\nFLAGS\n');
    const catalog = join(dir, 'k213.cat');
    const conf = '/usr/share/source-extractor';
    run(
      'source-extractor',
      [
        plain,
        '-c',
        `${conf}/default.sex`,
        '-PARAMETERS_NAME',
        param,
        '-FILTER_NAME',
        `${conf}/default.conv`,
        '-STARNNW_NAME',
        `${conf}/default.nnw`,
        '-CATALOG_NAME',
        catalog,
        '-CATALOG_TYPE',
        'ASCII_HEAD',
        '-DETECT_THRESH',
        '3',
        '-DETECT_MINAREA',
        '5',
        '-SATUR_LEVEL',
        String(det.saturation),
        '-GAIN',
        '1',
        '-VERBOSE_TYPE',
        'QUIET',
      ],
      { cwd: dir },
    );
    const rows = (await readFile(catalog, 'utf8'))
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'))
      .map((l) => l.trim().split(/\s+/).map(Number));
    const truth = await readTruth(join(out, img.truth));
    const zp = fits.hdus[0].header.number('ZPTMAG');
    const limitMag = zp - 2.5 * Math.log10(limit);
    const bright = truth.filter(
      (o) =>
        o.obj_type === 'star' &&
        o.mag < limitMag - 3 &&
        o.realized_flux * 0.25 < det.saturation * 0.8 &&
        o.x > 10 &&
        o.y > 10 &&
        o.x < 2037 &&
        o.y < 2037,
    );
    let found = 0;
    const fwhms: number[] = [];
    for (const star of bright) {
      let best = Infinity;
      let bestRow: number[] | undefined;
      for (const r of rows) {
        const d = Math.hypot(r[1] - 1 - star.x, r[2] - 1 - star.y);
        if (d < best) {
          best = d;
          bestRow = r;
        }
      }
      if (best < 0.1) found++;
      if (best < 0.1 && bestRow && bestRow[6] === 0 && star.mag < limitMag - 4) fwhms.push(bestRow[5]);
    }
    const share = found / bright.length;
    fwhms.sort((a, b) => a - b);
    const fwhm = fwhms[fwhms.length >> 1];
    const expected = effectiveFwhm(profile);
    console.error(
      `# SourceExtractor: ${found}/${bright.length} stars brighter than ${(limitMag - 3).toFixed(2)} found within 0.1 px (${(100 * share).toFixed(1)}%); FWHM ${fwhm} vs ${expected.toFixed(3)} px (optical ${profile.fwhm.toFixed(3)})`,
    );
    assert.ok(bright.length >= 100, `${bright.length} bright stars`);
    assert.ok(share >= 0.95, `found ${(100 * share).toFixed(1)}%`);
    assert.ok(Math.abs(fwhm / expected - 1) < 0.1, `FWHM ${fwhm} vs ${expected}`);
  });
});

describe('rapid simulate', () => {
  test('writes the images and prints a summary; --json prints it as JSON', () => {
    const out = join(dir, 'cli');
    const r = rapid([
      'simulate',
      '--out',
      out,
      '--tiles',
      '2',
      '--epochs',
      '2',
      '--size',
      '128',
      '--filters',
      'H158',
      '--json',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.counts.images, 4);
    assert.match(r.stderr, /"event":"progress"/);
  });

  test('invalid options get one clear line and exit 64', () => {
    for (const [args, message] of [
      [['--filters', 'F999'], /unknown Roman filter 'F999'/],
      [['--size', '10'], /--size must be/],
      [['--epochs', 'two'], /--epochs must be a number/],
      [['--psf', 'gauss'], /--psf must be moffat or airy/],
      [['--transients-from', 'soon'], /--transients-from must be a date/],
    ] as const) {
      const r = rapid(['simulate', '--out', join(dir, 'bad'), ...args]);
      assert.equal(r.status, 64, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    const missing = rapid(['simulate']);
    assert.equal(missing.status, 64);
  });
});

test('astropy reads simulated values as written (noise model check independent of our reader)', async (t) => {
  if (!requireTool(t, 'astropy', hasPythonModule('astropy'))) return;
  const out = join(dir, 'astropy');
  const s = await simulateSurvey(out, { epochs: 1, size: 128 });
  const ours = await readPixels(join(out, s.images[0].file));
  const stats = JSON.parse(
    runPython(
      `import sys, json, numpy as np
from astropy.io import fits
d = fits.getdata(sys.argv[1], 1).astype(np.float64)
print(json.dumps({'sum': float(d.sum()), 'first': float(d[0, 0]), 'last': float(d[-1, -1])}))`,
      [join(out, s.images[0].file)],
    ),
  );
  let sum = 0;
  for (const v of ours.data) sum += v;
  assert.ok(Math.abs(stats.sum - sum) < 1e-6 * Math.abs(sum));
  assert.equal(stats.first, ours.data[0]);
  assert.equal(stats.last, ours.data[ours.data.length - 1]);
});
