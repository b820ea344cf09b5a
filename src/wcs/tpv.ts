/**
 * TPV distortion (the SCAMP/NOAO convention, CTYPE 'RA---TPV'): polynomials of up to 7th order
 * in intermediate world coordinates (x, y, degrees, after the CD matrix), applied before the
 * TAN projection:
 *
 *   ξ = Σ PV1_k T_k(x, y),   η = Σ PV2_k T_k(y, x),   k = 0…39
 *
 * where T_k runs through the monomials of each degree d (x^d, x^(d−1) y, …, y^d) and, for odd
 * d, r^d with r = √(x² + y²). Coefficients not in the header are zero (as in wcslib), so PV1_1
 * and PV2_1 must be given for a non-degenerate transform.
 */
import type { Header } from '../fits/header.ts';
import { evaluatePair, Poly2 } from './polynomial.ts';

export const TPV_TERMS = 40;
const MAX_ITERATIONS = 50;

/** For term k: the powers [p, q] of x^p y^q, or [d, -1] for the radial term r^d. */
export const TPV_POWERS: readonly (readonly [number, number])[] = (() => {
  const out: [number, number][] = [];
  for (let d = 0; d <= 7; d++) {
    for (let q = 0; q <= d; q++) out.push([d - q, q]);
    if (d % 2 === 1) out.push([d, -1]);
  }
  return out;
})();

/** Matches every PVi_m keyword of the two celestial axes. */
export const PV_KEYWORD = /^PV[12]_\d+$/;

export class TpvDistortion {
  /** PV1_0…PV1_39 and PV2_0…PV2_39 (absent ones zero). */
  readonly pv1: Float64Array;
  readonly pv2: Float64Array;
  /** ξ and η as polynomials in (x, y), without the radial terms. */
  private readonly xiPoly: Poly2;
  private readonly etaPoly: Poly2;
  private readonly xiU: Poly2;
  private readonly xiV: Poly2;
  private readonly etaU: Poly2;
  private readonly etaV: Poly2;
  /** Coefficients of r, r³, r⁵, r⁷ in ξ and in η. */
  private readonly xiR: Float64Array;
  private readonly etaR: Float64Array;
  private readonly radial: boolean;

  constructor(pv1: ArrayLike<number>, pv2: ArrayLike<number>) {
    this.pv1 = new Float64Array(TPV_TERMS);
    this.pv2 = new Float64Array(TPV_TERMS);
    for (let k = 0; k < TPV_TERMS; k++) {
      this.pv1[k] = pv1[k] ?? 0;
      this.pv2[k] = pv2[k] ?? 0;
    }
    this.xiR = new Float64Array(4);
    this.etaR = new Float64Array(4);
    // Lowest polynomial order that holds every non-zero term keeps the Horner sums short.
    let order = 0;
    for (let k = 0; k < TPV_TERMS; k++) {
      if (this.pv1[k] !== 0 || this.pv2[k] !== 0) {
        const [p, q] = TPV_POWERS[k];
        order = Math.max(order, q < 0 ? 0 : p + q);
      }
    }
    const xi = new Float64Array((order + 1) ** 2);
    const eta = new Float64Array((order + 1) ** 2);
    for (let k = 0; k < TPV_TERMS; k++) {
      const [p, q] = TPV_POWERS[k];
      if (q < 0) {
        this.xiR[(p - 1) / 2] = this.pv1[k];
        this.etaR[(p - 1) / 2] = this.pv2[k];
      } else if (p + q <= order) {
        xi[p * (order + 1) + q] += this.pv1[k];
        // η's term k is T_k(y, x) = y^p x^q: coefficient of x^q y^p.
        eta[q * (order + 1) + p] += this.pv2[k];
      }
    }
    this.xiPoly = new Poly2(order, xi);
    this.etaPoly = new Poly2(order, eta);
    this.xiU = this.xiPoly.derivativeU();
    this.xiV = this.xiPoly.derivativeV();
    this.etaU = this.etaPoly.derivativeU();
    this.etaV = this.etaPoly.derivativeV();
    this.radial = this.xiR.some((c) => c !== 0) || this.etaR.some((c) => c !== 0);
  }

  /** (x, y) → (ξ, η) in place, degrees. */
  forward(x: Float64Array, y: Float64Array, count: number): void {
    if (!this.radial) {
      evaluatePair(this.xiPoly, this.etaPoly, x, y, x, y, count, false);
      return;
    }
    for (let i = 0; i < count; i++) {
      const xi = x[i];
      const yi = y[i];
      const r = Math.sqrt(xi * xi + yi * yi);
      x[i] = this.xiPoly.at(xi, yi) + radialSum(this.xiR, r);
      y[i] = this.etaPoly.at(xi, yi) + radialSum(this.etaR, r);
    }
  }

  /**
   * (ξ, η) → (x, y) in place, by Newton's method from (ξ, η); stops when the correction is
   * below `tolerance` degrees. NaN where it does not converge.
   */
  inverse(x: Float64Array, y: Float64Array, count: number, tolerance: number): void {
    for (let i = 0; i < count; i++) {
      const targetXi = x[i];
      const targetEta = y[i];
      let u = targetXi;
      let v = targetEta;
      let converged = false;
      for (let it = 0; it < MAX_ITERATIONS && Number.isFinite(u) && Number.isFinite(v); it++) {
        let f = this.xiPoly.at(u, v) - targetXi;
        let g = this.etaPoly.at(u, v) - targetEta;
        let j11 = this.xiU.at(u, v);
        let j12 = this.xiV.at(u, v);
        let j21 = this.etaU.at(u, v);
        let j22 = this.etaV.at(u, v);
        if (this.radial) {
          const r = Math.sqrt(u * u + v * v);
          f += radialSum(this.xiR, r);
          g += radialSum(this.etaR, r);
          if (r > 0) {
            // d(r^n)/dx = n r^(n−1) x / r.
            const dxi = radialSlope(this.xiR, r) / r;
            const deta = radialSlope(this.etaR, r) / r;
            j11 += dxi * u;
            j12 += dxi * v;
            j21 += deta * u;
            j22 += deta * v;
          }
        }
        const det = j11 * j22 - j12 * j21;
        const du = (f * j22 - g * j12) / det;
        const dv = (g * j11 - f * j21) / det;
        u -= du;
        v -= dv;
        if (Math.abs(du) < tolerance && Math.abs(dv) < tolerance) {
          converged = true;
          break;
        }
      }
      x[i] = converged ? u : Number.NaN;
      y[i] = converged ? v : Number.NaN;
    }
  }

  // ---- FITS keywords ------------------------------------------------------------------

  /** TPV from PV1_0…39 and PV2_0…39; undefined when the header has none of them. */
  static fromHeader(header: Header): TpvDistortion | undefined {
    const pv1 = new Float64Array(TPV_TERMS);
    const pv2 = new Float64Array(TPV_TERMS);
    let any = false;
    for (let k = 0; k < TPV_TERMS; k++) {
      const a = header.optionalNumber(`PV1_${k}`);
      const b = header.optionalNumber(`PV2_${k}`);
      if (a !== undefined) pv1[k] = a;
      if (b !== undefined) pv2[k] = b;
      any ||= a !== undefined || b !== undefined;
    }
    return any ? new TpvDistortion(pv1, pv2) : undefined;
  }

  /** Write PV1_k and PV2_k: the linear terms always, the others when non-zero. */
  writeToHeader(header: Header): void {
    for (const [axis, pv] of [
      [1, this.pv1],
      [2, this.pv2],
    ] as const) {
      for (let k = 0; k < TPV_TERMS; k++) {
        if (pv[k] !== 0 || k === 1) header.set(`PV${axis}_${k}`, pv[k], 'TPV distortion coefficient');
      }
    }
  }
}

function radialSum(c: Float64Array, r: number): number {
  const r2 = r * r;
  return r * (c[0] + r2 * (c[1] + r2 * (c[2] + r2 * c[3])));
}

/** d/dr of radialSum. */
function radialSlope(c: Float64Array, r: number): number {
  const r2 = r * r;
  return c[0] + r2 * (3 * c[1] + r2 * (5 * c[2] + r2 * 7 * c[3]));
}
