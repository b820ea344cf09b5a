/**
 * Simulated science/reference pairs on one pixel grid, in memory, with known transients: the
 * yardstick of the subtraction tests. Background-subtracted images with Gaussian background
 * noise and Poisson source noise, PSFs drawn pixel-integrated (src/sim/psf.ts).
 */
import type { PsfModel } from '../../src/image/psf/model.ts';
import {
  drawPoint,
  type PhaseStamps,
  type PsfProfile,
  phaseStamps,
  SimulatedPsf,
} from '../../src/sim/psf.ts';
import { Random } from '../../src/sim/random.ts';

export interface PairOptions {
  size: number;
  seed: number;
  scienceFwhm: number;
  referenceFwhm: number;
  /** Background σ per pixel of each image. */
  scienceSigma: number;
  referenceSigma: number;
  /** Science flux / reference flux of the same source. */
  fluxRatio: number;
  /** e⁻ per unit, for source Poisson noise (Infinity: none). */
  gain: number;
  stars: number;
  /** Star fluxes span [min, max] (reference units), log-uniform. */
  starFlux: [number, number];
  transients: number;
  /** Transient fluxes in science units, log-uniform in [min, max]. */
  transientFlux: [number, number];
  /** A shift of the science image's stars, px (registration error). */
  shift?: [number, number];
  /** Per-star random registration jitter σ, px. */
  jitter?: number;
  /** The science FWHM grows by this fraction from x = 0 to x = size (a PSF varying over the field). */
  scienceFwhmSlope?: number;
}

/** Science FWHM at column x, quantised to 1% steps (as drawn). */
export function scienceFwhmAt(o: PairOptions, x: number): number {
  const f = 1 + (o.scienceFwhmSlope ?? 0) * (x / o.size);
  return o.scienceFwhm * (Math.round(f * 100) / 100);
}

/** The science PSF of a pair as a PsfModel (varying with x when scienceFwhmSlope is set). */
export class PairSciencePsf implements PsfModel {
  readonly size: number;
  private readonly cache = new Map<number, SimulatedPsf>();
  constructor(
    private readonly o: PairOptions,
    size = 25,
  ) {
    this.size = size;
  }
  private at(x: number): SimulatedPsf {
    const fwhm = scienceFwhmAt(this.o, x);
    let p = this.cache.get(fwhm);
    if (!p) {
      p = new SimulatedPsf({ kind: 'moffat', fwhm, beta: 2.5 }, this.size);
      this.cache.set(fwhm, p);
    }
    return p;
  }
  stamp(x: number, y: number, out?: Float32Array): Float32Array {
    return this.at(x).stamp(x, y, out);
  }
  fwhm(x = 0): number {
    return this.at(x).fwhm();
  }
}

export const DEFAULT_PAIR: PairOptions = {
  size: 512,
  seed: 1,
  scienceFwhm: 2.5,
  referenceFwhm: 2.0,
  scienceSigma: 10,
  referenceSigma: 4,
  fluxRatio: 1.2,
  gain: 1,
  stars: 150,
  starFlux: [2e3, 2e5],
  transients: 40,
  transientFlux: [100, 5000],
};

export interface Pair {
  options: PairOptions;
  science: Float32Array;
  reference: Float32Array;
  scienceVariance: Float32Array;
  referenceVariance: Float32Array;
  sciencePsf: Float32Array;
  referencePsf: Float32Array;
  /** Injected transients: position (0-based) and flux in science units. */
  transients: { x: number; y: number; flux: number }[];
  stars: { x: number; y: number; flux: number }[];
}

/** A centred stamp of a profile (side odd). */
export function psfStamp(profile: PsfProfile, side: number): Float32Array {
  const s = new Float32Array(side * side);
  drawPoint(s, side, side, phaseStamps(profile), (side - 1) / 2, (side - 1) / 2, 1);
  let sum = 0;
  for (const v of s) sum += v;
  for (let i = 0; i < s.length; i++) s[i] /= sum;
  return s;
}

export function makePair(options: Partial<PairOptions> = {}): Pair {
  const o: PairOptions = { ...DEFAULT_PAIR, ...options };
  const n = o.size;
  const rng = new Random(o.seed, 'pair');
  const profN: PsfProfile = { kind: 'moffat', fwhm: o.scienceFwhm, beta: 2.5 };
  const profR: PsfProfile = { kind: 'moffat', fwhm: o.referenceFwhm, beta: 2.5 };
  const psfCache = new Map<number, PhaseStamps>();
  const psfN = (x: number) => {
    const fwhm = scienceFwhmAt(o, x);
    let p = psfCache.get(fwhm);
    if (!p) {
      p = phaseStamps({ ...profN, fwhm });
      psfCache.set(fwhm, p);
    }
    return p;
  };
  const psfR = phaseStamps(profR);
  const sciModel = new Float32Array(n * n);
  const refModel = new Float32Array(n * n);
  const margin = 12;
  const stars: Pair['stars'] = [];
  for (let k = 0; k < o.stars; k++) {
    const x = rng.range(margin, n - margin);
    const y = rng.range(margin, n - margin);
    const flux = o.starFlux[0] * (o.starFlux[1] / o.starFlux[0]) ** rng.uniform();
    stars.push({ x, y, flux });
    const [dx, dy] = o.shift ?? [0, 0];
    const jx = (o.jitter ?? 0) * rng.normal();
    const jy = (o.jitter ?? 0) * rng.normal();
    drawPoint(refModel, n, n, psfR, x, y, flux);
    drawPoint(sciModel, n, n, psfN(x), x + dx + jx, y + dy + jy, flux * o.fluxRatio);
  }
  const transients: Pair['transients'] = [];
  for (let k = 0; k < o.transients; k++) {
    const x = rng.range(margin + 8, n - margin - 8);
    const y = rng.range(margin + 8, n - margin - 8);
    const flux = o.transientFlux[0] * (o.transientFlux[1] / o.transientFlux[0]) ** rng.uniform();
    transients.push({ x, y, flux });
    drawPoint(sciModel, n, n, psfN(x), x, y, flux);
  }
  const noisy = (model: Float32Array, sigma: number, label: string) => {
    const r = new Random(o.seed, 'noise', label);
    const data = new Float32Array(n * n);
    const variance = new Float32Array(n * n);
    for (let i = 0; i < n * n; i++) {
      const m = model[i];
      const src = Number.isFinite(o.gain) ? Math.max(m, 0) / o.gain : 0;
      variance[i] = sigma * sigma + src;
      data[i] = m + Math.sqrt(variance[i]) * r.normal();
    }
    return { data, variance };
  };
  const sci = noisy(sciModel, o.scienceSigma, 'science');
  const ref = noisy(refModel, o.referenceSigma, 'reference');
  const side = 2 * Math.ceil(3 * Math.max(o.scienceFwhm, o.referenceFwhm)) + 1;
  return {
    options: o,
    science: sci.data,
    reference: ref.data,
    scienceVariance: sci.variance,
    referenceVariance: ref.variance,
    sciencePsf: psfStamp(profN, side),
    referencePsf: psfStamp(profR, side),
    transients,
    stars,
  };
}
