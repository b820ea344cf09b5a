/**
 * The survey plan: which images exist, when they were taken, where they point and how their
 * detectors map to the sky. One pointing per tile, filter and epoch (with a dither and a small
 * rotation), one or more detectors (SCAs) per pointing.
 */
import { ROMAN_DETECTOR, type RomanFilter, romanFilter } from '../instrument/roman.ts';
import { offsetPosition } from '../sky/tangent.ts';
import { DEFAULT_NSIDE, type SkyPosition, tileCentre, tileNeighbours, tileOf } from '../sky/tiles.ts';
import { UsageError } from '../util/errors.ts';
import { Random } from './random.ts';

export interface SurveyOptions {
  /** Number of sky tiles (contiguous, around `field`). */
  tiles: number;
  epochs: number;
  /** Filter names in either spelling (F158 or H158). */
  filters: string[];
  /** Detector side in pixels (a central cut-out of an SCA when below 4088). */
  size: number;
  /** Detectors per pointing. */
  scas: number;
  seed: number;
  /** First epoch, as an ISO date (UTC). */
  start: string;
  cadenceDays: number;
  transientsPerImage: number;
  nside: number;
  /** Field centre; the first tile contains it. Default: the OpenUniverse 2024 time-domain field. */
  field: SkyPosition;
  /** Dither radius, arcsec, and rotation scatter, degrees. */
  ditherArcsec: number;
  rotationDeg: number;
  /**
   * Supernovae and flares appear from this date (UTC) on, and none of their light falls
   * before it: a reference season before it sees only the static sky (and the variable stars),
   * so the true difference flux of every transient is exactly its flux. Default: at any time.
   */
  transientsFrom?: string;
}

export const DEFAULT_SURVEY: SurveyOptions = {
  tiles: 1,
  epochs: 5,
  filters: ['F158'],
  size: 1024,
  scas: 1,
  seed: 1,
  start: '2028-09-01',
  cadenceDays: 5,
  transientsPerImage: 5,
  nside: DEFAULT_NSIDE,
  field: { ra: 9.6, dec: -44.0 },
  ditherArcsec: 10,
  rotationDeg: 0.3,
};

/** SIP distortion coefficients A_p_q, B_p_q (pixels), p + q from 2 to the order. */
export interface Sip {
  order: number;
  a: Record<string, number>;
  b: Record<string, number>;
}

export interface ImagePlan {
  /** Pointing number (OpenUniverse's "pointing"), unique per tile, filter and epoch. */
  pointing: number;
  /** Detector number, 1 … 18. */
  sca: number;
  filter: RomanFilter;
  epoch: number;
  tile: number;
  mjd: number;
  /** DATE-OBS, ISO 8601 UTC with milliseconds. */
  dateObs: string;
  exptime: number;
  size: number;
  /** Sky position of the detector centre (CRVAL) and the position angle of +y, east of north, degrees. */
  centre: SkyPosition;
  rotation: number;
  /** CD matrix, degrees per pixel. */
  cd: [number, number, number, number];
  sip: Sip;
  /** PSF scale relative to nominal (slow drift between epochs). */
  psfScale: number;
}

const MJD_UNIX_EPOCH = 40587;

/** A date (YYYY-MM-DD, or with a time) as UTC. */
export function utcDate(text: string): Date {
  return new Date(`${text}${text.includes('T') ? '' : 'T00:00:00Z'}`);
}

export function mjdFromDate(date: Date): number {
  return MJD_UNIX_EPOCH + date.getTime() / 86_400_000;
}

export function dateFromMjd(mjd: number): Date {
  return new Date(Math.round((mjd - MJD_UNIX_EPOCH) * 86_400_000));
}

/** Check options and turn filter names into filters; a UsageError names the bad option. */
export function checkSurvey(o: SurveyOptions): RomanFilter[] {
  const positiveInt = (v: number, name: string, max: number) => {
    if (!Number.isInteger(v) || v < 1 || v > max)
      throw new UsageError(`--${name} must be an integer from 1 to ${max}, got ${v}`);
  };
  positiveInt(o.tiles, 'tiles', 10_000);
  positiveInt(o.epochs, 'epochs', 10_000);
  positiveInt(o.scas, 'scas', ROMAN_DETECTOR.count);
  if (!Number.isInteger(o.size) || o.size < 64 || o.size > ROMAN_DETECTOR.size) {
    throw new UsageError(`--size must be an integer from 64 to ${ROMAN_DETECTOR.size}, got ${o.size}`);
  }
  if (!Number.isInteger(o.seed) || o.seed < 0)
    throw new UsageError(`--seed must be a non-negative integer, got ${o.seed}`);
  if (!(o.cadenceDays > 0)) throw new UsageError(`--cadence-days must be positive, got ${o.cadenceDays}`);
  if (!(o.transientsPerImage >= 0))
    throw new UsageError(`--transients-per-image must be ≥ 0, got ${o.transientsPerImage}`);
  const start = new Date(`${o.start}${o.start.includes('T') ? '' : 'T00:00:00Z'}`);
  if (Number.isNaN(start.getTime()))
    throw new UsageError(`--start must be a date like 2028-09-01, got '${o.start}'`);
  if (o.transientsFrom !== undefined && Number.isNaN(utcDate(o.transientsFrom).getTime()))
    throw new UsageError(`--transients-from must be a date like 2028-09-16, got '${o.transientsFrom}'`);
  if (o.filters.length === 0) throw new UsageError('--filters must name at least one filter');
  const filters = o.filters.map((f) => romanFilter(f));
  if (new Set(filters.map((f) => f.name)).size !== filters.length)
    throw new UsageError('--filters lists a filter twice');
  return filters;
}

/** Tiles of the survey: the one containing the field centre, then its neighbours, breadth first. */
export function surveyTiles(o: SurveyOptions): number[] {
  const first = tileOf(o.field.ra, o.field.dec, o.nside);
  const seen = new Set([first]);
  const order = [first];
  for (let i = 0; order.length < o.tiles && i < order.length; i++) {
    for (const t of tileNeighbours(order[i], o.nside)) {
      if (t >= 0 && !seen.has(t) && order.length < o.tiles) {
        seen.add(t);
        order.push(t);
      }
    }
  }
  return order;
}

/**
 * Each detector's own optical distortion, fixed for the instrument (not the survey): SIP order 3
 * with about 1 px at the corner of a full SCA from the quadratic terms and 0.3 px from the cubic.
 */
export function detectorDistortion(sca: number): Sip {
  const rng = new Random(0, 'roman-sca-distortion', sca);
  const half = ROMAN_DETECTOR.size / 2;
  const a: Record<string, number> = {};
  const b: Record<string, number> = {};
  for (let p = 0; p <= 3; p++) {
    for (let q = 0; q <= 3 - p; q++) {
      if (p + q < 2) continue;
      const amplitude = p + q === 2 ? 1.0 / half ** 2 : 0.3 / half ** 3;
      a[`${p}_${q}`] = amplitude * rng.normal() * 0.5;
      b[`${p}_${q}`] = amplitude * rng.normal() * 0.5;
    }
  }
  return { order: 3, a, b };
}

/** Every image of the survey, in the order it was observed. */
export function planSurvey(o: SurveyOptions): ImagePlan[] {
  const filters = checkSurvey(o);
  const tiles = surveyTiles(o);
  const start = mjdFromDate(new Date(`${o.start}${o.start.includes('T') ? '' : 'T00:00:00Z'}`));
  const scale = ROMAN_DETECTOR.pixelScale / 3600;
  // Detectors side by side in rows of up to 6 (as the WFI's 6×3 layout), 1% gaps.
  const cols = Math.min(6, o.scas);
  const pitch = o.size * 1.01;
  const plans: ImagePlan[] = [];
  let pointing = 0;
  for (let e = 0; e < o.epochs; e++) {
    tiles.forEach((tile, ti) => {
      filters.forEach((filter, fi) => {
        const rng = new Random(o.seed, 'pointing', e, tile, filter.name);
        const centre = tileCentre(tile, o.nside);
        const dither = offsetPosition(
          centre,
          (o.ditherArcsec * rng.range(-1, 1)) / 3600,
          (o.ditherArcsec * rng.range(-1, 1)) / 3600,
        );
        const rotation = o.rotationDeg * rng.normal();
        // Observations in an epoch follow each other: 20 minutes per tile, 5 per filter.
        const mjd = start + e * o.cadenceDays + ti * (20 / 1440) + fi * (5 / 1440);
        const psfScale = 1 + 0.02 * rng.normal();
        const c = Math.cos((rotation * Math.PI) / 180);
        const s = Math.sin((rotation * Math.PI) / 180);
        for (let k = 0; k < o.scas; k++) {
          // Detector offset in the focal plane (pixels), rotated onto the sky (east = −x).
          const fx = ((k % cols) - (cols - 1) / 2) * pitch;
          const fy = (Math.floor(k / cols) - (Math.ceil(o.scas / cols) - 1) / 2) * pitch;
          const xi = -(c * fx - s * fy) * scale;
          const eta = (s * fx + c * fy) * scale;
          const sca = k + 1;
          plans.push({
            pointing,
            sca,
            filter,
            epoch: e,
            tile,
            mjd,
            dateObs: dateFromMjd(mjd).toISOString(),
            exptime: filter.exptime,
            size: o.size,
            centre: offsetPosition(dither, xi, eta),
            rotation,
            cd: [-scale * c, scale * s, scale * s, scale * c],
            sip: detectorDistortion(sca),
            psfScale,
          });
        }
        pointing++;
      });
    });
  }
  return plans;
}
