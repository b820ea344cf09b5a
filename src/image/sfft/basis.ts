/**
 * SFFT's bases (Hu et al. 2022, ApJ 936, 157): the matching kernel is a grid of δ-function
 * pixels, offsets (i, j) with |i|, |j| ≤ w, each pixel's weight a polynomial of degree DK in
 * the image position; the differential background is a polynomial of degree DB. Positions
 * enter the polynomials scaled to about [−1, 1] (u = (x − cx) / s), which keeps the normal
 * equations well conditioned.
 */

/** Exponents (a, b) of the monomials u^a·v^b of total degree ≤ `degree`, constant first. */
export function monomials(degree: number): [number, number][] {
  const out: [number, number][] = [];
  for (let d = 0; d <= degree; d++) for (let a = d; a >= 0; a--) out.push([a, d - a]);
  return out;
}

/** Index of monomial (a, b) in `monomials(degree)` for a + b ≤ degree. */
export function monomialIndex(a: number, b: number): number {
  const d = a + b;
  return (d * (d + 1)) / 2 + (d - a);
}

/** The scaling of image positions into polynomial coordinates. */
export interface PolyFrame {
  cx: number;
  cy: number;
  scale: number;
}

export function polyFrame(width: number, height: number): PolyFrame {
  return { cx: (width - 1) / 2, cy: (height - 1) / 2, scale: Math.max(width, height) / 2 };
}

/** Binomial coefficients C(n, k) for n ≤ max, as rows. */
export function binomials(max: number): number[][] {
  const rows: number[][] = [[1]];
  for (let n = 1; n <= max; n++) {
    const prev = rows[n - 1];
    const row = [1];
    for (let k = 1; k < n; k++) row.push(prev[k - 1] + prev[k]);
    row.push(1);
    rows.push(row);
  }
  return rows;
}

/** The kernel's pixel offsets, (2w+1)² of them, row by row: index (j + w)(2w + 1) + (i + w). */
export function kernelSide(halfWidth: number): number {
  return 2 * halfWidth + 1;
}
