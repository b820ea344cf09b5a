/**
 * Dense symmetric positive-definite systems (least-squares normal equations): Cholesky in
 * float64 after Jacobi scaling, with the scaled system's condition estimated from the
 * factor's pivots, so that a caller can tell a well-posed fit from a degenerate one.
 */

export interface CholeskySolution {
  x: Float64Array;
  /**
   * Estimated condition number of the scaled system: (largest / smallest pivot of the factor)².
   * Infinity when a pivot was not positive (the system is singular or indefinite).
   */
  condition: number;
}

/**
 * Solve A·x = b for a symmetric positive-definite n×n matrix A (row-major; only the lower
 * triangle is read; A and b are not changed). Each row and column is first divided by the
 * square root of its diagonal, so the condition reflects the problem, not the units.
 * `x` is all NaN when the system is singular (condition Infinity).
 */
export function choleskySolve(A: Float64Array, b: Float64Array, n: number): CholeskySolution {
  const scale = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const d = A[i * n + i];
    scale[i] = d > 0 && Number.isFinite(d) ? 1 / Math.sqrt(d) : 0;
  }
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) L[i * n + j] = A[i * n + j] * scale[i] * scale[j];
  let minPivot = Infinity;
  let maxPivot = 0;
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let d = L[rj + j];
    for (let k = 0; k < j; k++) d -= L[rj + k] * L[rj + k];
    if (!(d > 0) || scale[j] === 0) {
      return { x: new Float64Array(n).fill(Number.NaN), condition: Infinity };
    }
    const p = Math.sqrt(d);
    L[rj + j] = p;
    if (p < minPivot) minPivot = p;
    if (p > maxPivot) maxPivot = p;
    const inv = 1 / p;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let s = L[ri + j];
      for (let k = 0; k < j; k++) s -= L[ri + k] * L[rj + k];
      L[ri + j] = s * inv;
    }
  }
  // Forward and back substitution on the scaled system, then undo the scaling.
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i] * scale[i];
    for (let k = 0; k < i; k++) s -= L[i * n + k] * y[k];
    y[i] = s / L[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < n; k++) s -= L[k * n + i] * x[k];
    x[i] = s / L[i * n + i];
  }
  for (let i = 0; i < n; i++) x[i] *= scale[i];
  return { x, condition: (maxPivot / minPivot) ** 2 };
}
