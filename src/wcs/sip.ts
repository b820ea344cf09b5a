/**
 * SIP distortion (Shupe et al. 2005, "The SIP Convention for Representing Distortion in FITS
 * Image Headers"): polynomials in pixel offsets from CRPIX, applied before the CD matrix.
 *
 *   forward (pixel → focal plane):  U = u + A(u, v),   V = v + B(u, v)
 *   inverse (focal plane → pixel):  u = U + AP(U, V),  v = V + BP(U, V)   (when given)
 *
 * AP/BP are a fitted approximation of the inverse, often good to only 10⁻³–10⁻² px. The exact
 * inverse solves the forward equations by Newton's method; AP/BP, when present, give the
 * starting point.
 */
import type { Header, WarningSink } from '../fits/header.ts';
import { BadInputError } from '../util/errors.ts';
import { evaluatePair, Poly2 } from './polynomial.ts';

/** Newton's method stops when its correction is below this many pixels. */
export const SIP_INVERSE_TOLERANCE = 1e-8;
const MAX_ITERATIONS = 50;

/** How to go from focal-plane to pixel coordinates. */
export type SipInverseMode =
  /** Exact: Newton's method on A/B (AP/BP, if present, only start it). */
  | 'iterate'
  /** AP/BP as written, as wcstools' sky2xy and wcslib do (falls back to 'iterate' without AP/BP). */
  | 'polynomial';

export class SipDistortion {
  readonly a: Poly2;
  readonly b: Poly2;
  readonly ap?: Poly2;
  readonly bp?: Poly2;
  private readonly au: Poly2;
  private readonly av: Poly2;
  private readonly bu: Poly2;
  private readonly bv: Poly2;

  constructor(a: Poly2, b: Poly2, ap?: Poly2, bp?: Poly2) {
    this.a = a;
    this.b = b;
    if ((ap === undefined) !== (bp === undefined))
      throw new RangeError('SIP inverse needs both AP and BP or neither');
    this.ap = ap;
    this.bp = bp;
    this.au = a.derivativeU();
    this.av = a.derivativeV();
    this.bu = b.derivativeU();
    this.bv = b.derivativeV();
  }

  get hasInverse(): boolean {
    return this.ap !== undefined;
  }

  /** Pixel offsets (u, v) → focal-plane (U, V), in place, for the first `count` entries. */
  forward(u: Float64Array, v: Float64Array, count: number): void {
    evaluatePair(this.a, this.b, u, v, u, v, count, true);
  }

  /**
   * Focal-plane (U, V) → pixel offsets (u, v), in place. Points where Newton's method does not
   * converge (far outside the region the polynomials were fitted to) become NaN.
   */
  inverse(u: Float64Array, v: Float64Array, count: number, mode: SipInverseMode = 'iterate'): void {
    const ap = this.ap;
    const bp = this.bp;
    for (let i = 0; i < count; i++) {
      const U = u[i];
      const V = v[i];
      let x = U;
      let y = V;
      if (ap && bp) {
        x = U + ap.at(U, V);
        y = V + bp.at(U, V);
        if (mode === 'polynomial') {
          u[i] = x;
          v[i] = y;
          continue;
        }
      }
      [u[i], v[i]] = this.solve(U, V, x, y);
    }
  }

  /** Newton's method for u + A(u, v) = U, v + B(u, v) = V from (x, y). */
  private solve(U: number, V: number, x: number, y: number): [number, number] {
    for (let it = 0; it < MAX_ITERATIONS; it++) {
      const fx = x + this.a.at(x, y) - U;
      const fy = y + this.b.at(x, y) - V;
      const j11 = 1 + this.au.at(x, y);
      const j12 = this.av.at(x, y);
      const j21 = this.bu.at(x, y);
      const j22 = 1 + this.bv.at(x, y);
      const det = j11 * j22 - j12 * j21;
      const dx = (fx * j22 - fy * j12) / det;
      const dy = (fy * j11 - fx * j21) / det;
      x -= dx;
      y -= dy;
      // Convergence is quadratic: once the step is this small the remaining error is far smaller.
      if (Math.abs(dx) < SIP_INVERSE_TOLERANCE && Math.abs(dy) < SIP_INVERSE_TOLERANCE) return [x, y];
      if (!Number.isFinite(x) || !Number.isFinite(y)) break;
    }
    return [Number.NaN, Number.NaN];
  }

  // ---- FITS keywords ------------------------------------------------------------------

  /**
   * SIP from A_ORDER, A_p_q, B_ORDER, B_p_q and optionally AP_ORDER, AP_p_q, BP_ORDER,
   * BP_p_q. Undefined when the header has no A_ORDER/B_ORDER.
   */
  static fromHeader(header: Header, warn: WarningSink = () => {}): SipDistortion | undefined {
    const hasA = header.has('A_ORDER');
    const hasB = header.has('B_ORDER');
    if (!hasA && !hasB) return undefined;
    if (!hasA || !hasB) {
      throw new BadInputError(
        `SIP distortion is incomplete: the header has ${hasA ? 'A_ORDER' : 'B_ORDER'} but not ${hasA ? 'B_ORDER' : 'A_ORDER'}`,
      );
    }
    const a = readPolynomial(header, 'A');
    const b = readPolynomial(header, 'B');
    const hasAp = header.has('AP_ORDER');
    const hasBp = header.has('BP_ORDER');
    if (hasAp !== hasBp) {
      warn(
        `SIP inverse ignored: the header has ${hasAp ? 'AP_ORDER' : 'BP_ORDER'} without its partner; inverting A/B by iteration`,
      );
      return new SipDistortion(a, b);
    }
    if (!hasAp) return new SipDistortion(a, b);
    return new SipDistortion(a, b, readPolynomial(header, 'AP'), readPolynomial(header, 'BP'));
  }

  /** Write the SIP keywords (only non-zero coefficients). */
  writeToHeader(header: Header): void {
    writePolynomial(header, 'A', this.a, 'SIP polynomial order, axis 1, pixel to focal plane');
    writePolynomial(header, 'B', this.b, 'SIP polynomial order, axis 2, pixel to focal plane');
    if (this.ap && this.bp) {
      writePolynomial(header, 'AP', this.ap, 'SIP polynomial order, axis 1, focal plane to pixel');
      writePolynomial(header, 'BP', this.bp, 'SIP polynomial order, axis 2, focal plane to pixel');
    }
  }
}

/** Matches every SIP keyword, for removing an old distortion before writing a new one. */
export const SIP_KEYWORD = /^(A|B|AP|BP)_(ORDER|DMAX|\d+_\d+)$/;

function readPolynomial(header: Header, name: string): Poly2 {
  const order = header.integer(`${name}_ORDER`);
  if (order < 0 || order > 9) {
    throw new BadInputError(`${name}_ORDER = ${order} is not a usable SIP order (0 to 9)`);
  }
  return Poly2.from(order, (p, q) => header.optionalNumber(`${name}_${p}_${q}`));
}

function writePolynomial(header: Header, name: string, poly: Poly2, comment: string): void {
  header.set(`${name}_ORDER`, poly.order, comment);
  for (let p = 0; p <= poly.order; p++) {
    for (let q = 0; q <= poly.order - p; q++) {
      const c = poly.get(p, q);
      if (c !== 0) header.set(`${name}_${p}_${q}`, c);
    }
  }
}
