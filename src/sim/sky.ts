/**
 * The static sky of a simulated survey: stars, galaxies, transients and variables, generated
 * tile by tile from the seed, so every image of a tile (any epoch, filter or detector) sees the
 * same objects and any tile can be generated alone.
 */
import { type RomanFilter, romanFilter } from '../instrument/roman.ts';
import { offsetPosition } from '../sky/tangent.ts';
import { type SkyPosition, tileCentre, tileCount, tileOf, tileSize } from '../sky/tiles.ts';
import type { SersicShape } from './galaxy.ts';
import type { LightCurve } from './lightcurve.ts';
import { Random } from './random.ts';

export type ObjectType = 'star' | 'galaxy' | 'transient' | 'variable';

export interface SkyObject {
  /** Unique over the survey: tile · 100 000 + running number. */
  id: number;
  type: ObjectType;
  ra: number;
  dec: number;
  /** F158 AB magnitude: the constant one, the mean (variables) or the peak (transients). */
  mag: number;
  /** Colour: magnitude change per octave of wavelength blueward of F158. */
  colour: number;
  /** Galaxies: Sérsic shape with re in arcsec and theta east of north (radians). */
  shape?: SersicShape;
  lightCurve?: LightCurve;
  /** Transients on a galaxy: the host's id. */
  host?: number;
}

export interface SkyModel {
  /** Stars per deg² per magnitude at F158 = 20, and the slope of log counts per magnitude. */
  starDensity: number;
  starSlope: number;
  starMags: [number, number];
  /** Galaxies per deg² per magnitude at F158 = 22, and the slope. */
  galaxyDensity: number;
  galaxySlope: number;
  galaxyMags: [number, number];
  /** Transients and variables per deg² (the survey turns "per image" into this). */
  transientDensity: number;
  /** Survey time span (MJD) and cadence, to place explosions and flares when they can be seen. */
  mjdStart: number;
  mjdEnd: number;
  cadenceDays: number;
  /** Supernovae and flares give no light before this MJD (SurveyOptions.transientsFrom). */
  transientsFrom?: number;
}

/** Counts typical of a high-latitude field in the near-infrared (see the closing note of the simulator). */
export const DEFAULT_SKY: Omit<SkyModel, 'transientDensity' | 'mjdStart' | 'mjdEnd' | 'cadenceDays'> = {
  starDensity: 3000,
  starSlope: 0.1,
  starMags: [16, 28],
  galaxyDensity: 20000,
  galaxySlope: 0.25,
  galaxyMags: [18, 27],
};

const ID_STRIDE = 100_000;
const TRANSIENT_BASE = 90_000;

/** The magnitude of an object in a filter (reference, before any light curve). */
export function magnitudeIn(obj: SkyObject, filter: RomanFilter): number {
  return obj.mag + obj.colour * Math.log2(romanFilter('F158').wavelength / filter.wavelength);
}

/** Magnitudes with dN/dm ∝ 10^(slope·m) between m1 and m2, by inverting the cumulative count. */
function powerLawMag(rng: Random, slope: number, m1: number, m2: number): number {
  const a = 10 ** (slope * m1);
  const b = 10 ** (slope * m2);
  return Math.log10(a + rng.uniform() * (b - a)) / slope;
}

/** Expected number of objects per deg² between m1 and m2 for dN/dm = A·10^(slope(m − m0)). */
function integratedCount(A: number, slope: number, m0: number, m1: number, m2: number): number {
  return (A / (slope * Math.LN10)) * (10 ** (slope * (m2 - m0)) - 10 ** (slope * (m1 - m0)));
}

/** Tile area in deg². */
function tileArea(nside: number): number {
  return (4 * Math.PI * (180 / Math.PI) ** 2) / tileCount(nside);
}

/** A uniformly distributed position inside the tile (rejection from a tangent-plane square). */
function positionInTile(rng: Random, tile: number, nside: number, centre: SkyPosition): SkyPosition {
  const half = 0.8 * tileSize(nside);
  for (;;) {
    const p = offsetPosition(centre, rng.range(-half, half), rng.range(-half, half));
    if (tileOf(p.ra, p.dec, nside) === tile) return p;
  }
}

/** Every object of one tile, in a fixed order: stars, galaxies, then transients and variables. */
export function tileObjects(tile: number, nside: number, seed: number, model: SkyModel): SkyObject[] {
  const rng = new Random(seed, 'sky', nside, tile);
  const centre = tileCentre(tile, nside);
  const area = tileArea(nside);
  const out: SkyObject[] = [];
  let next = 0;
  const id = () => tile * ID_STRIDE + next++;

  const nStars = rng.poisson(
    area * integratedCount(model.starDensity, model.starSlope, 20, ...model.starMags),
  );
  for (let i = 0; i < nStars; i++) {
    const p = positionInTile(rng, tile, nside, centre);
    out.push({
      id: id(),
      type: 'star',
      ...p,
      mag: powerLawMag(rng, model.starSlope, ...model.starMags),
      colour: 0.3 * rng.normal(),
    });
  }
  const nGalaxies = rng.poisson(
    area * integratedCount(model.galaxyDensity, model.galaxySlope, 22, ...model.galaxyMags),
  );
  for (let i = 0; i < nGalaxies; i++) {
    const p = positionInTile(rng, tile, nside, centre);
    const mag = powerLawMag(rng, model.galaxySlope, ...model.galaxyMags);
    // Fainter galaxies are smaller; log-normal scatter around the trend.
    const re = Math.min(2, Math.max(0.05, 0.35 * 10 ** (-0.08 * (mag - 22)) * Math.exp(0.35 * rng.normal())));
    const u = rng.uniform();
    const n = u < 0.6 ? 1 : u < 0.8 ? 4 : rng.range(0.5, 2.5);
    out.push({
      id: id(),
      type: 'galaxy',
      ...p,
      mag,
      colour: 0.5 + 0.3 * rng.normal(),
      shape: { n, re, q: rng.range(0.25, 1), theta: rng.range(0, Math.PI) },
    });
  }

  // Transients: 60% supernova-like (most on a host), 25% periodic variables, 15% flares.
  const hosts = out.filter((o) => o.type === 'galaxy' && o.mag < 24);
  const nTransients = rng.poisson(area * model.transientDensity);
  next = TRANSIENT_BASE;
  if (nStars + nGalaxies >= TRANSIENT_BASE) {
    throw new RangeError(
      `too many objects in tile ${tile} (${nStars + nGalaxies}): lower the densities or raise nside`,
    );
  }
  // Transient ids count up from TRANSIENT_BASE, flare hosts down from the top: they never meet.
  for (let i = 0; i < nTransients && next + i < ID_STRIDE - 1; i++) {
    const u = rng.uniform();
    if (u < 0.6) {
      let p = positionInTile(rng, tile, nside, centre);
      let host: number | undefined;
      if (hosts.length > 0 && rng.uniform() < 0.85) {
        const h = rng.pick(hosts);
        // Offset from the host's centre by up to about one effective radius.
        const r = (h.shape?.re ?? 0.3) * Math.sqrt(rng.uniform()) * 1.2;
        const a = rng.range(0, 2 * Math.PI);
        p = offsetPosition(h, (r * Math.cos(a)) / 3600, (r * Math.sin(a)) / 3600);
        host = h.id;
      }
      out.push({
        id: id(),
        type: 'transient',
        ...p,
        mag: rng.range(20.5, 25),
        colour: 0.4 * rng.normal(),
        host,
        lightCurve: {
          kind: 'supernova',
          t0: rng.range(Math.max(model.mjdStart - 20, model.transientsFrom ?? -Infinity), model.mjdEnd + 10),
          rise: rng.range(2, 6),
          fall: rng.range(15, 40),
          ...(model.transientsFrom === undefined ? {} : { explosion: model.transientsFrom }),
        },
      });
    } else if (u < 0.85) {
      out.push({
        id: id(),
        type: 'variable',
        ...positionInTile(rng, tile, nside, centre),
        mag: rng.range(18, 23),
        colour: 0.3 * rng.normal(),
        lightCurve: {
          kind: 'variable',
          period: 10 ** rng.range(Math.log10(0.5), Math.log10(20)),
          amplitude: rng.range(0.2, 1),
          phase: rng.range(0, 2 * Math.PI),
        },
      });
    } else {
      // A flare on a faint quiescent star (catalogued as a star), timed to be seen at one epoch.
      const p = positionInTile(rng, tile, nside, centre);
      const quiet = rng.range(21, 25);
      const nEpochs = Math.max(1, Math.floor((model.mjdEnd - model.mjdStart) / model.cadenceDays) + 1);
      const decay = rng.range(0.3, 2);
      // With transientsFrom, only the epochs from then on (the same draws, so the rest of the sky
      // is unchanged).
      const first =
        model.transientsFrom === undefined
          ? 0
          : Math.min(
              nEpochs - 1,
              Math.max(0, Math.ceil((model.transientsFrom - model.mjdStart) / model.cadenceDays)),
            );
      const epoch = first + (rng.int(nEpochs) % (nEpochs - first));
      const t0 = Math.max(
        model.mjdStart + epoch * model.cadenceDays - rng.range(0, 1.5 * decay),
        model.transientsFrom ?? -Infinity,
      );
      const colour = 0.3 * rng.normal();
      out.push({ id: tile * ID_STRIDE + (ID_STRIDE - 1 - i), type: 'star', ...p, mag: quiet, colour });
      out.push({
        id: id(),
        type: 'transient',
        ...p,
        mag: quiet - rng.range(1.5, 3),
        colour,
        lightCurve: { kind: 'flare', t0, decay },
      });
    }
  }
  return out;
}
