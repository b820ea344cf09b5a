/**
 * Drawing one simulated exposure: sources through the PSF, then the detector (background, dark
 * current, Poisson noise, read noise, cosmic rays, saturation, bad pixels). Pure: sources and a
 * model in, pixels out.
 *
 * The image is drawn in strips of STRIP_ROWS rows, each with its own random stream, so that any
 * split of the strips over workers gives the same pixels.
 */
import { drawGalaxy, galaxyRadius, type SersicShape } from './galaxy.ts';
import { centralStamp, drawPoint, type PhaseStamps, type PsfProfile, phaseStamps } from './psf.ts';
import { Random } from './random.ts';

export const STRIP_ROWS = 128;

/** A source on the detector, in pixel coordinates (0-based) and data units (DN). */
export interface PlacedSource {
  x: number;
  y: number;
  flux: number;
  /** Galaxies carry a Sérsic shape in pixel units; point sources none. */
  shape?: SersicShape;
  /** Index of the PSF (of those passed to drawSources) at this source's place; default 0. */
  psf?: number;
}

export interface DetectorModel {
  width: number;
  height: number;
  /** Exposure time, s. */
  exptime: number;
  /** e⁻ per DN. */
  gain: number;
  /** Read noise, e⁻. */
  readNoise: number;
  /** Dark current, e⁻/s/pixel. */
  dark: number;
  /** Sky background (zodiacal + thermal), e⁻/s/pixel. */
  background: number;
  /** Saturation level, DN. */
  saturation: number;
  /** Share of bad pixels (half hot, half dead); the same pixels in every exposure of a detector. */
  badPixelFraction: number;
  /** Cosmic-ray hits per million pixels per 100 s of exposure (after up-the-ramp rejection). */
  cosmicRate: number;
  /** Detector number: selects its bad pixels. */
  sca: number;
}

export interface RenderOptions {
  seed: number;
  /** A label making this exposure's noise its own (e.g. the pointing and detector). */
  label: string;
  /** Add Poisson and read noise, cosmic rays and bad pixels. */
  noise: boolean;
  /** Add sky background and dark current. */
  background: boolean;
}

/** Mean level of the blank sky in DN: background plus dark current over the exposure. */
export function skyLevel(m: DetectorModel): number {
  return ((m.background + m.dark) * m.exptime) / m.gain;
}

/** Variance of a blank-sky pixel in DN²: Poisson on the sky and dark electrons plus read noise. */
export function skyVariance(m: DetectorModel): number {
  return ((m.background + m.dark) * m.exptime + m.readNoise ** 2) / m.gain ** 2;
}

/**
 * Draw the sources that touch strips [stripStart, stripEnd) into `data` (width × height,
 * noise-free, DN). Returns the flux each source added inside those rows.
 */
export function drawSources(
  data: Float32Array,
  m: DetectorModel,
  sources: readonly PlacedSource[],
  psfs: readonly PhaseStamps[],
  kernels: readonly Float32Array[],
  rowStart: number,
  rowEnd: number,
): Float64Array {
  const added = new Float64Array(sources.length);
  for (let i = 0; i < sources.length; i++) {
    const s = sources[i];
    const psf = psfs[s.psf ?? 0];
    const kernel = kernels[s.psf ?? 0];
    const kr = (Math.round(Math.sqrt(kernel.length)) - 1) / 2;
    const reach = s.shape ? galaxyRadius(s.shape, kr) : psf.radius + 1;
    if (s.y + reach < rowStart || s.y - reach >= rowEnd) continue;
    if (s.x + reach < 0 || s.x - reach >= m.width) continue;
    added[i] = s.shape
      ? drawGalaxy(data, m.width, m.height, s.shape, s.x, s.y, s.flux, kernel, rowStart, rowEnd)
      : drawPoint(data, m.width, m.height, psf, s.x, s.y, s.flux, rowStart, rowEnd);
  }
  return added;
}

/** A PSF stamp cut to radius `r` and renormalised, to blur galaxies cheaply. */
export function galaxyKernel(psf: PhaseStamps, r = 4): Float32Array {
  const full = centralStamp(psf);
  const side = 2 * psf.radius + 1;
  const k = Math.min(r, psf.radius);
  const kSide = 2 * k + 1;
  const out = new Float32Array(kSide * kSide);
  let sum = 0;
  for (let y = 0; y < kSide; y++) {
    for (let x = 0; x < kSide; x++) {
      const v = full[(y - k + psf.radius) * side + (x - k + psf.radius)];
      out[y * kSide + x] = v;
      sum += v;
    }
  }
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/**
 * Turn the noise-free source image of rows [rowStart, rowEnd) (whole strips) into an
 * exposure in place: add sky and dark, draw Poisson and read noise, add cosmic rays, clip at
 * saturation and apply bad pixels. Returns the number of cosmic-ray hits and of saturated pixels.
 */
export function exposeRows(
  data: Float32Array,
  m: DetectorModel,
  o: RenderOptions,
  rowStart: number,
  rowEnd: number,
): { cosmicRays: number; saturated: number } {
  const { width } = m;
  const sky = o.background ? skyLevel(m) * m.gain : 0; // electrons
  let cosmicRays = 0;
  let saturated = 0;
  for (let s0 = rowStart; s0 < rowEnd; s0 += STRIP_ROWS) {
    const s1 = Math.min(s0 + STRIP_ROWS, rowEnd, m.height);
    const strip = s0 / STRIP_ROWS;
    const rng = new Random(o.seed, 'noise', o.label, strip);
    for (let i = s0 * width; i < s1 * width; i++) {
      const electrons = data[i] * m.gain + sky;
      if (o.noise) {
        data[i] = (rng.poisson(electrons) + m.readNoise * rng.normal()) / m.gain;
      } else {
        data[i] = electrons / m.gain;
      }
    }
    if (!o.noise) continue;
    // Cosmic rays: short tracks of deposited charge, single-epoch by construction.
    const crRng = new Random(o.seed, 'cosmic', o.label, strip);
    const nCr = crRng.poisson((m.cosmicRate * (s1 - s0) * width * m.exptime) / 1e6 / 100);
    for (let k = 0; k < nCr; k++) {
      const x = crRng.range(0, width);
      const y = crRng.range(s0, s1);
      const length = 1 + crRng.int(4);
      const angle = crRng.range(0, Math.PI);
      const charge = 10 ** crRng.range(2.7, 4.3); // 500 … 20 000 e⁻
      for (let t = 0; t < length; t++) {
        const px = Math.floor(x + t * Math.cos(angle));
        const py = Math.floor(y + t * Math.sin(angle));
        if (px < 0 || px >= width || py < s0 || py >= s1) continue;
        data[py * width + px] += charge / length / m.gain;
      }
      cosmicRays++;
    }
    for (let i = s0 * width; i < s1 * width; i++) {
      if (data[i] >= m.saturation) {
        data[i] = m.saturation;
        saturated++;
      }
    }
    // Bad pixels belong to the detector: the same in every exposure of this SCA and size.
    const bad = new Random(0, 'bad-pixels', m.sca, width, m.height, strip);
    const nBad = bad.poisson(m.badPixelFraction * (s1 - s0) * width);
    for (let k = 0; k < nBad; k++) {
      const i = (s0 + bad.int(s1 - s0)) * width + bad.int(width);
      data[i] = bad.uniform() < 0.5 ? m.saturation : 0;
    }
  }
  return { cosmicRays, saturated };
}

/**
 * Noise-equivalent area of a PSF (1 / Σ p², pixels), averaged over sub-pixel phases, and the
 * source-noise factor Σ p³ / (Σ p²)² of PSF-fit photometry.
 */
export function psfNoiseArea(psf: PhaseStamps): { nea: number; sourceFactor: number } {
  const side = 2 * psf.radius + 1;
  const area = side * side;
  const n = psf.stamps.length / area;
  let nea = 0;
  let sf = 0;
  for (let k = 0; k < n; k++) {
    let s2 = 0;
    let s3 = 0;
    for (let i = 0; i < area; i++) {
      const p = psf.stamps[k * area + i];
      s2 += p * p;
      s3 += p * p * p;
    }
    nea += 1 / s2;
    sf += s3 / (s2 * s2);
  }
  return { nea: nea / n, sourceFactor: sf / n };
}

/**
 * The 5σ point-source limit (DN) of PSF-fit photometry on this detector model: solves
 * F / √(F·k + V·NEA) = 5 with V the blank-sky variance per pixel.
 */
export function predictedLimitFlux(m: DetectorModel, psf: PhaseStamps, snr = 5): number {
  const { nea, sourceFactor } = psfNoiseArea(psf);
  const V = skyVariance(m);
  const k = sourceFactor / m.gain;
  const s2 = snr * snr;
  return (s2 * k + Math.sqrt(s2 * s2 * k * k + 4 * s2 * V * nea)) / 2;
}

/** Lift a Sérsic shape from the sky (re in arcsec, angle east of north) onto the detector. */
export function shapeOnDetector(shape: SersicShape, pixelScale: number, rotationDeg: number): SersicShape {
  // The detector's +y axis is `rotation` east of north, +x points west-ish: angle from +x axis
  // counter-clockwise = 90° + rotation − position angle, mirrored because east is −x.
  const theta = Math.PI / 2 - shape.theta + (rotationDeg * Math.PI) / 180;
  return { ...shape, re: shape.re / pixelScale, theta };
}

/** Cache of pixel-integrated PSF stamps by profile, so each worker computes each PSF once. */
export class PsfCache {
  private readonly stamps = new Map<string, { psf: PhaseStamps; kernel: Float32Array }>();

  get(profile: PsfProfile): { psf: PhaseStamps; kernel: Float32Array } {
    const key = JSON.stringify(profile);
    let v = this.stamps.get(key);
    if (!v) {
      const psf = phaseStamps(profile);
      v = { psf, kernel: galaxyKernel(psf) };
      this.stamps.set(key, v);
    }
    return v;
  }
}

/**
 * Draw and expose rows [rowStart, rowEnd) (whole strips) of an exposure into `data`.
 * The same call over any partition of the strips gives the same image.
 */
export function renderRows(
  data: Float32Array,
  m: DetectorModel,
  o: RenderOptions,
  sources: readonly PlacedSource[],
  profiles: readonly PsfProfile[],
  rowStart: number,
  rowEnd: number,
  cache = new PsfCache(),
): { added: Float64Array; cosmicRays: number; saturated: number } {
  const levels = profiles.map((p) => cache.get(p));
  const added = drawSources(
    data,
    m,
    sources,
    levels.map((l) => l.psf),
    levels.map((l) => l.kernel),
    rowStart,
    rowEnd,
  );
  const { cosmicRays, saturated } = exposeRows(data, m, o, rowStart, rowEnd);
  return { added, cosmicRays, saturated };
}
