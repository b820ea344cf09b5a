/**
 * The survey simulator: plans the survey, draws every exposure on all cores, and writes images
 * and truth in OpenUniverse 2024's layout:
 *
 *   images/simple_model/{band}/{pointing}/Roman_TDS_simple_model_{band}_{pointing}_{sca}.fits.gz
 *   truth/{band}/{pointing}/Roman_TDS_index_{band}_{pointing}_{sca}.txt
 *
 * plus survey-level tables of the transients and their light curves, and summary.json.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFits } from '../fits/index.ts';
import { UsageError } from '../util/errors.ts';
import { WorkerPool, workerUrl } from '../util/pool.ts';
import { VERSION } from '../version.ts';
import { Wcs } from '../wcs/index.ts';
import {
  DEFAULT_INSTRUMENT,
  detectorModel,
  exposureHeader,
  type InstrumentOptions,
  placeObjects,
  psfLevels,
  type TruthRow,
  tilesUnder,
  zeroPoint,
} from './exposure.ts';
import { type PlacedSource, STRIP_ROWS } from './render.ts';
import { DEFAULT_SKY, type SkyModel, type SkyObject, tileObjects } from './sky.ts';
import {
  checkSurvey,
  DEFAULT_SURVEY,
  type ImagePlan,
  mjdFromDate,
  planSurvey,
  type SurveyOptions,
  utcDate,
} from './survey.ts';
import type { BandTask } from './worker.ts';

export interface SimulateOptions extends SurveyOptions, InstrumentOptions {
  /** Stars per deg² per magnitude at F158 = 20 (a denser field for star-hungry tests). */
  starDensity: number;
  /** Galaxies per deg² per magnitude at F158 = 22. */
  galaxyDensity: number;
  /** Worker threads (default: every core). */
  workers?: number;
}

export const DEFAULT_SIMULATION: SimulateOptions = {
  ...DEFAULT_SURVEY,
  ...DEFAULT_INSTRUMENT,
  starDensity: DEFAULT_SKY.starDensity,
  galaxyDensity: DEFAULT_SKY.galaxyDensity,
};

export interface SimulatedImage {
  plan: ImagePlan;
  /** Paths relative to the output folder. */
  image: string;
  truth: string;
  sources: number;
  cosmicRays: number;
  saturated: number;
}

export interface SimulationSummary {
  software: string;
  seed: number;
  options: Omit<SimulateOptions, 'workers'>;
  filters: string[];
  epochs: { epoch: number; mjd: number; dateObs: string }[];
  tiles: { nside: number; ids: number[] };
  counts: { images: number; stars: number; galaxies: number; transients: number; variables: number };
  images: {
    file: string;
    truth: string;
    band: string;
    pointing: number;
    sca: number;
    mjd: number;
    tile: number;
    zeropoint: number;
  }[];
}

export interface Progress {
  done: number;
  total: number;
  image: string;
}

export function imageName(plan: ImagePlan): string {
  return `Roman_TDS_simple_model_${plan.filter.band}_${plan.pointing}_${plan.sca}.fits.gz`;
}

export function truthName(plan: ImagePlan): string {
  return `Roman_TDS_index_${plan.filter.band}_${plan.pointing}_${plan.sca}.txt`;
}

function imagePath(plan: ImagePlan): string {
  return join('images', 'simple_model', plan.filter.band, String(plan.pointing), imageName(plan));
}

function truthPath(plan: ImagePlan): string {
  return join('truth', plan.filter.band, String(plan.pointing), truthName(plan));
}

/** Truth rows as OpenUniverse writes them: a header line of names, then whitespace-separated values. */
export function formatTruth(rows: readonly TruthRow[]): string {
  const lines = ['object_id ra dec x y realized_flux flux mag obj_type'];
  for (const r of rows) {
    lines.push(
      [
        r.object_id,
        r.ra.toFixed(10),
        r.dec.toFixed(10),
        r.x.toFixed(6),
        r.y.toFixed(6),
        r.realized_flux.toPrecision(9),
        r.flux.toPrecision(9),
        r.mag.toFixed(6),
        r.obj_type,
      ].join(' '),
    );
  }
  return `${lines.join('\n')}\n`;
}

async function writeText(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/** The sky model implied by the survey: transients per image become a density on the sky. */
export function skyModelFor(o: SimulateOptions, plans: readonly ImagePlan[]): SkyModel {
  const side = (o.size * 0.11) / 3600;
  if (!(o.starDensity >= 0) || !(o.galaxyDensity >= 0))
    throw new UsageError('star and galaxy densities must be ≥ 0');
  return {
    ...DEFAULT_SKY,
    starDensity: o.starDensity,
    galaxyDensity: o.galaxyDensity,
    transientDensity: o.transientsPerImage / (side * side),
    mjdStart: plans[0].mjd,
    mjdEnd: plans[plans.length - 1].mjd,
    cadenceDays: o.cadenceDays,
    transientsFrom: o.transientsFrom === undefined ? undefined : mjdFromDate(utcDate(o.transientsFrom)),
  };
}

/**
 * Draw one exposure on the pool. Returns the pixels (in a SharedArrayBuffer) and the truth
 * rows with realized fluxes.
 */
async function drawExposure(
  pool: WorkerPool,
  plan: ImagePlan,
  o: SimulateOptions,
  objects: readonly SkyObject[],
  wcs: Wcs,
): Promise<{
  data: Float32Array;
  truth: TruthRow[];
  sources: PlacedSource[];
  cosmicRays: number;
  saturated: number;
}> {
  const profiles = psfLevels(plan, o);
  const { sources, truth } = placeObjects(plan, wcs, objects, profiles.length);
  const model = detectorModel(plan, o);
  const buffer = new SharedArrayBuffer(plan.size * plan.size * 4);
  const strips = Math.ceil(plan.size / STRIP_ROWS);
  // A few bands per worker balance the load; bands are whole strips.
  const bands = Math.min(strips, pool.size * 4);
  const tasks: Promise<{ added: Float64Array; cosmicRays: number; saturated: number }>[] = [];
  for (let b = 0; b < bands; b++) {
    const s0 = Math.floor((b * strips) / bands);
    const s1 = Math.floor(((b + 1) * strips) / bands);
    const rowStart = s0 * STRIP_ROWS;
    const rowEnd = Math.min(plan.size, s1 * STRIP_ROWS);
    // Only the sources that can reach the band travel to the worker.
    const reach = 100;
    const index: number[] = [];
    const local: PlacedSource[] = [];
    sources.forEach((s, i) => {
      if (s.y + reach >= rowStart && s.y - reach < rowEnd) {
        index.push(i);
        local.push(s);
      }
    });
    const task: BandTask = {
      buffer,
      model,
      options: {
        seed: o.seed,
        label: `${plan.pointing}/${plan.sca}`,
        noise: o.noise,
        background: o.background,
      },
      sources: local,
      profiles,
      rowStart,
      rowEnd,
    };
    tasks.push(
      pool.run<{ added: Float64Array; cosmicRays: number; saturated: number }>(task).then((r) => {
        const added = new Float64Array(sources.length);
        index.forEach((i, k) => {
          added[i] = r.added[k];
        });
        return { ...r, added };
      }),
    );
  }
  const results = await Promise.all(tasks);
  const added = new Float64Array(sources.length);
  let cosmicRays = 0;
  let saturated = 0;
  for (const r of results) {
    for (let i = 0; i < added.length; i++) added[i] += r.added[i];
    cosmicRays += r.cosmicRays;
    saturated += r.saturated;
  }
  const rows: TruthRow[] = truth.map(({ source, ...t }) => ({ ...t, realized_flux: added[source] }));
  return { data: new Float32Array(buffer), truth: rows, sources, cosmicRays, saturated };
}

/** Simulate a survey into `out`. Resolves to the summary (also written as summary.json). */
export async function simulateSurvey(
  out: string,
  options: Partial<SimulateOptions> = {},
  onProgress: (p: Progress) => void = () => {},
): Promise<SimulationSummary> {
  const o: SimulateOptions = { ...DEFAULT_SIMULATION, ...options };
  checkSurvey(o);
  if (o.psfFwhm !== undefined && !(o.psfFwhm >= 0.3 && o.psfFwhm <= 20)) {
    throw new UsageError(`--psf-fwhm must be between 0.3 and 20 pixels, got ${o.psfFwhm}`);
  }
  const plans = planSurvey(o);
  const sky = skyModelFor(o, plans);
  const tileCache = new Map<number, SkyObject[]>();
  const objectsOf = (tile: number) => {
    let v = tileCache.get(tile);
    if (!v) {
      v = tileObjects(tile, o.nside, o.seed, sky);
      tileCache.set(tile, v);
    }
    return v;
  };
  await mkdir(out, { recursive: true });
  const pool = new WorkerPool(workerUrl(import.meta.url, 'worker'), o.workers);
  const images: SimulatedImage[] = [];
  const lightCurveLines: string[] = ['object_id obj_type band pointing sca mjd x y realized_flux flux mag'];
  const seenVariable = new Map<number, SkyObject>();
  // At most two exposures are being written while the next is drawn: bounded memory.
  const writing: Promise<void>[] = [];
  try {
    for (let k = 0; k < plans.length; k++) {
      const plan = plans[k];
      const header = exposureHeader(plan, o, o.seed);
      const wcs = Wcs.fromHeader(header);
      const objects = tilesUnder(wcs, plan.size, o.nside, 80).flatMap(objectsOf);
      const drawn = await drawExposure(pool, plan, o, objects, wcs);
      const byId = new Map(objects.map((ob) => [ob.id, ob]));
      for (const t of drawn.truth) {
        const ob = byId.get(t.object_id);
        if (ob?.lightCurve) {
          seenVariable.set(ob.id, ob);
          lightCurveLines.push(
            [
              t.object_id,
              t.obj_type,
              plan.filter.band,
              plan.pointing,
              plan.sca,
              plan.mjd.toFixed(6),
              t.x.toFixed(4),
              t.y.toFixed(4),
              t.realized_flux.toPrecision(9),
              t.flux.toPrecision(9),
              t.mag.toFixed(6),
            ].join(' '),
          );
        }
      }
      const image = imagePath(plan);
      const truth = truthPath(plan);
      await mkdir(join(out, 'images', 'simple_model', plan.filter.band, String(plan.pointing)), {
        recursive: true,
      });
      await mkdir(join(out, 'truth', plan.filter.band, String(plan.pointing)), { recursive: true });
      while (writing.length >= 2) await writing.shift();
      writing.push(
        Promise.all([
          writeFits(join(out, image), [
            { data: [], shape: [], header },
            { data: drawn.data, shape: [plan.size, plan.size], header, name: 'SCI' },
          ]),
          writeText(join(out, truth), formatTruth(drawn.truth)),
        ]).then(() => undefined),
      );
      images.push({
        plan,
        image,
        truth,
        sources: drawn.sources.length,
        cosmicRays: drawn.cosmicRays,
        saturated: drawn.saturated,
      });
      onProgress({ done: k + 1, total: plans.length, image });
    }
    await Promise.all(writing);
  } finally {
    await pool.close();
  }

  // Survey-level tables: the transients and variables seen, and their light curves.
  const transientLines = [
    'object_id obj_type kind ra dec host_id mag_F158 t0 rise fall period amplitude decay explosion',
  ];
  for (const ob of [...seenVariable.values()].sort((a, b) => a.id - b.id)) {
    const lc = ob.lightCurve!;
    const f = (v: number | undefined, d = 4) => (v === undefined ? 'nan' : v.toFixed(d));
    transientLines.push(
      [
        ob.id,
        ob.type,
        lc.kind,
        ob.ra.toFixed(10),
        ob.dec.toFixed(10),
        ob.host ?? -1,
        ob.mag.toFixed(4),
        f('t0' in lc ? lc.t0 : undefined, 5),
        f(lc.kind === 'supernova' ? lc.rise : undefined),
        f(lc.kind === 'supernova' ? lc.fall : undefined),
        f(lc.kind === 'variable' ? lc.period : undefined, 6),
        f(lc.kind === 'variable' ? lc.amplitude : undefined),
        f(lc.kind === 'flare' ? lc.decay : undefined),
        f(lc.kind === 'supernova' ? lc.explosion : undefined, 5),
      ].join(' '),
    );
  }
  await writeText(join(out, 'Roman_TDS_transients.txt'), `${transientLines.join('\n')}\n`);
  await writeText(join(out, 'Roman_TDS_lightcurves.txt'), `${lightCurveLines.join('\n')}\n`);

  const allObjects = [...tileCache.values()].flat();
  const count = (t: string) => allObjects.filter((x) => x.type === t).length;
  const epochs = new Map<number, { epoch: number; mjd: number; dateObs: string }>();
  for (const p of plans)
    if (!epochs.has(p.epoch)) epochs.set(p.epoch, { epoch: p.epoch, mjd: p.mjd, dateObs: p.dateObs });
  const { workers: _w, ...recorded } = o;
  const summary: SimulationSummary = {
    software: `rapid-ts ${VERSION}`,
    seed: o.seed,
    options: recorded,
    filters: [...new Set(plans.map((p) => p.filter.name))],
    epochs: [...epochs.values()],
    tiles: { nside: o.nside, ids: [...new Set(plans.map((p) => p.tile))] },
    counts: {
      images: plans.length,
      stars: count('star'),
      galaxies: count('galaxy'),
      transients: count('transient'),
      variables: count('variable'),
    },
    images: images.map((i) => ({
      file: i.image,
      truth: i.truth,
      band: i.plan.filter.band,
      pointing: i.plan.pointing,
      sca: i.plan.sca,
      mjd: i.plan.mjd,
      tile: i.plan.tile,
      zeropoint: zeroPoint(i.plan),
    })),
  };
  await writeText(join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}
