/**
 * Galaxies: elliptical Sérsic profiles, integrated over pixels by sub-sampling, then blurred by
 * the PSF's pixel-level stamp. The profile is truncated at 4 effective radii and normalised
 * within, so the drawn flux is the catalogued flux.
 */

export interface SersicShape {
  /** Sérsic index (0.5 … 4). */
  n: number;
  /** Effective (half-light) semi-major radius, pixels. */
  re: number;
  /** Axis ratio b/a (0 < q ≤ 1). */
  q: number;
  /** Position angle of the major axis, radians, counter-clockwise from the +x axis. */
  theta: number;
}

/** b_n such that r_e encloses half the light (Ciotti & Bertin 1999 asymptotic series). */
export function sersicB(n: number): number {
  return 2 * n - 1 / 3 + 4 / (405 * n) + 46 / (25515 * n * n) + 131 / (1148175 * n ** 3);
}

const TRUNCATION = 4;

/** Stamp half-width (pixels) for a galaxy blurred by a kernel of half-width `kernelRadius`. */
export function galaxyRadius(shape: SersicShape, kernelRadius: number): number {
  return Math.ceil(TRUNCATION * shape.re) + kernelRadius + 1;
}

/**
 * Draw a Sérsic galaxy of total `flux` centred at (x, y) into `image` (rows [rowStart, rowEnd)),
 * blurred by `kernel` (a normalised (2k+1)² stamp). Returns the flux added inside the image.
 */
export function drawGalaxy(
  image: Float32Array,
  width: number,
  height: number,
  shape: SersicShape,
  x: number,
  y: number,
  flux: number,
  kernel: Float32Array,
  rowStart = 0,
  rowEnd = height,
): number {
  const kSide = Math.round(Math.sqrt(kernel.length));
  const kr = (kSide - 1) / 2;
  const R = Math.ceil(TRUNCATION * shape.re) + 1;
  const side = 2 * R + 1;
  const cx = Math.round(x);
  const cy = Math.round(y);
  const dx = x - cx;
  const dy = y - cy;
  const intrinsic = new Float64Array(side * side);
  const b = sersicB(shape.n);
  const inv = 1 / shape.n;
  const c = Math.cos(shape.theta);
  const s = Math.sin(shape.theta);
  const rmax2 = (TRUNCATION * shape.re) ** 2;
  let total = 0;
  for (let py = 0; py < side; py++) {
    for (let px = 0; px < side; px++) {
      const ox = px - R - dx;
      const oy = py - R - dy;
      // Finer sub-sampling near the cusp, where the profile changes fastest.
      const near = ox * ox + oy * oy < 4 + shape.re;
      const m = near ? 9 : 3;
      let acc = 0;
      for (let j = 0; j < m; j++) {
        const sy = oy - 0.5 + (j + 0.5) / m;
        for (let i = 0; i < m; i++) {
          const sx = ox - 0.5 + (i + 0.5) / m;
          const u = sx * c + sy * s;
          const v = (-sx * s + sy * c) / shape.q;
          const r2 = u * u + v * v;
          if (r2 > rmax2) continue;
          acc += Math.exp(-b * (Math.sqrt(r2) / shape.re) ** inv);
        }
      }
      const val = acc / (m * m);
      intrinsic[py * side + px] = val;
      total += val;
    }
  }
  if (!(total > 0)) return 0;
  const scale = flux / total;
  // Blur by the kernel into the image, clipped to the rows and the image.
  const oy0 = cy - R - kr;
  const ox0 = cx - R - kr;
  const outSide = side + 2 * kr;
  const y0 = Math.max(oy0, rowStart, 0);
  const y1 = Math.min(oy0 + outSide, rowEnd, height);
  const x0 = Math.max(ox0, 0);
  const x1 = Math.min(ox0 + outSide, width);
  let added = 0;
  for (let yy = y0; yy < y1; yy++) {
    const qy = yy - oy0; // row in the blurred stamp
    for (let xx = x0; xx < x1; xx++) {
      const qx = xx - ox0;
      let acc = 0;
      // Blurred(q) = Σ_k kernel(k) · intrinsic(q − k), indices shifted by kr.
      const jy0 = Math.max(0, qy - 2 * kr);
      const jy1 = Math.min(side - 1, qy);
      const jx0 = Math.max(0, qx - 2 * kr);
      const jx1 = Math.min(side - 1, qx);
      for (let jy = jy0; jy <= jy1; jy++) {
        const krow = (qy - jy) * kSide;
        const irow = jy * side;
        for (let jx = jx0; jx <= jx1; jx++) acc += kernel[krow + qx - jx] * intrinsic[irow + jx];
      }
      const v = acc * scale;
      image[yy * width + xx] += v;
      added += v;
    }
  }
  return added;
}
