/**
 * Zenithal map projections between the plane of intermediate world coordinates (x, y, in
 * degrees) and native spherical coordinates (Calabretta & Greisen 2002, "WCS Paper II",
 * section 5.1): TAN (gnomonic), SIN (orthographic, with the slant "synthesis" form) and ZPN
 * (zenithal polynomial).
 *
 * The native side is a unit vector n = (cos θ cos φ, cos θ sin φ, sin θ). For a zenithal
 * projection φ = atan2(x, −y), so cos φ = −y/r and sin φ = x/r: the vector follows from the
 * plane coordinates with a square root and no trigonometry for TAN and SIN. Points outside a
 * projection's domain become NaN.
 */
import { BadInputError } from '../util/errors.ts';
import { D2R, R2D } from './rotation.ts';

export type ProjectionCode = 'TAN' | 'SIN' | 'ZPN';

export const PROJECTION_CODES: readonly ProjectionCode[] = ['TAN', 'SIN', 'ZPN'];

export interface Projection {
  readonly code: ProjectionCode;
  /** The projection parameters PV2_m that matter (index m; holes are defaults), for writing back. */
  readonly parameters: readonly (number | undefined)[];
  /** Plane (degrees) to native unit vectors; NaN outside the projection's domain. */
  deproject(
    x: Float64Array,
    y: Float64Array,
    n1: Float64Array,
    n2: Float64Array,
    n3: Float64Array,
    count: number,
  ): void;
  /** Native unit vectors to the plane (degrees); NaN where the point cannot be projected. */
  project(
    n1: Float64Array,
    n2: Float64Array,
    n3: Float64Array,
    x: Float64Array,
    y: Float64Array,
    count: number,
  ): void;
}

/**
 * A projection from its code and parameters (`parameters[m]` is PV2_m; holes are absent
 * values). Throws BadInputError for parameters that define no projection.
 */
export function makeProjection(
  code: ProjectionCode,
  parameters: readonly (number | undefined)[] = [],
): Projection {
  switch (code) {
    case 'TAN':
      return new Gnomonic();
    case 'SIN':
      return new Orthographic(parameters[1] ?? 0, parameters[2] ?? 0);
    case 'ZPN':
      return new ZenithalPolynomial(parameters);
  }
}

/** TAN: R = (180/π) cot θ. Every plane point is on the sphere; only the hemisphere θ > 0 projects. */
class Gnomonic implements Projection {
  readonly code = 'TAN' as const;
  readonly parameters: readonly (number | undefined)[] = [];

  deproject(
    x: Float64Array,
    y: Float64Array,
    n1: Float64Array,
    n2: Float64Array,
    n3: Float64Array,
    count: number,
  ) {
    for (let i = 0; i < count; i++) {
      const xr = x[i] * D2R;
      const yr = y[i] * D2R;
      // The point (x, −y, ...) seen from the sphere's centre on the tangent plane z = 1.
      const s = 1 / Math.sqrt(1 + xr * xr + yr * yr);
      n1[i] = -yr * s;
      n2[i] = xr * s;
      n3[i] = s;
    }
  }

  project(
    n1: Float64Array,
    n2: Float64Array,
    n3: Float64Array,
    x: Float64Array,
    y: Float64Array,
    count: number,
  ) {
    for (let i = 0; i < count; i++) {
      const z = n3[i];
      if (z > 0) {
        x[i] = (n2[i] / z) * R2D;
        y[i] = (-n1[i] / z) * R2D;
      } else {
        x[i] = Number.NaN;
        y[i] = Number.NaN;
      }
    }
  }
}

/**
 * SIN with obliqueness (ξ, η) = (PV2_1, PV2_2): x = (180/π)(cos θ sin φ + ξ(1 − sin θ)),
 * y = −(180/π)(cos θ cos φ − η(1 − sin θ)). With ξ = η = 0 it is the orthographic projection.
 */
class Orthographic implements Projection {
  readonly code = 'SIN' as const;
  readonly parameters: readonly (number | undefined)[];
  private readonly xi: number;
  private readonly eta: number;

  constructor(xi: number, eta: number) {
    this.xi = xi;
    this.eta = eta;
    this.parameters = xi === 0 && eta === 0 ? [] : [undefined, xi, eta];
  }

  deproject(
    x: Float64Array,
    y: Float64Array,
    n1: Float64Array,
    n2: Float64Array,
    n3: Float64Array,
    count: number,
  ) {
    const xi = this.xi;
    const eta = this.eta;
    const w1 = xi * xi + eta * eta;
    for (let i = 0; i < count; i++) {
      const x0 = x[i] * D2R;
      const y0 = y[i] * D2R;
      const r2 = x0 * x0 + y0 * y0;
      if (w1 === 0) {
        // cos θ = r, and θ ≥ 0: the visible hemisphere.
        if (r2 > 1) {
          n1[i] = n2[i] = n3[i] = Number.NaN;
          continue;
        }
        n1[i] = -y0;
        n2[i] = x0;
        n3[i] = Math.sqrt(1 - r2);
        continue;
      }
      // Slant form: sin θ solves a quadratic (Paper II, eqs. 44-45); take the root nearer the pole.
      const xy = x0 * xi + y0 * eta;
      let sinTheta: number;
      let z: number;
      if (r2 < 1e-10) {
        const t2 = r2 / (1 + xy);
        z = t2 / 2;
        sinTheta = 1 - z;
      } else {
        const a = 1 + w1;
        const b = xy - w1;
        const c = r2 - xy - xy + w1 - 1;
        let d = b * b - a * c;
        if (d < 0) {
          n1[i] = n2[i] = n3[i] = Number.NaN;
          continue;
        }
        d = Math.sqrt(d);
        const s1 = (-b + d) / a;
        const s2 = (-b - d) / a;
        sinTheta = Math.max(s1, s2);
        if (sinTheta > 1) sinTheta = sinTheta - 1 < 1e-13 ? 1 : Math.min(s1, s2);
        if (sinTheta < -1 && sinTheta + 1 > -1e-13) sinTheta = -1;
        if (sinTheta > 1 || sinTheta < -1) {
          n1[i] = n2[i] = n3[i] = Number.NaN;
          continue;
        }
        z = 1 - sinTheta;
      }
      // (x1, y1) = cos θ (cos φ, sin φ), straight from the projection equations.
      n1[i] = -y0 + eta * z;
      n2[i] = x0 - xi * z;
      n3[i] = sinTheta;
    }
  }

  project(
    n1: Float64Array,
    n2: Float64Array,
    n3: Float64Array,
    x: Float64Array,
    y: Float64Array,
    count: number,
  ) {
    const xi = this.xi;
    const eta = this.eta;
    for (let i = 0; i < count; i++) {
      const a = n1[i];
      const b = n2[i];
      const c = n3[i];
      // Visible when θ ≥ −atan(ξ sin φ − η cos φ), i.e. sin θ + ξ cos θ sin φ − η cos θ cos φ ≥ 0.
      if (!(c + xi * b - eta * a >= 0)) {
        x[i] = Number.NaN;
        y[i] = Number.NaN;
        continue;
      }
      // 1 − sin θ written as cos²θ / (1 + sin θ) keeps its precision near the pole.
      const z = c > 0 ? (a * a + b * b) / (1 + c) : 1 - c;
      x[i] = (b + xi * z) * R2D;
      y[i] = -(a - eta * z) * R2D;
    }
  }
}

/**
 * ZPN: R = (180/π) Σ P_m γ^m with γ = 90° − θ in radians and P_m = PV2_m (m = 0…29). The
 * projection is used up to the first turning point of R(γ), where it stops being one-to-one.
 */
class ZenithalPolynomial implements Projection {
  readonly code = 'ZPN' as const;
  readonly parameters: readonly (number | undefined)[];
  /** Coefficients P_0…P_k, k the highest non-zero one. */
  private readonly p: Float64Array;
  /** Colatitude (radians) of the first turning point of R(γ), or π. */
  private readonly gammaMax: number;
  /** R (radians) at gammaMax. */
  private readonly rMax: number;

  constructor(parameters: readonly (number | undefined)[]) {
    const values = Array.from({ length: 30 }, (_, m) => parameters[m] ?? 0);
    let k = values.length - 1;
    while (k >= 0 && values[k] === 0) k--;
    if (k < 1) {
      throw new BadInputError('ZPN projection needs PV2_1 or a higher coefficient; the header has none');
    }
    this.p = Float64Array.from(values.slice(0, k + 1));
    this.parameters = values.slice(0, k + 1);
    if (this.p[1] <= 0) {
      throw new BadInputError(
        `ZPN projection needs PV2_1 > 0 (R must grow away from the pole), got ${this.p[1]}`,
      );
    }
    this.gammaMax = k === 1 ? Math.PI : this.firstTurningPoint();
    this.rMax = this.radius(this.gammaMax);
  }

  private radius(gamma: number): number {
    const p = this.p;
    let r = 0;
    for (let m = p.length - 1; m >= 0; m--) r = r * gamma + p[m];
    return r;
  }

  private slope(gamma: number): number {
    const p = this.p;
    let d = 0;
    for (let m = p.length - 1; m >= 1; m--) d = d * gamma + m * p[m];
    return d;
  }

  /** Where dR/dγ first reaches zero in (0, π]: step in whole degrees, then bisect. */
  private firstTurningPoint(): number {
    let lo = 0;
    for (let j = 1; j <= 180; j++) {
      const hi = j * D2R;
      if (this.slope(hi) <= 0) {
        let a = lo;
        let b = hi;
        for (let it = 0; it < 200 && b - a > 1e-15; it++) {
          const mid = 0.5 * (a + b);
          if (this.slope(mid) > 0) a = mid;
          else b = mid;
        }
        return a;
      }
      lo = hi;
    }
    return Math.PI;
  }

  /** γ with R(γ) = r on [0, gammaMax], by Newton's method kept inside a bracket; NaN if none. */
  private colatitude(r: number): number {
    const tol = 1e-13;
    const p0 = this.p[0];
    if (r < p0) return r < p0 - tol ? Number.NaN : 0;
    if (r > this.rMax) return r > this.rMax + tol ? Number.NaN : this.gammaMax;
    let lo = 0;
    let hi = this.gammaMax;
    let g = Math.min(Math.max((r - p0) / this.p[1], lo), hi);
    for (let it = 0; it < 100; it++) {
      const f = this.radius(g) - r;
      if (f === 0) return g;
      if (f < 0) lo = g;
      else hi = g;
      const d = this.slope(g);
      let next = d > 0 ? g - f / d : Number.NaN;
      if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
      if (Math.abs(next - g) < 1e-16 + 1e-15 * g) return next;
      g = next;
    }
    return g;
  }

  deproject(
    x: Float64Array,
    y: Float64Array,
    n1: Float64Array,
    n2: Float64Array,
    n3: Float64Array,
    count: number,
  ) {
    for (let i = 0; i < count; i++) {
      const xi = x[i];
      const yi = y[i];
      const r = Math.sqrt(xi * xi + yi * yi);
      const gamma = this.colatitude(r * D2R);
      const s = Math.sin(gamma);
      if (r === 0) {
        // φ = 0 by convention at the centre of the plane.
        n1[i] = s;
        n2[i] = 0;
      } else {
        n1[i] = (-yi / r) * s;
        n2[i] = (xi / r) * s;
      }
      n3[i] = Math.cos(gamma);
    }
  }

  project(
    n1: Float64Array,
    n2: Float64Array,
    n3: Float64Array,
    x: Float64Array,
    y: Float64Array,
    count: number,
  ) {
    for (let i = 0; i < count; i++) {
      const a = n1[i];
      const b = n2[i];
      const s = Math.sqrt(a * a + b * b);
      const gamma = Math.atan2(s, n3[i]);
      if (!(gamma <= this.gammaMax)) {
        x[i] = Number.NaN;
        y[i] = Number.NaN;
        continue;
      }
      const r = this.radius(gamma) * R2D;
      if (s === 0) {
        x[i] = 0;
        y[i] = -r;
      } else {
        x[i] = (r * b) / s;
        y[i] = (-r * a) / s;
      }
    }
  }
}
