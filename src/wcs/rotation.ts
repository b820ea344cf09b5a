/**
 * The spherical rotation between native spherical coordinates (φ, θ) of a projection and
 * celestial coordinates (α, δ) (Calabretta & Greisen 2002, "WCS Paper II", section 2.3).
 *
 * Both sides are handled as unit vectors: native n = (cos θ cos φ, cos θ sin φ, sin θ),
 * celestial c = (cos δ cos α, cos δ sin α, sin δ), and c = M n with a 3×3 rotation matrix
 * built once from (α_p, δ_p, φ_p). This replaces the four trigonometric calls per point of
 * the textbook formulae with nine multiplications, and leaves one atan2 and one asin.
 */

export const D2R = Math.PI / 180;
export const R2D = 180 / Math.PI;

/** sin and cos of an angle in degrees, exact at multiples of 90° (so that LONPOLE = 180 is a clean flip). */
export function sincosDeg(deg: number): [number, number] {
  const r = ((deg % 360) + 360) % 360;
  if (r === 0) return [0, 1];
  if (r === 90) return [1, 0];
  if (r === 180) return [0, -1];
  if (r === 270) return [-1, 0];
  const a = deg * D2R;
  return [Math.sin(a), Math.cos(a)];
}

/**
 * The native-to-celestial rotation matrix, row-major: c = M n. (alphaP, deltaP) are the
 * celestial coordinates of the native pole and phiP (LONPOLE) is the native longitude of the
 * celestial pole, all in degrees.
 */
export function rotationMatrix(alphaP: number, deltaP: number, phiP: number): Float64Array {
  const [sa, ca] = sincosDeg(alphaP);
  const [sd, cd] = sincosDeg(deltaP);
  const [sp, cp] = sincosDeg(phiP);
  // In a frame turned by α_p about the pole (Paper II, eq. 2 written with vectors):
  //   c'1 = n3 cos δp − sin δp (n1 cos φp + n2 sin φp)
  //   c'2 = n1 sin φp − n2 cos φp
  //   c'3 = n3 sin δp + cos δp (n1 cos φp + n2 sin φp)
  const k = [-sd * cp, -sd * sp, cd, sp, -cp, 0, cd * cp, cd * sp, sd];
  const m = new Float64Array(9);
  for (let j = 0; j < 3; j++) {
    m[j] = ca * k[j] - sa * k[3 + j];
    m[3 + j] = sa * k[j] + ca * k[3 + j];
    m[6 + j] = k[6 + j];
  }
  return m;
}

/**
 * Celestial coordinates (degrees; α in [0, 360)) of native unit vectors. NaN components
 * (points outside a projection's domain) give NaN.
 */
export function nativeToSky(
  m: Float64Array,
  n1: Float64Array,
  n2: Float64Array,
  n3: Float64Array,
  ra: Float64Array,
  dec: Float64Array,
  count: number,
  offset = 0,
): void {
  const m0 = m[0];
  const m1 = m[1];
  const m2 = m[2];
  const m3 = m[3];
  const m4 = m[4];
  const m5 = m[5];
  const m6 = m[6];
  const m7 = m[7];
  const m8 = m[8];
  for (let i = 0; i < count; i++) {
    const a = n1[i];
    const b = n2[i];
    const c = n3[i];
    const x = m0 * a + m1 * b + m2 * c;
    const y = m3 * a + m4 * b + m5 * c;
    const z = m6 * a + m7 * b + m8 * c;
    // atan(y/x) with the quadrant restored is as accurate as atan2 (|error| ≤ ε/2 rad) and faster in V8.
    let lng = x > 0 ? Math.atan(y / x) : x < 0 ? Math.atan(y / x) + Math.PI : Math.atan2(y, x);
    lng *= R2D;
    if (lng < 0) lng += 360;
    if (lng >= 360) lng -= 360;
    ra[offset + i] = lng;
    // asin loses precision near the poles; there the arctangent of z over the equatorial part is exact.
    dec[offset + i] = (z < 0.99 && z > -0.99 ? Math.asin(z) : Math.atan2(z, Math.sqrt(x * x + y * y))) * R2D;
  }
}

/** Native unit vectors of celestial coordinates (degrees): n = Mᵀ c. |δ| > 90° gives NaN. */
export function skyToNative(
  m: Float64Array,
  ra: Float64Array,
  dec: Float64Array,
  n1: Float64Array,
  n2: Float64Array,
  n3: Float64Array,
  count: number,
  offset = 0,
): void {
  for (let i = 0; i < count; i++) {
    const a = ra[offset + i] * D2R;
    const decDeg = dec[offset + i];
    // A latitude beyond a pole is not a position; do not let it wrap round to another one.
    const d = decDeg <= 90 && decDeg >= -90 ? decDeg * D2R : Number.NaN;
    const cd = Math.cos(d);
    const x = cd * Math.cos(a);
    const y = cd * Math.sin(a);
    const z = Math.sin(d);
    n1[i] = m[0] * x + m[3] * y + m[6] * z;
    n2[i] = m[1] * x + m[4] * y + m[7] * z;
    n3[i] = m[2] * x + m[5] * y + m[8] * z;
  }
}
