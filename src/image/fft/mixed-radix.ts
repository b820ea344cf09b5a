/**
 * Mixed-radix complex FFT (Stockham autosort, decimation in frequency) in float64, for any
 * length: radices 4, 2, 3 and 5 have hand-written butterflies; any other prime factor uses a
 * generic O(p²) butterfly, so 4088 = 2³·7·73 works, only slower than a 2^a·3^b·5^c size.
 *
 * Transforms are batched: `batch` independent sequences are stored interleaved, element j of
 * sequence b at complex index j·batch + b (re at 2·index, im at 2·index + 1). The innermost
 * loop then runs over contiguous memory for every stage, which is what makes the column pass
 * of a 2-D transform fast. The forward transform uses e^(−2πi jk/n), the inverse e^(+2πi jk/n),
 * both unnormalised.
 */

/** Factor n into radices, 4s first (fewest passes), then 2, 3, 5, then other primes. */
export function factorize(n: number): number[] {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`FFT length must be a positive integer, got ${n}`);
  const factors: number[] = [];
  let m = n;
  while (m % 4 === 0) {
    factors.push(4);
    m /= 4;
  }
  for (const p of [2, 3, 5]) {
    while (m % p === 0) {
      factors.push(p);
      m /= p;
    }
  }
  for (let p = 7; m > 1; p += 2) {
    while (m % p === 0) {
      factors.push(p);
      m /= p;
    }
    if (p * p > m && m > 1) {
      factors.push(m);
      m = 1;
    }
  }
  return factors;
}

/** True when n has no prime factor above 5 (a fast FFT length). */
export function isSmooth(n: number): boolean {
  let m = n;
  for (const p of [2, 3, 5]) while (m % p === 0) m /= p;
  return m === 1;
}

/** The smallest length ≥ n whose prime factors are 2, 3 and 5, and which is a multiple of `multiple`. */
export function goodFftSize(n: number, multiple = 2): number {
  let m = Math.max(1, Math.ceil(n / multiple)) * multiple;
  while (!isSmooth(m)) m += multiple;
  return m;
}

/** Relative cost of one pass of each radix (radix 4 does two factors of 2 in one pass). */
const PASS_COST: Record<number, number> = { 4: 1, 2: 1, 3: 1.2, 5: 1.5 };

/** Relative cost per element of a length-n transform: its passes, weighted by radix. */
function passCost(n: number): number {
  return factorize(n).reduce((a, r) => a + (PASS_COST[r] ?? r / 2), 0);
}

/**
 * The length ≥ n (a multiple of `multiple`, smooth) that a 2-D real transform does fastest:
 * the smallest smooth length is not always the quickest (1250 = 2·5⁴ takes longer than
 * 1280 = 2⁸·5), so lengths up to 25% longer compete on length × weighted passes (a real
 * transform's rows are complex transforms of half the length, its columns of the whole).
 */
export function fastFftSize(n: number, multiple = 2): number {
  const first = goodFftSize(n, multiple);
  let best = first;
  let bestCost = Number.POSITIVE_INFINITY;
  for (let m = first; m <= Math.max(first, 1.25 * n); m += multiple) {
    if (!isSmooth(m)) continue;
    const cost = m * (passCost(m) + (m % 2 === 0 ? passCost(m / 2) : passCost(m)));
    if (cost < bestCost) {
      best = m;
      bestCost = cost;
    }
  }
  return best;
}

interface Stage {
  radix: number;
  /** Length of the sub-transforms this stage splits. */
  length: number;
  /** Twiddles e^(−2πi u p / length) for p < length/radix, 1 ≤ u < radix: (re, im) pairs. */
  twiddles: Float64Array;
  /** For generic radices: the radix's own roots of unity e^(−2πi k / radix), (re, im) pairs. */
  roots?: Float64Array;
}

const SIN60 = Math.sqrt(3) / 2;
const C1 = Math.cos((2 * Math.PI) / 5);
const C2 = Math.cos((4 * Math.PI) / 5);
const S1 = Math.sin((2 * Math.PI) / 5);
const S2 = Math.sin((4 * Math.PI) / 5);

export class ComplexFft {
  readonly n: number;
  readonly factors: readonly number[];
  private readonly stages: Stage[];

  constructor(n: number) {
    this.n = n;
    this.factors = factorize(n);
    this.stages = [];
    let length = n;
    for (const radix of this.factors) {
      const m = length / radix;
      const twiddles = new Float64Array(2 * m * (radix - 1));
      for (let p = 0; p < m; p++) {
        for (let u = 1; u < radix; u++) {
          const angle = (-2 * Math.PI * u * p) / length;
          const k = 2 * (p * (radix - 1) + u - 1);
          twiddles[k] = Math.cos(angle);
          twiddles[k + 1] = Math.sin(angle);
        }
      }
      let roots: Float64Array | undefined;
      if (radix > 5) {
        roots = new Float64Array(2 * radix);
        for (let k = 0; k < radix; k++) {
          roots[2 * k] = Math.cos((-2 * Math.PI * k) / radix);
          roots[2 * k + 1] = Math.sin((-2 * Math.PI * k) / radix);
        }
      }
      this.stages.push({ radix, length, twiddles, roots });
      length = m;
    }
  }

  /**
   * Transform `batch` interleaved sequences held in x (2·n·batch values); `work` is scratch of
   * the same size. Returns whichever of the two arrays holds the result.
   */
  transform(x: Float64Array, work: Float64Array, batch: number, inverse = false): Float64Array {
    const sign = inverse ? -1 : 1;
    let src = x;
    let dst = work;
    let s = batch;
    for (const stage of this.stages) {
      const m = stage.length / stage.radix;
      switch (stage.radix) {
        case 4:
          radix4(src, dst, m, s, stage.twiddles, sign);
          break;
        case 2:
          radix2(src, dst, m, s, stage.twiddles, sign);
          break;
        case 3:
          radix3(src, dst, m, s, stage.twiddles, sign);
          break;
        case 5:
          radix5(src, dst, m, s, stage.twiddles, sign);
          break;
        default:
          radixGeneric(src, dst, m, s, stage.radix, stage.twiddles, stage.roots!, sign);
      }
      const t = src;
      src = dst;
      dst = t;
      s *= stage.radix;
    }
    return src;
  }
}

// In each butterfly: inputs a_t = src[q + s·(p + t·m)], outputs dst[q + s·(r·p + u)] = (Σ_t a_t ω^{tu})·w^{up}.
// `sign` = −1 conjugates the twiddles and roots for the inverse transform.

function radix2(
  src: Float64Array,
  dst: Float64Array,
  m: number,
  s: number,
  tw: Float64Array,
  sign: number,
): void {
  const s2 = 2 * s;
  const half = 2 * s * m;
  for (let p = 0; p < m; p++) {
    const wr = tw[2 * p];
    const wi = sign * tw[2 * p + 1];
    const in0 = s2 * p;
    const out0 = s2 * 2 * p;
    for (let q = 0; q < s2; q += 2) {
      const a = in0 + q;
      const b = a + half;
      const ar = src[a];
      const ai = src[a + 1];
      const br = src[b];
      const bi = src[b + 1];
      const o = out0 + q;
      dst[o] = ar + br;
      dst[o + 1] = ai + bi;
      const dr = ar - br;
      const di = ai - bi;
      dst[o + s2] = dr * wr - di * wi;
      dst[o + s2 + 1] = dr * wi + di * wr;
    }
  }
}

function radix4(
  src: Float64Array,
  dst: Float64Array,
  m: number,
  s: number,
  tw: Float64Array,
  sign: number,
): void {
  const s2 = 2 * s;
  const quarter = 2 * s * m;
  for (let p = 0; p < m; p++) {
    const k = 6 * p;
    const w1r = tw[k];
    const w1i = sign * tw[k + 1];
    const w2r = tw[k + 2];
    const w2i = sign * tw[k + 3];
    const w3r = tw[k + 4];
    const w3i = sign * tw[k + 5];
    const in0 = s2 * p;
    const out0 = s2 * 4 * p;
    for (let q = 0; q < s2; q += 2) {
      const i0 = in0 + q;
      const i1 = i0 + quarter;
      const i2 = i1 + quarter;
      const i3 = i2 + quarter;
      const a0r = src[i0];
      const a0i = src[i0 + 1];
      const a1r = src[i1];
      const a1i = src[i1 + 1];
      const a2r = src[i2];
      const a2i = src[i2 + 1];
      const a3r = src[i3];
      const a3i = src[i3 + 1];
      const t0r = a0r + a2r;
      const t0i = a0i + a2i;
      const t1r = a0r - a2r;
      const t1i = a0i - a2i;
      const t2r = a1r + a3r;
      const t2i = a1i + a3i;
      // (a1 − a3)·(−i·sign): the forward ω₄ is −i.
      const t3r = sign * (a1i - a3i);
      const t3i = -sign * (a1r - a3r);
      const o0 = out0 + q;
      dst[o0] = t0r + t2r;
      dst[o0 + 1] = t0i + t2i;
      const b1r = t1r + t3r;
      const b1i = t1i + t3i;
      const b2r = t0r - t2r;
      const b2i = t0i - t2i;
      const b3r = t1r - t3r;
      const b3i = t1i - t3i;
      const o1 = o0 + s2;
      dst[o1] = b1r * w1r - b1i * w1i;
      dst[o1 + 1] = b1r * w1i + b1i * w1r;
      const o2 = o1 + s2;
      dst[o2] = b2r * w2r - b2i * w2i;
      dst[o2 + 1] = b2r * w2i + b2i * w2r;
      const o3 = o2 + s2;
      dst[o3] = b3r * w3r - b3i * w3i;
      dst[o3 + 1] = b3r * w3i + b3i * w3r;
    }
  }
}

function radix3(
  src: Float64Array,
  dst: Float64Array,
  m: number,
  s: number,
  tw: Float64Array,
  sign: number,
): void {
  const s2 = 2 * s;
  const third = 2 * s * m;
  const h = -sign * SIN60;
  for (let p = 0; p < m; p++) {
    const k = 4 * p;
    const w1r = tw[k];
    const w1i = sign * tw[k + 1];
    const w2r = tw[k + 2];
    const w2i = sign * tw[k + 3];
    const in0 = s2 * p;
    const out0 = s2 * 3 * p;
    for (let q = 0; q < s2; q += 2) {
      const i0 = in0 + q;
      const i1 = i0 + third;
      const i2 = i1 + third;
      const a0r = src[i0];
      const a0i = src[i0 + 1];
      const sr = src[i1] + src[i2];
      const si = src[i1 + 1] + src[i2 + 1];
      // ω₃ = −1/2 − i·√3/2 forward: b1 = a0 − (a1 + a2)/2 + i·h·(a1 − a2), with h = −√3/2.
      const dr = h * (src[i1] - src[i2]);
      const di = h * (src[i1 + 1] - src[i2 + 1]);
      const cr = a0r - 0.5 * sr;
      const ci = a0i - 0.5 * si;
      const o0 = out0 + q;
      dst[o0] = a0r + sr;
      dst[o0 + 1] = a0i + si;
      const b1r = cr - di;
      const b1i = ci + dr;
      const b2r = cr + di;
      const b2i = ci - dr;
      const o1 = o0 + s2;
      dst[o1] = b1r * w1r - b1i * w1i;
      dst[o1 + 1] = b1r * w1i + b1i * w1r;
      const o2 = o1 + s2;
      dst[o2] = b2r * w2r - b2i * w2i;
      dst[o2 + 1] = b2r * w2i + b2i * w2r;
    }
  }
}

function radix5(
  src: Float64Array,
  dst: Float64Array,
  m: number,
  s: number,
  tw: Float64Array,
  sign: number,
): void {
  const s2 = 2 * s;
  const fifth = 2 * s * m;
  // Forward roots are cos − i·sin: the imaginary parts carry −sign.
  const s1 = -sign * S1;
  const s2n = -sign * S2;
  for (let p = 0; p < m; p++) {
    const k = 8 * p;
    const in0 = s2 * p;
    const out0 = s2 * 5 * p;
    for (let q = 0; q < s2; q += 2) {
      const i0 = in0 + q;
      const i1 = i0 + fifth;
      const i2 = i1 + fifth;
      const i3 = i2 + fifth;
      const i4 = i3 + fifth;
      const a0r = src[i0];
      const a0i = src[i0 + 1];
      const p14r = src[i1] + src[i4];
      const p14i = src[i1 + 1] + src[i4 + 1];
      const m14r = src[i1] - src[i4];
      const m14i = src[i1 + 1] - src[i4 + 1];
      const p23r = src[i2] + src[i3];
      const p23i = src[i2 + 1] + src[i3 + 1];
      const m23r = src[i2] - src[i3];
      const m23i = src[i2 + 1] - src[i3 + 1];
      const c1r = a0r + C1 * p14r + C2 * p23r;
      const c1i = a0i + C1 * p14i + C2 * p23i;
      const c2r = a0r + C2 * p14r + C1 * p23r;
      const c2i = a0i + C2 * p14i + C1 * p23i;
      // i·(s1·m14 + s2·m23) and i·(s2·m14 − s1·m23)
      const d1r = -(s1 * m14i + s2n * m23i);
      const d1i = s1 * m14r + s2n * m23r;
      const d2r = -(s2n * m14i - s1 * m23i);
      const d2i = s2n * m14r - s1 * m23r;
      const o0 = out0 + q;
      dst[o0] = a0r + p14r + p23r;
      dst[o0 + 1] = a0i + p14i + p23i;
      let br = c1r + d1r;
      let bi = c1i + d1i;
      let wr = tw[k];
      let wi = sign * tw[k + 1];
      let o = o0 + s2;
      dst[o] = br * wr - bi * wi;
      dst[o + 1] = br * wi + bi * wr;
      br = c2r + d2r;
      bi = c2i + d2i;
      wr = tw[k + 2];
      wi = sign * tw[k + 3];
      o += s2;
      dst[o] = br * wr - bi * wi;
      dst[o + 1] = br * wi + bi * wr;
      br = c2r - d2r;
      bi = c2i - d2i;
      wr = tw[k + 4];
      wi = sign * tw[k + 5];
      o += s2;
      dst[o] = br * wr - bi * wi;
      dst[o + 1] = br * wi + bi * wr;
      br = c1r - d1r;
      bi = c1i - d1i;
      wr = tw[k + 6];
      wi = sign * tw[k + 7];
      o += s2;
      dst[o] = br * wr - bi * wi;
      dst[o + 1] = br * wi + bi * wr;
    }
  }
}

function radixGeneric(
  src: Float64Array,
  dst: Float64Array,
  m: number,
  s: number,
  r: number,
  tw: Float64Array,
  roots: Float64Array,
  sign: number,
): void {
  const s2 = 2 * s;
  const part = 2 * s * m;
  const ar = new Float64Array(r);
  const ai = new Float64Array(r);
  for (let p = 0; p < m; p++) {
    const in0 = s2 * p;
    const out0 = s2 * r * p;
    for (let q = 0; q < s2; q += 2) {
      for (let t = 0; t < r; t++) {
        ar[t] = src[in0 + q + t * part];
        ai[t] = src[in0 + q + t * part + 1];
      }
      for (let u = 0; u < r; u++) {
        let br = 0;
        let bi = 0;
        for (let t = 0, k = 0; t < r; t++, k = (k + u) % r) {
          const cr = roots[2 * k];
          const ci = sign * roots[2 * k + 1];
          br += ar[t] * cr - ai[t] * ci;
          bi += ar[t] * ci + ai[t] * cr;
        }
        const o = out0 + q + u * s2;
        if (u === 0) {
          dst[o] = br;
          dst[o + 1] = bi;
        } else {
          const w = 2 * (p * (r - 1) + u - 1);
          const wr = tw[w];
          const wi = sign * tw[w + 1];
          dst[o] = br * wr - bi * wi;
          dst[o + 1] = br * wi + bi * wr;
        }
      }
    }
  }
}
