/**
 * Exact overlap of a pixel with a circle or an ellipse (sep's aperture.c does the same job).
 *
 * The area of a disk ∩ convex polygon is the sum, over the polygon's edges AB, of the signed
 * area of disk ∩ triangle(centre, A, B): each such piece is a triangle where the edge is inside
 * the disk and a circular sector where it is outside. An ellipse is a disk after a linear map
 * (Cholesky factor of its quadratic form), which maps the pixel square to a parallelogram and
 * scales every area by the same determinant. So one routine gives exact circle and ellipse
 * overlaps. Pixel (x, y) covers [x − ½, x + ½] × [y − ½, y + ½] (0-based centres).
 */

/**
 * The quadrilateral (x, y of vertices 0…3 counter-clockwise), r² and the area: scratch cells,
 * because V8 boxes every double passed to or returned from a call it does not inline (this
 * code is too large to be), and at ~10⁷ edges per 4088² image those boxes were most of
 * extraction's garbage.
 */
const quad = new Float64Array(10);
const R2 = 8;
const AREA = 9;

/**
 * Area of disk(0, √quad[R2]) ∩ the quadrilateral into quad[AREA]: the sum over edges AB of the
 * signed area of disk ∩ triangle(0, A, B), a triangle where the edge is inside the disk and a
 * circular sector (½·r²·angle) where it is outside.
 */
function diskQuad(): void {
  const r2 = quad[R2];
  let sum = 0;
  for (let e = 0; e < 4; e++) {
    const ax = quad[2 * e];
    const ay = quad[2 * e + 1];
    const bx = quad[(2 * e + 2) & 7];
    const by = quad[(2 * e + 3) & 7];
    const da = ax * ax + ay * ay;
    const db = bx * bx + by * by;
    const aIn = da <= r2;
    const bIn = db <= r2;
    if (aIn && bIn) {
      sum += 0.5 * (ax * by - ay * bx);
      continue;
    }
    const dx = bx - ax;
    const dy = by - ay;
    const qa = dx * dx + dy * dy;
    if (qa === 0) continue;
    const qb = ax * dx + ay * dy;
    const disc = qb * qb - qa * (da - r2);
    // The edge's part inside the disk, A + t·(B − A) for u ≤ t ≤ v, gives a triangle; the rest
    // gives sectors, from A to where it enters and from where it leaves to B (the whole wedge
    // is one sector when the edge does not enter the disk).
    const s = disc > 0 ? Math.sqrt(disc) : 0;
    const u = Math.max(0, (-qb - s) / qa);
    const v = Math.min(1, (-qb + s) / qa);
    if (!(disc > 0) || u >= v) {
      sum += 0.5 * r2 * Math.atan2(ax * by - ay * bx, ax * bx + ay * by);
      continue;
    }
    const px = ax + u * dx;
    const py = ay + u * dy;
    const qx = ax + v * dx;
    const qy = ay + v * dy;
    sum += 0.5 * (px * qy - py * qx);
    if (u > 0) sum += 0.5 * r2 * Math.atan2(ax * py - ay * px, ax * px + ay * py);
    if (v < 1) sum += 0.5 * r2 * Math.atan2(qx * by - qy * bx, qx * bx + qy * by);
  }
  quad[AREA] = sum;
}

/** Area of the pixel centred at (dx, dy) from the centre of a circle of radius r that lies inside it. */
export function circleOverlap(dx: number, dy: number, r: number): number {
  quad[0] = dx - 0.5;
  quad[1] = dy - 0.5;
  quad[2] = dx + 0.5;
  quad[3] = dy - 0.5;
  quad[4] = dx + 0.5;
  quad[5] = dy + 0.5;
  quad[6] = dx - 0.5;
  quad[7] = dy + 0.5;
  quad[R2] = r * r;
  diskQuad();
  return Math.min(1, Math.max(0, quad[AREA]));
}

/**
 * An ellipse { cxx·dx² + cyy·dy² + cxy·dx·dy ≤ r² } as a map to the unit-disk frame
 * (u = s11·dx + s12·dy, v = s22·dy with u² + v² = the quadratic form).
 */
export interface EllipseFrame {
  s11: number;
  s12: number;
  s22: number;
  /** 1 / determinant: pixel area per unit area in the (u, v) frame. */
  inverseDet: number;
  r2: number;
}

/** The frame of the ellipse cxx·dx² + cyy·dy² + cxy·dx·dy ≤ r²; undefined if the form is not positive definite. */
export function ellipseFrame(cxx: number, cyy: number, cxy: number, r: number): EllipseFrame | undefined {
  if (!(cxx > 0)) return undefined;
  const s11 = Math.sqrt(cxx);
  const s12 = cxy / (2 * s11);
  const rest = cyy - s12 * s12;
  if (!(rest > 0)) return undefined;
  const s22 = Math.sqrt(rest);
  return { s11, s12, s22, inverseDet: 1 / (s11 * s22), r2: r * r };
}

/** Area of the pixel centred at (dx, dy) from the ellipse's centre that lies inside the ellipse. */
export function ellipseOverlap(dx: number, dy: number, f: EllipseFrame): number {
  const x0 = dx - 0.5;
  const x1 = dx + 0.5;
  const y0 = dy - 0.5;
  const y1 = dy + 0.5;
  const { s11, s12, s22 } = f;
  quad[0] = s11 * x0 + s12 * y0;
  quad[1] = s22 * y0;
  quad[2] = s11 * x1 + s12 * y0;
  quad[3] = s22 * y0;
  quad[4] = s11 * x1 + s12 * y1;
  quad[5] = s22 * y1;
  quad[6] = s11 * x0 + s12 * y1;
  quad[7] = s22 * y1;
  quad[R2] = f.r2;
  diskQuad();
  return Math.min(1, Math.max(0, quad[AREA] * f.inverseDet));
}
