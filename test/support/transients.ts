/**
 * Science quality of post-processing against the simulator's truth: do the injected transients
 * become one object each, and do their forced-photometry light curves agree with the truth?
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LightCurve } from '../../src/sim/lightcurve.ts';

export interface TruthTransient {
  id: string;
  type: string;
  ra: number;
  dec: number;
  /** Flux (image counts) by MJD, at the epochs where it was on and in the image. */
  flux: Map<number, number>;
  /** The light-curve model, for supernovae and flares (variables' phases are not written). */
  model?: LightCurve;
  /** On a host galaxy. */
  hosted: boolean;
}

/**
 * Is the transient faint (truth flux at most `limit`) in every reference input that covers it?
 * Then the reference holds (nearly) none of its light whatever the co-add's clipping did, and
 * the true difference flux is just its flux at the epoch.
 */
export function quietInReference(
  t: TruthTransient,
  reference: readonly ReferenceEpoch[],
  limit: number,
): boolean {
  const covering = reference.filter((r) => r.covers(t.ra, t.dec));
  return (
    covering.length > 0 && covering.every((r) => (t.flux.get(Math.round(r.mjd * 1e4) / 1e4) ?? 0) <= limit)
  );
}

export async function readTransients(sim: string): Promise<Map<string, TruthTransient>> {
  const out = new Map<string, TruthTransient>();
  const table = (text: string) => {
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    const names = lines[0].trim().split(/\s+/);
    return lines.slice(1).map((l) => {
      const f = l.trim().split(/\s+/);
      return Object.fromEntries(names.map((n, i) => [n, f[i]]));
    });
  };
  for (const r of table(await readFile(join(sim, 'Roman_TDS_transients.txt'), 'utf8'))) {
    const model: LightCurve | undefined =
      r.kind === 'supernova'
        ? { kind: 'supernova', t0: Number(r.t0), rise: Number(r.rise), fall: Number(r.fall) }
        : r.kind === 'flare'
          ? { kind: 'flare', t0: Number(r.t0), decay: Number(r.decay) }
          : undefined;
    out.set(r.object_id, {
      id: r.object_id,
      type: r.obj_type,
      ra: Number(r.ra),
      dec: Number(r.dec),
      flux: new Map(),
      model,
      hosted: r.host_id !== '-1',
    });
  }
  for (const r of table(await readFile(join(sim, 'Roman_TDS_lightcurves.txt'), 'utf8')))
    out.get(r.object_id)?.flux.set(Math.round(Number(r.mjd) * 1e4) / 1e4, Number(r.flux));
  return out;
}

export interface Detection {
  id: number;
  ra: number;
  dec: number;
  mjd: number;
  objectId: number;
}

export interface ForcedPoint {
  objectId: number;
  mjd: number;
  flux: number;
  fluxErr: number;
}

export interface AssociationQuality {
  /** Transients detected at two epochs or more. */
  eligible: number;
  /** Of those, the ones whose detections all joined one object. */
  oneObject: number;
  /** Transients whose detections are spread over several objects. */
  splits: string[];
  /** Objects holding detections of more than one transient. */
  merges: number[];
  /** Of those, the ones whose transients are within `blendRadius` of each other (blends). */
  blends: number[];
  /** Object of each eligible transient. */
  objectOf: Map<string, number>;
}

const sep = (a: { ra: number; dec: number }, b: { ra: number; dec: number }) =>
  Math.hypot((a.ra - b.ra) * Math.cos((a.dec * Math.PI) / 180), a.dec - b.dec) * 3600;

/** Match each detection to the nearest transient within `radius` arcsec; judge the objects. */
export function associationQuality(
  truth: Map<string, TruthTransient>,
  detections: readonly Detection[],
  radius = 0.35,
  blendRadius = 0.4,
): AssociationQuality {
  const list = [...truth.values()];
  // A coarse grid in declination keeps the matching fast.
  const byCell = new Map<number, TruthTransient[]>();
  const cellOf = (dec: number) => Math.floor(dec * 3600);
  for (const t of list) {
    const c = cellOf(t.dec);
    byCell.set(c, [...(byCell.get(c) ?? []), t]);
  }
  const detectionsOf = new Map<string, Detection[]>();
  for (const d of detections) {
    let best: TruthTransient | undefined;
    let bestSep = radius;
    for (let c = cellOf(d.dec) - 1; c <= cellOf(d.dec) + 1; c++)
      for (const t of byCell.get(c) ?? []) {
        const s = sep(d, t);
        if (s < bestSep) {
          best = t;
          bestSep = s;
        }
      }
    if (best) detectionsOf.set(best.id, [...(detectionsOf.get(best.id) ?? []), d]);
  }
  const q: AssociationQuality = {
    eligible: 0,
    oneObject: 0,
    splits: [],
    merges: [],
    blends: [],
    objectOf: new Map(),
  };
  const transientsOf = new Map<number, Set<string>>();
  for (const [id, ds] of detectionsOf) {
    for (const d of ds) transientsOf.set(d.objectId, (transientsOf.get(d.objectId) ?? new Set()).add(id));
    if (new Set(ds.map((d) => d.mjd)).size < 2) continue;
    q.eligible++;
    const objects = new Set(ds.map((d) => d.objectId));
    if (objects.size === 1) {
      q.oneObject++;
      q.objectOf.set(id, ds[0].objectId);
    } else q.splits.push(id);
  }
  for (const [o, ts] of transientsOf) {
    if (ts.size < 2) continue;
    q.merges.push(o);
    const list = [...ts].map((id) => truth.get(id)!);
    if (list.every((a) => list.every((b) => sep(a, b) <= blendRadius))) q.blends.push(o);
  }
  return q;
}

/** A reference input: its epoch, and whether it covers a sky position. */
export interface ReferenceEpoch {
  mjd: number;
  covers(ra: number, dec: number): boolean;
}

/**
 * Pulls of forced photometry against the truth: (flux − true difference flux) / error, where the
 * true difference flux is the flux at the epoch minus the mean flux over the reference inputs
 * that cover the transient (a transient without a truth row in a covering input was off).
 */
export function lightCurvePulls(
  truth: Map<string, TruthTransient>,
  objectOf: Map<string, number>,
  forced: readonly ForcedPoint[],
  reference: readonly ReferenceEpoch[],
): number[] {
  const byObject = new Map<number, ForcedPoint[]>();
  for (const f of forced) byObject.set(f.objectId, [...(byObject.get(f.objectId) ?? []), f]);
  const key = (mjd: number) => Math.round(mjd * 1e4) / 1e4;
  const pulls: number[] = [];
  for (const [id, objectId] of objectOf) {
    const t = truth.get(id)!;
    const covering = reference.filter((r) => r.covers(t.ra, t.dec));
    if (covering.length === 0) continue;
    const ref = covering.reduce((s, r) => s + (t.flux.get(key(r.mjd)) ?? 0), 0) / covering.length;
    for (const f of byObject.get(objectId) ?? []) {
      if (!(f.fluxErr > 0)) continue;
      pulls.push((f.flux - ((t.flux.get(key(f.mjd)) ?? 0) - ref)) / f.fluxErr);
    }
  }
  return pulls;
}
