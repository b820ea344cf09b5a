/** Orders up to this are evaluated by straight-line code (see evaluatePair). */
export const UNROLLED_ORDER = 5;

/**
 * Bivariate polynomials P(u, v) = Σ c[p][q] u^p v^q with p + q ≤ order: the shape of both the
 * SIP distortion (A, B, AP, BP) and the non-radial part of TPV.
 *
 * Evaluation is nested Horner: for each power of v, a Horner sum in u, then Horner in v. The
 * coefficients are kept twice: by (p, q) for reading and writing, and flattened in evaluation
 * order so the inner loop walks one array forwards.
 */
export class Poly2 {
  readonly order: number;
  /** c[p][q] at index p * (order + 1) + q; entries with p + q > order are zero. */
  readonly coefficients: Float64Array;
  /** The same coefficients in Horner order: q from order down to 0, p from order − q down to 0. */
  readonly horner: Float64Array;

  constructor(order: number, coefficients?: ArrayLike<number>) {
    if (!Number.isInteger(order) || order < 0)
      throw new RangeError(`polynomial order must be ≥ 0, got ${order}`);
    this.order = order;
    const n = order + 1;
    this.coefficients = new Float64Array(n * n);
    if (coefficients) {
      if (coefficients.length !== n * n) {
        throw new RangeError(`expected ${n * n} coefficients for order ${order}, got ${coefficients.length}`);
      }
      for (let p = 0; p <= order; p++) {
        for (let q = 0; q <= order - p; q++) this.coefficients[p * n + q] = coefficients[p * n + q];
      }
    }
    this.horner = new Float64Array(((order + 1) * (order + 2)) / 2);
    let k = 0;
    for (let q = order; q >= 0; q--) {
      for (let p = order - q; p >= 0; p--) this.horner[k++] = this.coefficients[p * n + q];
    }
  }

  /** A polynomial from a function giving c[p][q] (undefined or 0 for absent terms). */
  static from(order: number, coefficient: (p: number, q: number) => number | undefined): Poly2 {
    const n = order + 1;
    const c = new Float64Array(n * n);
    for (let p = 0; p <= order; p++) {
      for (let q = 0; q <= order - p; q++) c[p * n + q] = coefficient(p, q) ?? 0;
    }
    return new Poly2(order, c);
  }

  get(p: number, q: number): number {
    if (p < 0 || q < 0 || p + q > this.order) return 0;
    return this.coefficients[p * (this.order + 1) + q];
  }

  isZero(): boolean {
    return this.coefficients.every((c) => c === 0);
  }

  /** P(u, v). */
  at(u: number, v: number): number {
    const h = this.horner;
    const order = this.order;
    let k = 0;
    let acc = 0;
    for (let q = order; q >= 0; q--) {
      let inner = 0;
      for (let p = order - q; p >= 0; p--) inner = inner * u + h[k++];
      acc = acc * v + inner;
    }
    return acc;
  }

  /** out[i] = P(u[i], v[i]) for i < count. */
  evaluate(u: Float64Array, v: Float64Array, out: Float64Array, count: number): void {
    const h = this.horner;
    const order = this.order;
    for (let i = 0; i < count; i++) {
      const ui = u[i];
      const vi = v[i];
      let k = 0;
      let acc = 0;
      for (let q = order; q >= 0; q--) {
        let inner = 0;
        for (let p = order - q; p >= 0; p--) inner = inner * ui + h[k++];
        acc = acc * vi + inner;
      }
      out[i] = acc;
    }
  }

  /**
   * The polynomial in u along a line of constant v: out[p] = Σ_q c[p][q] v^q, so that
   * P(u, v) = Σ_p out[p] u^p. A whole image row then costs one Horner sum in u per pixel.
   */
  alongU(v: number, out: Float64Array): void {
    const n = this.order + 1;
    const c = this.coefficients;
    for (let p = 0; p <= this.order; p++) {
      let acc = 0;
      for (let q = this.order - p; q >= 0; q--) acc = acc * v + c[p * n + q];
      out[p] = acc;
    }
  }

  /** ∂P/∂u. */
  derivativeU(): Poly2 {
    const order = Math.max(this.order - 1, 0);
    return Poly2.from(order, (p, q) => (p + 1 <= this.order ? (p + 1) * this.get(p + 1, q) : 0));
  }

  /** ∂P/∂v. */
  derivativeV(): Poly2 {
    const order = Math.max(this.order - 1, 0);
    return Poly2.from(order, (p, q) => (q + 1 <= this.order ? (q + 1) * this.get(p, q + 1) : 0));
  }

  /** The polynomial with u and v exchanged: Q(u, v) = P(v, u). */
  swapped(): Poly2 {
    return Poly2.from(this.order, (p, q) => this.get(q, p));
  }
}

/**
 * outP[i] = P(u[i], v[i]) and outQ[i] = Q(u[i], v[i]) for i < count; with `addArguments`,
 * u[i] + P and v[i] + Q instead (the SIP form). Outputs may be the input arrays.
 *
 * This is the hot loop of pixel → sky. When both orders are at most 5 (Roman and most survey
 * SIP headers) it runs straight-line Horner code on coefficients held in locals, padded with
 * zeros (which changes no rounding: 0·u + c is exact); V8 runs the nested loops of
 * Poly2.evaluate several times slower. Higher orders use those loops.
 */
export function evaluatePair(
  P: Poly2,
  Q: Poly2,
  u: Float64Array,
  v: Float64Array,
  outP: Float64Array,
  outQ: Float64Array,
  count: number,
  addArguments: boolean,
): void {
  if (P.order > UNROLLED_ORDER || Q.order > UNROLLED_ORDER) {
    for (let i = 0; i < count; i++) {
      const ui = u[i];
      const vi = v[i];
      const p = P.at(ui, vi);
      const q = Q.at(ui, vi);
      outP[i] = addArguments ? ui + p : p;
      outQ[i] = addArguments ? vi + q : q;
    }
    return;
  }
  const a = P.get.bind(P);
  const b = Q.get.bind(Q);
  const a00 = a(0, 0),
    a10 = a(1, 0),
    a20 = a(2, 0),
    a30 = a(3, 0),
    a40 = a(4, 0),
    a50 = a(5, 0);
  const a01 = a(0, 1),
    a11 = a(1, 1),
    a21 = a(2, 1),
    a31 = a(3, 1),
    a41 = a(4, 1);
  const a02 = a(0, 2),
    a12 = a(1, 2),
    a22 = a(2, 2),
    a32 = a(3, 2);
  const a03 = a(0, 3),
    a13 = a(1, 3),
    a23 = a(2, 3);
  const a04 = a(0, 4),
    a14 = a(1, 4);
  const a05 = a(0, 5);
  const b00 = b(0, 0),
    b10 = b(1, 0),
    b20 = b(2, 0),
    b30 = b(3, 0),
    b40 = b(4, 0),
    b50 = b(5, 0);
  const b01 = b(0, 1),
    b11 = b(1, 1),
    b21 = b(2, 1),
    b31 = b(3, 1),
    b41 = b(4, 1);
  const b02 = b(0, 2),
    b12 = b(1, 2),
    b22 = b(2, 2),
    b32 = b(3, 2);
  const b03 = b(0, 3),
    b13 = b(1, 3),
    b23 = b(2, 3);
  const b04 = b(0, 4),
    b14 = b(1, 4);
  const b05 = b(0, 5);
  const base = addArguments ? 1 : 0;
  for (let i = 0; i < count; i++) {
    const x = u[i];
    const y = v[i];
    const pa =
      a00 +
      x * (a10 + x * (a20 + x * (a30 + x * (a40 + x * a50)))) +
      y *
        (a01 +
          x * (a11 + x * (a21 + x * (a31 + x * a41))) +
          y *
            (a02 +
              x * (a12 + x * (a22 + x * a32)) +
              y * (a03 + x * (a13 + x * a23) + y * (a04 + x * a14 + y * a05))));
    const pb =
      b00 +
      x * (b10 + x * (b20 + x * (b30 + x * (b40 + x * b50)))) +
      y *
        (b01 +
          x * (b11 + x * (b21 + x * (b31 + x * b41))) +
          y *
            (b02 +
              x * (b12 + x * (b22 + x * b32)) +
              y * (b03 + x * (b13 + x * b23) + y * (b04 + x * b14 + y * b05))));
    outP[i] = base * x + pa;
    outQ[i] = base * y + pb;
  }
}

/** Σ c[p] u^p for p ≤ order (a one-variable polynomial from Poly2.alongU), Horner. */
export function horner1(c: Float64Array, order: number, u: number): number {
  let acc = 0;
  for (let p = order; p >= 0; p--) acc = acc * u + c[p];
  return acc;
}
