/**
 * A simulated stand-in for a JWST NIRCam epoch pair of a deep field (issue 16): hundreds of
 * resolved galaxies and few stars, a diffraction-limited PSF with extended wings (the Fourier
 * transform of a hexagonal pupil with a central obscuration and three struts: an Airy-like core
 * of FWHM ≈ 2 px, rings and six-fold spikes), slightly different between the epochs (a few % in
 * FWHM and in jitter, as JWST's are), the sources' Poisson noise and drizzle-like correlated
 * noise (each exposure's pixels spread over a 3×3 footprint, signal and noise alike, so that the
 * per-pixel σ underestimates the noise on PSF scales by about 1.7), and transients with truth.
 *
 * The PSF models given with the pair are what WebbPSF writes (DET_SAMP: the optical PSF with
 * jitter, integrated over detector pixels, 201² here, no drizzle), read as the CLI reads them
 * (psfFromImage). Both images share one grid (`aligned`), calibrated alike (flux ratio 1, MJy/sr
 * in a JWST header without a gain).
 */
import { Header } from '../../src/fits/header.ts';
import { convolveFft } from '../../src/image/convolve.ts';
import { fftBackend } from '../../src/image/fft/index.ts';
import { psfFromImage } from '../../src/image/psf/io.ts';
import type { PsfModel } from '../../src/image/psf/model.ts';
import { drawGalaxy, type SersicShape } from '../../src/sim/galaxy.ts';
import { Random } from '../../src/sim/random.ts';

export interface GalaxyPairOptions {
  /** Image side, px. */
  size: number;
  seed: number;
  /** Galaxies over the image and a margin around it (their wings reach in). */
  galaxies: number;
  /** Galaxy total fluxes: a power law N(>F) ∝ F^−0.75 in [min, max] (data units). */
  galaxyFlux: [number, number];
  stars: number;
  starFlux: [number, number];
  transients: number;
  /** Transient fluxes, log-uniform (science units). */
  transientFlux: [number, number];
  /** Share of the transients placed on a galaxy (within its effective radius). */
  hostedFraction: number;
  /** Side of the PSF models, px (odd). */
  psfSide: number;
  /** FWHM of the reference's optical PSF (before jitter and pixel), px. */
  fwhm: number;
  /** Science FWHM / reference FWHM (the science PSF is broader for > 1). */
  fwhmRatio: number;
  /** Gaussian jitter σ of each epoch, px (science, reference). */
  jitter: [number, number];
  /**
   * Drizzle-like footprint: each exposure pixel is spread over [c, 1, c]/(1 + 2c) along each
   * axis (0: white noise, 0.3: about pixfrac 0.8 onto a grid of the same scale).
   */
  drizzle: number;
  /** Per-pixel background σ of each image as drizzled (science, reference), data units. */
  pixelSigma: [number, number];
  /** e⁻ per data unit (sources' Poisson noise); Infinity: none. */
  gain: number;
  /** Science flux / reference flux of one source. */
  fluxRatio: number;
  /** Sky level of each image (science, reference) and a gradient across the science image. */
  sky: [number, number];
  skyGradient: number;
  /** The models' FWHM errors: each model's optical PSF is this many times the truth's. */
  modelFwhmError: [number, number];
  /** Models including the drizzle footprint (as a PSF built from the drizzled stars would). */
  modelIncludesDrizzle: boolean;
  /**
   * The reference's grid is offset by this (px, multiples of 0.25): a source at science pixel
   * (x, y) is at (x − dx, y − dy) in the reference. The headers' TAN WCSs say so.
   */
  referenceOffset: [number, number];
}

export const DEFAULT_GALAXY_PAIR: GalaxyPairOptions = {
  size: 600,
  seed: 1,
  galaxies: 500,
  galaxyFlux: [15, 3e5],
  stars: 6,
  starFlux: [2e3, 1e5],
  transients: 8,
  transientFlux: [80, 400],
  hostedFraction: 0.5,
  psfSide: 201,
  fwhm: 1.9,
  fwhmRatio: 1.03,
  jitter: [0.3, 0.25],
  drizzle: 0.3,
  pixelSigma: [0.5, 0.4],
  gain: 50,
  fluxRatio: 1,
  sky: [3, 2.5],
  skyGradient: 0.5,
  modelFwhmError: [1, 1],
  modelIncludesDrizzle: false,
  referenceOffset: [0, 0],
};

export interface PlacedGalaxy {
  x: number;
  y: number;
  flux: number;
  shape: SersicShape;
}

export interface GalaxyPair {
  options: GalaxyPairOptions;
  science: Float32Array;
  reference: Float32Array;
  /** Noise-free signal of each image as drizzled (no sky): for classifying detections. */
  scienceModel: Float32Array;
  referenceModel: Float32Array;
  /** The PSF models (WebbPSF-like DET_SAMP stamps, psfSide²) and as read by the pipeline. */
  sciencePsfStamp: Float32Array;
  referencePsfStamp: Float32Array;
  sciencePsf: PsfModel;
  referencePsf: PsfModel;
  /** JWST NIRCam i2d-like headers (no gain, MJy/sr) with each image's TAN WCS. */
  scienceHeader: Header;
  referenceHeader: Header;
  /** The same with the effective gain (GAIN card). */
  scienceHeaderWithGain: Header;
  referenceHeaderWithGain: Header;
  /** The per-axis drizzle weights [c, 1, c]/(1 + 2c). */
  drizzleKernel: [number, number, number];
  galaxies: PlacedGalaxy[];
  stars: { x: number; y: number; flux: number }[];
  /** Injected transients (science only): position, flux (science units), the host's index. */
  transients: { x: number; y: number; flux: number; host?: number }[];
}

const OVERSAMPLE = 4;
const FFT_SIDE = 1024;

/**
 * The pixel-integrated PSF of a hexagonal pupil (point-to-point diameter `diameter` samples of
 * a FFT_SIDE² grid, central obscuration 0.11, three struts), with Gaussian jitter σ `jitter`
 * px, sampled every 1/OVERSAMPLE px on a FFT_SIDE² grid centred at FFT_SIDE/2 (unit integral
 * over detector pixels: Σ samples = OVERSAMPLE²).
 */
async function pixelPsf(diameter: number, jitter: number): Promise<Float64Array> {
  const M = FFT_SIDE;
  const c = M / 2;
  const R = diameter / 2;
  const pupil = new Float64Array(M * M);
  const strut = 0.012 * diameter;
  const struts = [90, 210, 330].map((a) => [Math.cos((a * Math.PI) / 180), Math.sin((a * Math.PI) / 180)]);
  const h = (R * Math.sqrt(3)) / 2;
  for (let j = 0; j < M; j++) {
    const v = j - c;
    if (Math.abs(v) > R) continue;
    for (let i = 0; i < M; i++) {
      const u = i - c;
      // Hexagon with corners on the x axis; circular secondary; struts as half-lines.
      if (Math.abs(v) > h || Math.abs(v) * 0.5 + Math.abs(u) * (Math.sqrt(3) / 2) > h) continue;
      if (Math.hypot(u, v) < 0.11 * R) continue;
      let blocked = false;
      for (const [sx, sy] of struts) {
        const along = u * sx + v * sy;
        if (along > 0 && Math.abs(-u * sy + v * sx) < strut / 2) blocked = true;
      }
      if (!blocked) pupil[j * M + i] = 1;
    }
  }
  const fft = fftBackend();
  const half = (M >> 1) + 1;
  const F = await fft.forward(pupil, M, M);
  // |F|² over the whole plane (Hermitian symmetry), shifted to the centre.
  const intensity = new Float64Array(M * M);
  let sum = 0;
  for (let ky = 0; ky < M; ky++) {
    for (let kx = 0; kx < M; kx++) {
      const [qx, qy] = kx < half ? [kx, ky] : [M - kx, (M - ky) % M];
      const k = 2 * (qy * half + qx);
      const p = F[k] * F[k] + F[k + 1] * F[k + 1];
      intensity[((ky + c) % M) * M + ((kx + c) % M)] = p;
      sum += p;
    }
  }
  for (let i = 0; i < M * M; i++) intensity[i] *= (OVERSAMPLE * OVERSAMPLE) / sum;
  // Jitter and the detector pixel: the transfer functions of a Gaussian and of a box one pixel
  // wide (the intensity is band-limited, so this is its exact pixel integral).
  const spec = await fft.forward(intensity, M, M);
  const s = jitter * OVERSAMPLE;
  const sinc = (f: number) => (f === 0 ? 1 : Math.sin(Math.PI * f) / (Math.PI * f));
  for (let ky = 0; ky < M; ky++) {
    const fy = (ky <= M / 2 ? ky : ky - M) / M;
    for (let kx = 0; kx < half; kx++) {
      const fx = kx / M;
      const t =
        Math.exp(-2 * Math.PI ** 2 * s * s * (fx * fx + fy * fy)) *
        sinc(OVERSAMPLE * fx) *
        sinc(OVERSAMPLE * fy);
      spec[2 * (ky * half + kx)] *= t;
      spec[2 * (ky * half + kx) + 1] *= t;
    }
  }
  return Float64Array.from(await fft.inverse(spec, M, M));
}

/** The detector-sampled stamp (side²) of a source at sub-pixel offset (a, b)/OVERSAMPLE. */
function detectorStamp(psf: Float64Array, side: number, a = 0, b = 0): Float32Array {
  const M = FFT_SIDE;
  const c = M / 2;
  const h = (side - 1) / 2;
  const out = new Float32Array(side * side);
  for (let j = 0; j < side; j++) {
    const y = c + OVERSAMPLE * (j - h) - b;
    for (let i = 0; i < side; i++) {
      const x = c + OVERSAMPLE * (i - h) - a;
      out[j * side + i] = y >= 0 && y < M && x >= 0 && x < M ? psf[y * M + x] : 0;
    }
  }
  return out;
}

/** A stamp convolved with the drizzle footprint (separable, 3 taps). */
function withDrizzle(stamp: Float32Array, side: number, w: [number, number, number]): Float32Array {
  const tmp = new Float32Array(side * side);
  const out = new Float32Array(side * side);
  for (let j = 0; j < side; j++)
    for (let i = 0; i < side; i++)
      for (let t = -1; t <= 1; t++)
        if (i + t >= 0 && i + t < side) tmp[j * side + i] += w[t + 1] * stamp[j * side + i + t];
  for (let j = 0; j < side; j++)
    for (let i = 0; i < side; i++)
      for (let t = -1; t <= 1; t++)
        if (j + t >= 0 && j + t < side) out[j * side + i] += w[t + 1] * tmp[(j + t) * side + i];
  return out;
}

/** Pupil diameter (samples) giving an optical FWHM of `fwhm` px (hexagon: FWHM ≈ 1.01 λ/D). */
function pupilDiameter(fwhm: number): number {
  return (1.01 * FFT_SIDE) / (fwhm * OVERSAMPLE);
}

/** A simulated JWST-like galaxy field pair. */
export async function makeGalaxyPair(options: Partial<GalaxyPairOptions> = {}): Promise<GalaxyPair> {
  const o: GalaxyPairOptions = { ...DEFAULT_GALAXY_PAIR, ...options };
  const n = o.size;
  const pad = (o.psfSide - 1) / 2;
  const W = n + 2 * pad;
  const rng = new Random(o.seed, 'galaxy-pair');
  const drizzle: [number, number, number] = [
    o.drizzle / (1 + 2 * o.drizzle),
    1 / (1 + 2 * o.drizzle),
    o.drizzle / (1 + 2 * o.drizzle),
  ];
  const drizzleSumSq = (drizzle[0] ** 2 + drizzle[1] ** 2 + drizzle[2] ** 2) ** 2;

  // True PSFs (pixel-integrated, sampled at quarter pixels) and the models.
  const fwhms = [o.fwhm * o.fwhmRatio, o.fwhm];
  const truth = await Promise.all(fwhms.map((f, k) => pixelPsf(pupilDiameter(f), o.jitter[k])));
  const modelStamps = await Promise.all(
    fwhms.map(async (f, k) => {
      const e = o.modelFwhmError[k];
      const p = e === 1 ? truth[k] : await pixelPsf(pupilDiameter(f * e), o.jitter[k]);
      const s = detectorStamp(p, o.psfSide);
      return o.modelIncludesDrizzle ? withDrizzle(s, o.psfSide, drizzle) : s;
    }),
  );

  // The sky: galaxies over the image and a margin (pad) around it.
  const galaxies: PlacedGalaxy[] = [];
  const [fmin, fmax] = o.galaxyFlux;
  for (let k = 0; k < o.galaxies; k++) {
    // N(>F) ∝ F^−0.75 between fmin and fmax: inverse transform sampling.
    const u = rng.uniform();
    const a = fmin ** -0.75;
    const b = fmax ** -0.75;
    const flux = (a - u * (a - b)) ** (-1 / 0.75);
    const re = Math.min(25, Math.max(0.6, 1.2 * (flux / 100) ** 0.3 * Math.exp(0.4 * rng.normal())));
    const shape: SersicShape = {
      n: 0.5 * 8 ** rng.uniform(),
      re,
      q: rng.range(0.3, 1),
      theta: rng.range(0, Math.PI),
    };
    galaxies.push({ x: rng.range(-pad / 2, n + pad / 2), y: rng.range(-pad / 2, n + pad / 2), flux, shape });
  }
  // Point sources on the quarter-pixel grid their stamps are drawn at.
  const quarter = (v: number) => Math.round(v * OVERSAMPLE) / OVERSAMPLE;
  const stars: GalaxyPair['stars'] = [];
  for (let k = 0; k < o.stars; k++) {
    const flux = o.starFlux[0] * (o.starFlux[1] / o.starFlux[0]) ** rng.uniform();
    stars.push({ x: quarter(rng.range(20, n - 20)), y: quarter(rng.range(20, n - 20)), flux });
  }
  const transients: GalaxyPair['transients'] = [];
  const hosts = galaxies
    .map((g, i) => ({ g, i }))
    .filter(({ g }) => g.flux > 300 && g.x > 40 && g.x < n - 40 && g.y > 40 && g.y < n - 40);
  for (let k = 0; k < o.transients; k++) {
    const flux = o.transientFlux[0] * (o.transientFlux[1] / o.transientFlux[0]) ** rng.uniform();
    if (rng.uniform() < o.hostedFraction && hosts.length > 0) {
      const { g, i } = hosts[rng.int(hosts.length)];
      const r = g.shape.re * Math.sqrt(rng.uniform());
      const phi = rng.range(0, 2 * Math.PI);
      transients.push({
        x: quarter(g.x + r * Math.cos(phi)),
        y: quarter(g.y + r * Math.sin(phi)),
        flux,
        host: i,
      });
    } else {
      transients.push({ x: quarter(rng.range(30, n - 30)), y: quarter(rng.range(30, n - 30)), flux });
    }
  }

  // Each epoch: galaxies (pixel-integrated Sérsic profiles) through the PSF, point sources at
  // quarter-pixel phases, Poisson and background noise per exposure pixel, then the drizzle
  // footprint on signal and noise alike; the sky on top.
  const unit = new Float32Array([1]);
  const epoch = async (k: 0 | 1) => {
    const scale = k === 0 ? o.fluxRatio : 1;
    const [dx, dy] = k === 0 ? [0, 0] : o.referenceOffset;
    const scene = new Float32Array(W * W);
    for (const g of galaxies)
      drawGalaxy(scene, W, W, g.shape, g.x - dx + pad, g.y - dy + pad, g.flux * scale, unit);
    const phase0 = detectorStamp(truth[k], o.psfSide);
    const blurred = await convolveFft(
      { width: W, height: W, data: scene },
      { width: o.psfSide, height: o.psfSide, data: phase0 },
      'zero',
    );
    const model = new Float32Array(n * n);
    for (let y = 0; y < n; y++)
      model.set(blurred.subarray((y + pad) * W + pad, (y + pad) * W + pad + n), y * n);
    const points = [
      ...stars.map((s) => ({ x: s.x - dx, y: s.y - dy, flux: s.flux * scale })),
      ...(k === 0 ? transients : []),
    ];
    const stampCache = new Map<number, Float32Array>();
    for (const p of points) {
      const cx = Math.round(p.x);
      const cy = Math.round(p.y);
      const a = Math.round((p.x - cx) * OVERSAMPLE);
      const b = Math.round((p.y - cy) * OVERSAMPLE);
      const key = (a + 8) * 16 + b + 8;
      let st = stampCache.get(key);
      if (!st) {
        st = detectorStamp(truth[k], o.psfSide, a, b);
        stampCache.set(key, st);
      }
      const side = o.psfSide;
      const h = (side - 1) / 2;
      for (let j = 0; j < side; j++) {
        const y = cy + j - h;
        if (y < 0 || y >= n) continue;
        for (let i = 0; i < side; i++) {
          const x = cx + i - h;
          if (x >= 0 && x < n) model[y * n + x] += p.flux * st[j * side + i];
        }
      }
    }
    const sigmaW = o.pixelSigma[k] / Math.sqrt(drizzleSumSq);
    const r = new Random(o.seed, 'galaxy-pair-noise', k);
    const noisy = new Float32Array(n * n);
    for (let i = 0; i < n * n; i++) {
      const src = Number.isFinite(o.gain) ? Math.max(model[i], 0) / o.gain : 0;
      noisy[i] = model[i] + Math.sqrt(sigmaW * sigmaW + src) * r.normal();
    }
    const kernel = {
      width: 3,
      height: 3,
      data: Float32Array.from({ length: 9 }, (_, i) => drizzle[Math.floor(i / 3)] * drizzle[i % 3]),
    };
    const drizzled = await convolveFft({ width: n, height: n, data: noisy }, kernel, 'nearest');
    const signal = await convolveFft({ width: n, height: n, data: model }, kernel, 'nearest');
    for (let y = 0; y < n; y++)
      for (let x = 0; x < n; x++)
        drizzled[y * n + x] += o.sky[k] + (k === 0 ? (o.skyGradient * (x - n / 2)) / n : 0);
    return { data: drizzled, model: signal };
  };
  const sci = await epoch(0);
  const ref = await epoch(1);

  const header = (k: 0 | 1, gain: boolean) => {
    const h = new Header();
    h.set('TELESCOP', 'JWST');
    h.set('INSTRUME', 'NIRCAM');
    h.set('FILTER', 'F200W');
    h.set('BUNIT', 'MJy/sr');
    if (gain && Number.isFinite(o.gain)) h.set('GAIN', o.gain);
    // GOODS-S, 0.03"/px, north up; FITS pixels are 1-based.
    const [dx, dy] = k === 0 ? [0, 0] : o.referenceOffset;
    h.set('CTYPE1', 'RA---TAN');
    h.set('CTYPE2', 'DEC--TAN');
    h.set('CRVAL1', 53.16);
    h.set('CRVAL2', -27.78);
    h.set('CRPIX1', n / 2 + 1 - dx);
    h.set('CRPIX2', n / 2 + 1 - dy);
    h.set('CD1_1', -0.03 / 3600);
    h.set('CD1_2', 0);
    h.set('CD2_1', 0);
    h.set('CD2_2', 0.03 / 3600);
    return h;
  };
  const read = (stamp: Float32Array) => psfFromImage(stamp, o.psfSide, o.psfSide);
  return {
    options: o,
    science: sci.data,
    reference: ref.data,
    scienceModel: sci.model,
    referenceModel: ref.model,
    sciencePsfStamp: modelStamps[0],
    referencePsfStamp: modelStamps[1],
    sciencePsf: read(modelStamps[0]),
    referencePsf: read(modelStamps[1]),
    scienceHeader: header(0, false),
    referenceHeader: header(1, false),
    scienceHeaderWithGain: header(0, true),
    referenceHeaderWithGain: header(1, true),
    drizzleKernel: drizzle,
    galaxies,
    stars,
    transients,
  };
}

export type DetectionKind = 'transient' | 'star' | 'edge' | 'galaxy core' | 'galaxy outskirts' | 'blank sky';

/**
 * What a detection at (x, y) is: a truth transient (within 2.5 px), a star's residual (within
 * 12 px), at the edge (within 16 px), on a galaxy's core (the noise-free reference there is
 * above 20 σ per pixel), on fainter galaxy light (above 1 σ), or on blank sky.
 */
export function classify(p: GalaxyPair, x: number, y: number): DetectionKind {
  const n = p.options.size;
  if (p.transients.some((t) => Math.hypot(t.x - x, t.y - y) < 2.5)) return 'transient';
  if (p.stars.some((s) => Math.hypot(s.x - x, s.y - y) < 12)) return 'star';
  if (x < 16 || y < 16 || x >= n - 16 || y >= n - 16) return 'edge';
  const [dx, dy] = p.options.referenceOffset;
  const rx = Math.min(n - 1, Math.max(0, Math.round(x - dx)));
  const ry = Math.min(n - 1, Math.max(0, Math.round(y - dy)));
  const v = p.referenceModel[ry * n + rx];
  const s = p.options.pixelSigma[1];
  if (v > 20 * s) return 'galaxy core';
  if (v > s) return 'galaxy outskirts';
  return 'blank sky';
}
