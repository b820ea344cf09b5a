/**
 * Cross-checks of source extraction against SourceExtractor:
 *
 * 1. The NTT image (test/data/real/sep-ntt) with its default.sex and default.param against
 *    SourceExtractor's own catalog image.cat: ≥ 63 of 65 objects within 0.5 px, FLUX_APER within
 *    0.5% and FLUX_AUTO within 2% (medians), FLAGS identical for ≥ 95% of the matches.
 * 2. The ASCII_HEAD header of every supported column, byte for byte against source-extractor's.
 * 3. A simulated Roman image (src/sim) with RAPID's settings, against source-extractor run here
 *    with the same settings: ≥ 98% of its detections above 10σ matched, fluxes within 2% (medians).
 * 4. PSF-fit fluxes of simulated isolated stars with S/N > 20, against the simulator's truth:
 *    unbiased within 1% (median), with a PsfModel from the simulator's own PSF (src/sim/psf.ts).
 *
 * The measured figures are printed as test diagnostics (lines starting with #).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readFits, readImage, writeFits } from '../src/fits/index.ts';
import { interpolateMesh, measureBackgroundMesh } from '../src/image/background.ts';
import {
  type AsciiCatalog,
  COLUMNS,
  extractSources,
  Flag,
  parseAsciiCatalog,
} from '../src/image/extract/index.ts';
import type { PsfModel } from '../src/image/psf/model.ts';
import { runExtract } from '../src/pipeline/extract.ts';
import { type PhaseStamps, phaseStamps } from '../src/sim/psf.ts';
import { simulateSurvey } from '../src/sim/simulate.ts';
import { TEST_DATA } from './support/cli.ts';
import { hasCommand, requireTool, run } from './support/tools.ts';

const NTT = join(TEST_DATA, 'real/sep-ntt');
const CONF = '/usr/share/source-extractor';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rapid-extract-ref-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** For each row of `ref`, the nearest row of `ours` (by X_IMAGE, Y_IMAGE) and its distance. */
function match(ours: AsciiCatalog, ref: AsciiCatalog, rows: number[]): { i: number; j: number; d: number }[] {
  const ox = ours.get('X_IMAGE');
  const oy = ours.get('Y_IMAGE');
  const rx = ref.get('X_IMAGE');
  const ry = ref.get('Y_IMAGE');
  // A coarse grid keeps this linear.
  const cell = 8;
  const grid = new Map<string, number[]>();
  ox.forEach((x, i) => {
    const k = `${Math.floor(x / cell)},${Math.floor(oy[i] / cell)}`;
    (grid.get(k) ?? grid.set(k, []).get(k)!).push(i);
  });
  return rows.map((j) => {
    let best = -1;
    let bd = Number.POSITIVE_INFINITY;
    const cx = Math.floor(rx[j] / cell);
    const cy = Math.floor(ry[j] / cell);
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        for (const i of grid.get(`${cx + dx},${cy + dy}`) ?? []) {
          const d = Math.hypot(ox[i] - rx[j], oy[i] - ry[j]);
          if (d < bd) {
            bd = d;
            best = i;
          }
        }
      }
    }
    return { i: best, j, d: bd };
  });
}

/** Median |ours/ref − 1| of a column over matched pairs (pairs where ref is 0 are left out). */
function medianRelative(
  ours: AsciiCatalog,
  ref: AsciiCatalog,
  pairs: { i: number; j: number }[],
  name: string,
  k = 0,
): number {
  const a = ours.get(name, k);
  const b = ref.get(name, k);
  return median(pairs.filter((p) => b[p.j] !== 0).map((p) => Math.abs(a[p.i] / b[p.j] - 1)));
}

describe('the NTT image against SourceExtractor’s own catalog (image.cat)', () => {
  test('≥ 63 of 65 objects within 0.5 px; FLUX_APER 0.5%, FLUX_AUTO 2% (medians); FLAGS ≥ 95% identical', async () => {
    const out = join(dir, 'ntt.cat');
    await runExtract(join(NTT, 'image.fits'), {
      config: join(NTT, 'default.sex'),
      out,
      // default.sex asks for back.fits and rms.fits check-images; not here.
      set: ['CHECKIMAGE_TYPE=NONE'],
    });
    const ours = parseAsciiCatalog(await readFile(out, 'utf8'));
    const refText = await readFile(join(NTT, 'image.cat'), 'utf8');
    const ref = parseAsciiCatalog(refText);
    // The header is SourceExtractor's, line for line.
    const header = (t: string) => t.split('\n').filter((l) => l.startsWith('#'));
    assert.deepEqual(header(await readFile(out, 'utf8')), header(refText));
    const pairs = match(
      ours,
      ref,
      ref.rows.map((_, j) => j),
    ).filter((p) => p.d < 0.5);
    const aper = medianRelative(ours, ref, pairs, 'FLUX_APER');
    const auto = medianRelative(ours, ref, pairs, 'FLUX_AUTO');
    const fo = ours.get('FLAGS');
    const fr = ref.get('FLAGS');
    const sameFlags = pairs.filter((p) => fo[p.i] === fr[p.j]).length;
    const win = medianRelative(ours, ref, pairs, 'XWIN_IMAGE');
    const radius = medianRelative(ours, ref, pairs, 'FLUX_RADIUS', 1);
    console.error(
      `# NTT vs image.cat: ${pairs.length}/${ref.rows.length} matched within 0.5 px (ours ${ours.rows.length}); median |Δ| FLUX_APER ${(100 * aper).toFixed(3)}%, FLUX_AUTO ${(100 * auto).toFixed(3)}%, FLUX_RADIUS ${(100 * radius).toFixed(3)}%, XWIN ${win.toExponential(1)}; FLAGS identical ${sameFlags}/${pairs.length}`,
    );
    assert.equal(ref.rows.length, 65);
    assert.ok(pairs.length >= 63, `${pairs.length} matched`);
    assert.ok(aper < 0.005, `FLUX_APER ${aper}`);
    assert.ok(auto < 0.02, `FLUX_AUTO ${auto}`);
    assert.ok(sameFlags >= 0.95 * pairs.length, `FLAGS ${sameFlags}/${pairs.length}`);
  });

  test('the header of every supported column is source-extractor’s, byte for byte', async (t) => {
    if (!requireTool(t, 'source-extractor')) return;
    // Every column SourceExtractor can compute without a PSF, a WCS or our additions.
    const names = [...COLUMNS.values()]
      .filter((c) => c.requires === undefined && !['SNR_PSF', 'FLAGS_PSF', 'ISDIFFPOS'].includes(c.name))
      .map((c) => (c.vector ? `${c.name}(2)` : c.name));
    const param = join(dir, 'all.param');
    await writeFile(param, `${names.join('\n')}\n`);
    const se = join(dir, 'all-se.cat');
    run(
      'source-extractor',
      [
        join(NTT, 'image.fits'),
        '-c',
        join(NTT, 'default.sex'),
        '-PARAMETERS_NAME',
        param,
        '-CATALOG_NAME',
        se,
        '-CHECKIMAGE_TYPE',
        'NONE',
        '-FILTER_NAME',
        join(NTT, 'default.conv'),
        '-PHOT_APERTURES',
        '5,10',
        '-VERBOSE_TYPE',
        'QUIET',
      ],
      { cwd: dir },
    );
    const ours = join(dir, 'all-ours.cat');
    await runExtract(join(NTT, 'image.fits'), {
      config: join(NTT, 'default.sex'),
      params: param,
      out: ours,
      set: ['CHECKIMAGE_TYPE=NONE', 'PHOT_APERTURES=5,10'],
    });
    const header = async (f: string) =>
      (await readFile(f, 'utf8')).split('\n').filter((l) => l.startsWith('#'));
    const a = await header(ours);
    const b = await header(se);
    assert.equal(a.length, names.length);
    assert.deepEqual(a, b);
    // And the values line up column for column: the first object's line has as many fields.
    const first = async (f: string) =>
      (await readFile(f, 'utf8')).split('\n').find((l) => l !== '' && !l.startsWith('#'))!;
    assert.equal(
      (await first(ours)).trim().split(/\s+/).length,
      (await first(se)).trim().split(/\s+/).length,
    );
  });
});

/** A PsfModel from the simulator's pixel-integrated Moffat phase stamps (as it draws stars). */
class PhasePsf implements PsfModel {
  readonly size: number;
  constructor(
    private readonly ps: PhaseStamps,
    private readonly fwhmPx: number,
  ) {
    this.size = 2 * ps.radius + 1;
  }
  fwhm(): number {
    return this.fwhmPx;
  }
  stamp(x: number, y: number, out = new Float32Array(this.size * this.size)): Float32Array {
    const S = 16;
    const phases = S + 1;
    const area = this.size * this.size;
    const tx = (x - Math.round(x) + 0.5) * S;
    const ty = (y - Math.round(y) + 0.5) * S;
    const kx = Math.min(S - 1, Math.floor(tx));
    const ky = Math.min(S - 1, Math.floor(ty));
    const fx = tx - kx;
    const fy = ty - ky;
    const st = this.ps.stamps;
    const s00 = (ky * phases + kx) * area;
    const s10 = s00 + area;
    const s01 = s00 + phases * area;
    const s11 = s01 + area;
    let sum = 0;
    for (let k = 0; k < area; k++) {
      const v =
        (1 - fx) * (1 - fy) * st[s00 + k] +
        fx * (1 - fy) * st[s10 + k] +
        (1 - fx) * fy * st[s01 + k] +
        fx * fy * st[s11 + k];
      out[k] = v;
      sum += v;
    }
    for (let k = 0; k < area; k++) out[k] /= sum;
    return out;
  }
}

interface Truth {
  x: number;
  y: number;
  realized: number;
  flux: number;
  type: string;
}

async function readTruth(path: string): Promise<Truth[]> {
  return (await readFile(path, 'utf8'))
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => {
      const v = l.split(/\s+/);
      return { x: Number(v[3]), y: Number(v[4]), realized: Number(v[5]), flux: Number(v[6]), type: v[8] };
    });
}

describe('a simulated Roman image', () => {
  let image: string;
  let truth: Truth[];
  const SETTINGS = [
    ['DETECT_MINAREA', '5'],
    ['DETECT_THRESH', '2.5'],
    ['ANALYSIS_THRESH', '2.5'],
    ['DEBLEND_NTHRESH', '32'],
    ['PHOT_APERTURES', '2,3,4,6,10,14'],
    ['FILTER_NAME', `${CONF}/default.conv`],
  ];
  before(async () => {
    const out = join(dir, 'sim');
    const s = await simulateSurvey(out, {
      epochs: 1,
      size: 1024,
      filters: ['F158'],
      psfVariation: 0,
      starDensity: 60000,
      transientsPerImage: 0,
      seed: 17,
    });
    // SourceExtractor reads plain FITS with the header in the image's HDU.
    const fits = await readFits(join(out, s.images[0].file));
    const px = readImage(fits.hdu(1));
    image = join(dir, 'sim.fits');
    await writeFits(image, [{ data: px.data, shape: px.shape, header: fits.hdus[0].header }]);
    truth = await readTruth(join(out, s.images[0].truth));
  });

  test('≥ 98% of source-extractor’s detections above 10σ matched, fluxes within 2% (medians)', async (t) => {
    if (!requireTool(t, 'source-extractor', hasCommand('source-extractor'))) return;
    const param = join(dir, 'sim.param');
    await writeFile(
      param,
      'NUMBER\nX_IMAGE\nY_IMAGE\nXWIN_IMAGE\nYWIN_IMAGE\nFLUX_APER(6)\nFLUXERR_APER(6)\nFLUX_AUTO\nFLUXERR_AUTO\nFLUX_ISO\nFLUX_RADIUS\nFWHM_IMAGE\nFLAGS\n',
    );
    const se = join(dir, 'sim-se.cat');
    run(
      'source-extractor',
      [
        image,
        '-c',
        `${CONF}/default.sex`,
        '-PARAMETERS_NAME',
        param,
        '-CATALOG_NAME',
        se,
        '-VERBOSE_TYPE',
        'QUIET',
        ...SETTINGS.flatMap(([k, v]) => [`-${k}`, v]),
      ],
      { cwd: dir },
    );
    const oursFile = join(dir, 'sim-ours.cat');
    await runExtract(image, {
      config: `${CONF}/default.sex`,
      params: param,
      out: oursFile,
      set: SETTINGS.map(([k, v]) => `${k}=${v}`),
    });
    const ref = parseAsciiCatalog(await readFile(se, 'utf8'));
    const ours = parseAsciiCatalog(await readFile(oursFile, 'utf8'));
    const f = ref.get('FLUX_AUTO');
    const e = ref.get('FLUXERR_AUTO');
    const bright = ref.rows.map((_, j) => j).filter((j) => f[j] / e[j] > 10);
    const pairs = match(ours, ref, bright);
    const matched = pairs.filter((p) => p.d < 0.5);
    const share = matched.length / bright.length;
    const auto = medianRelative(ours, ref, matched, 'FLUX_AUTO');
    const apers = [0, 1, 2, 3, 4, 5].map((k) => medianRelative(ours, ref, matched, 'FLUX_APER', k));
    const iso = medianRelative(ours, ref, matched, 'FLUX_ISO');
    const radius = medianRelative(ours, ref, matched, 'FLUX_RADIUS');
    const fo = ours.get('FLAGS');
    const fr = ref.get('FLAGS');
    const sameFlags = matched.filter((p) => fo[p.i] === fr[p.j]).length;
    console.error(
      `# simulated F158 1024²: source-extractor ${ref.rows.length}, ours ${ours.rows.length}; above 10σ ${bright.length}, matched within 0.5 px ${matched.length} (${(100 * share).toFixed(2)}%); median |Δ| FLUX_AUTO ${(100 * auto).toFixed(3)}%, FLUX_APER(2…14 px) ${apers.map((a) => (100 * a).toFixed(3)).join('/')}%, FLUX_ISO ${(100 * iso).toFixed(3)}%, FLUX_RADIUS ${(100 * radius).toFixed(3)}%; FLAGS identical ${sameFlags}/${matched.length}`,
    );
    assert.ok(bright.length > 200, `${bright.length} bright detections`);
    assert.ok(share >= 0.98, `matched ${share}`);
    assert.ok(auto < 0.02, `FLUX_AUTO ${auto}`);
    for (const a of apers) assert.ok(a < 0.02, `FLUX_APER ${apers}`);
  });

  test('PSF-fit fluxes of isolated stars with S/N > 20 are unbiased within 1%', async () => {
    const fits = await readFits(image);
    const px = readImage(fits.firstImage());
    const h = fits.hdus[0].header;
    const fwhm = h.number('PSF_FWHM');
    const data = Float32Array.from(px.data as Float32Array);
    const img = { width: px.width, height: px.height, data };
    const mesh = measureBackgroundMesh(img, { meshSize: 64, filterSize: 3 });
    const level = interpolateMesh(mesh, mesh.level, px.width, px.height);
    for (let i = 0; i < data.length; i++) data[i] -= level[i];
    const psf = new PhasePsf(phaseStamps({ kind: 'moffat', fwhm, beta: 2.5 }), fwhm);
    const W = px.width;
    const H = px.height;
    for (const fitPosition of [false, true]) {
      const r = extractSources(
        {
          image: img,
          noise: mesh.globalRms,
          background: level,
          gain: h.number('GAIN'),
          saturation: h.number('SATURATE'),
        },
        {
          config: { detectMinArea: 5, detectThresh: 2.5, analysisThresh: 2.5 },
          psf,
          psfFit: { fitPosition },
        },
      );
      const ratios: number[] = [];
      for (const s of r.sources) {
        if (!s.psf || !(s.psf.flux / s.psf.fluxErr > 20) || s.flags & Flag.SATURATED) continue;
        let best: Truth | undefined;
        let bd = Number.POSITIVE_INFINITY;
        for (const o of truth) {
          const d = Math.hypot(o.x - s.win.x, o.y - s.win.y);
          if (d < bd) {
            bd = d;
            best = o;
          }
        }
        if (!best || bd > 0.5 || best.type !== 'star') continue;
        const b = best;
        if (b.x < 12 || b.y < 12 || b.x > W - 13 || b.y > H - 13) continue;
        if (truth.some((o) => o !== b && Math.hypot(o.x - b.x, o.y - b.y) < 12 && o.flux > 0.01 * b.flux))
          continue;
        // The PSF is normalised over its stamp, as the simulator's realized flux is.
        ratios.push(s.psf.flux / b.realized - 1);
      }
      const bias = median(ratios);
      console.error(
        `# PSF fit (${fitPosition ? 'flux and position' : 'flux at XWIN, YWIN'}): ${ratios.length} isolated stars with S/N > 20, median bias ${(100 * bias).toFixed(3)}%`,
      );
      assert.ok(ratios.length >= 30, `${ratios.length} stars`);
      assert.ok(Math.abs(bias) < 0.01, `bias ${bias}`);
    }
  });
});
