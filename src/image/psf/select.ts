/**
 * PSF star selection: isolated, unsaturated, high-S/N point sources.
 *
 * Candidates are local maxima of the background-subtracted image. Each gets an aperture flux,
 * S/N and a size: the trace of its Gaussian-weighted second moments, which depends little on
 * the sub-pixel phase even for undersampled stars. Point sources form the compact end of the
 * size distribution: galaxies are larger, cosmic rays and hot pixels smaller.
 */
export interface StarCandidate {
  x: number;
  y: number;
  flux: number;
  snr: number;
  /** Trace of the weighted second moments, px². */
  size: number;
  /** Ellipticity (A − B)/(A + B) of the weighted second moments' ellipse: 0 round, 1 a line. */
  ellipticity: number;
  peak: number;
}

export interface SelectOptions {
  /** Stamp half-width: a star's stamp must fit in the image and hold no other source. */
  radius: number;
  /** Minimum S/N of the aperture flux. */
  minSnr?: number;
  /** Pixels at or above this are saturated (default: none); raw units when `raw` is given. */
  saturation?: number;
  /**
   * The image before its background was subtracted: saturation is then judged on the raw
   * values, as the detector clipped them.
   */
  raw?: ArrayLike<number>;
  /** Mask bits that exclude a pixel (default: any). */
  maskBits?: number;
  /** Keep at most this many (the highest S/N). */
  maxStars?: number;
  /** Accepted relative deviation from the stellar size. */
  sizeTolerance?: number;
  /** Largest ellipticity (A − B)/(A + B) of a star (default 0.3, PSFEx's SAMPLE_MAXELLIP). */
  maxEllipticity?: number;
}

/** Half-width of the window of `moments` for star selection (and point-source tests), px. */
export const STAR_WINDOW = 3;
/** Sizes (trace of the weighted second moments) under this are hot pixels and cosmic rays, px². */
export const MIN_STAR_SIZE = 0.25;
/** PSFEx's SAMPLE_MAXELLIP: the largest ellipticity (A − B)/(A + B) of a PSF star. */
export const MAX_STAR_ELLIPTICITY = 0.3;

/**
 * Weighted centroid, size and ellipticity within a small window (Gaussian weight, σ = 1.5 px)
 * around the pixel (x0, y0) of background-subtracted data; the window must lie inside the image.
 */
export function moments(
  data: Float32Array,
  width: number,
  x0: number,
  y0: number,
  r: number,
): { x: number; y: number; size: number; ellipticity: number } {
  let sw = 0;
  let sx = 0;
  let sy = 0;
  for (let j = -r; j <= r; j++) {
    for (let i = -r; i <= r; i++) {
      const v = data[(y0 + j) * width + x0 + i];
      const w = Math.exp(-(i * i + j * j) / (2 * 1.5 * 1.5)) * v;
      sw += w;
      sx += w * i;
      sy += w * j;
    }
  }
  const mx = sx / sw;
  const my = sy / sw;
  let xx = 0;
  let yy = 0;
  let xy = 0;
  for (let j = -r; j <= r; j++) {
    for (let i = -r; i <= r; i++) {
      const v = data[(y0 + j) * width + x0 + i];
      const w = Math.exp(-(i * i + j * j) / (2 * 1.5 * 1.5)) * v;
      xx += w * (i - mx) ** 2;
      yy += w * (j - my) ** 2;
      xy += w * (i - mx) * (j - my);
    }
  }
  // Semi-axes² are the moment matrix's eigenvalues; noise can make the smaller one negative.
  const half = Math.hypot(xx - yy, 2 * xy) / 2;
  const a = Math.sqrt(Math.max(0, (xx + yy) / 2 + half));
  const b = Math.sqrt(Math.max(0, (xx + yy) / 2 - half));
  return { x: x0 + mx, y: y0 + my, size: (xx + yy) / sw, ellipticity: a + b > 0 ? (a - b) / (a + b) : 1 };
}

/**
 * Point sources suitable for PSF estimation, brightest first. `data` is background-subtracted;
 * `rms` the background noise per pixel.
 */
export function selectStars(
  data: Float32Array,
  rms: Float32Array,
  width: number,
  height: number,
  mask: Uint8Array | undefined,
  options: SelectOptions,
): StarCandidate[] {
  const R = options.radius;
  const minSnr = options.minSnr ?? 30;
  const saturation = options.saturation ?? Number.POSITIVE_INFINITY;
  const raw = options.raw;
  const bits = options.maskBits ?? 0xff;
  const maxEllipticity = options.maxEllipticity ?? MAX_STAR_ELLIPTICITY;
  const apR = 3;
  // 1. Local maxima above 5σ per pixel.
  const peaks: { x: number; y: number; v: number }[] = [];
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const i = y * width + x;
      const v = data[i];
      if (!(v > 5 * rms[i])) continue;
      let isMax = true;
      for (let j = -1; j <= 1 && isMax; j++) {
        for (let k = -1; k <= 1; k++) {
          if ((j !== 0 || k !== 0) && !(data[i + j * width + k] < v)) {
            isMax = false;
            break;
          }
        }
      }
      if (isMax) peaks.push({ x, y, v });
    }
  }
  // 2. Measure; drop those near edges, masks or saturation.
  const measured: StarCandidate[] = [];
  for (const p of peaks) {
    // A margin of 3 px beyond the stamp: fitted positions move by up to 1.5 px.
    if (p.x < R + 3 || p.y < R + 3 || p.x >= width - R - 3 || p.y >= height - R - 3) continue;
    let flux = 0;
    let bad = false;
    let noise2 = 0;
    for (let j = -R; j <= R && !bad; j++) {
      for (let i = -R; i <= R; i++) {
        const k = (p.y + j) * width + p.x + i;
        const v = data[k];
        if (!Number.isFinite(v) || (mask && (mask[k] & bits) !== 0)) {
          bad = true;
          break;
        }
        if (i * i + j * j <= apR * apR) {
          flux += v;
          noise2 += rms[k] * rms[k];
          if ((raw ? raw[k] : v) >= saturation) bad = true;
        }
      }
    }
    if (bad || !(flux > 0)) continue;
    const snr = flux / Math.sqrt(noise2);
    if (snr < minSnr) continue;
    const m = moments(data, width, p.x, p.y, STAR_WINDOW);
    if (!Number.isFinite(m.size) || m.size <= 0) continue;
    // Cosmic-ray tracks (two to four pixels in a line) are as compact as an undersampled star,
    // and where stars are few they outnumber them: on 3 of the demo survey's 24 images they made
    // the stellar locus, and the PSF built from them gave PSF fluxes 49%, 46% and 11% low. Their
    // moments are a line (ellipticity 0.4–1 there, most above 0.8), a star's round (under 0.06).
    if (!(m.ellipticity <= maxEllipticity)) continue;
    measured.push({ x: m.x, y: m.y, flux, snr, size: m.size, ellipticity: m.ellipticity, peak: p.v });
  }
  // 3. Isolation: no other peak brighter than 1% of the star within the stamp (plus 2 px).
  const isolated = measured.filter(
    (s) =>
      !peaks.some(
        (o) =>
          (o.x !== Math.round(s.x) || o.y !== Math.round(s.y)) &&
          Math.abs(o.x - s.x) <= R + 2 &&
          Math.abs(o.y - s.y) <= R + 2 &&
          Math.hypot(o.x - s.x, o.y - s.y) > 1.5 &&
          o.v > 0.01 * s.peak,
      ),
  );
  if (isolated.length === 0) return [];
  // 4. The stellar locus: stars share one size, galaxies spread above it. Sizes are counted
  // within ±5% of each; the locus is the most compact local peak of those counts that is
  // sharp (holding at least 40% of what ±25% holds) and not sparse (a tenth of the fullest).
  // The fullest peak alone can be the galaxies': in a deep co-add those around one size
  // outnumber the stars several times. Sizes under 0.25 px² (a pixel's own integral is 1/6)
  // are hot pixels and cosmic rays, never a PSF.
  const sizes = isolated
    .map((s) => s.size)
    .filter((v) => v >= MIN_STAR_SIZE)
    .sort((a, b) => a - b);
  if (sizes.length === 0) return [];
  const within = (i: number, w: number): number => {
    let lo = i;
    let hi = i;
    while (lo > 0 && sizes[lo - 1] >= sizes[i] * (1 - w)) lo--;
    while (hi < sizes.length - 1 && sizes[hi + 1] <= sizes[i] * (1 + w)) hi++;
    return hi - lo + 1;
  };
  const counts = sizes.map((_, i) => within(i, 0.05));
  const fullest = Math.max(...counts);
  let stellar = sizes[counts.indexOf(fullest)];
  for (let i = 0; i < sizes.length; i++) {
    if (counts[i] < Math.max(5, fullest / 10) || counts[i] < 0.4 * within(i, 0.25)) continue;
    let peak = true;
    for (let j = i - 1; j >= 0 && sizes[j] >= sizes[i] * 0.9 && peak; j--)
      if (counts[j] > counts[i]) peak = false;
    for (let j = i + 1; j < sizes.length && sizes[j] <= sizes[i] * 1.1 && peak; j++)
      if (counts[j] > counts[i]) peak = false;
    if (peak) {
      stellar = sizes[i];
      break;
    }
  }
  const tol = options.sizeTolerance ?? 0.2;
  const stars = isolated
    .filter((s) => Math.abs(s.size - stellar) <= tol * stellar)
    .sort((a, b) => b.snr - a.snr);
  return stars.slice(0, options.maxStars ?? 500);
}
