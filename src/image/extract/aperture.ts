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

/** Signed area of the circular sector of radius √r2 from direction U to direction V. */
function sector(ux: number, uy: number, vx: number, vy: number, r2: number): number {
  return 0.5 * r2 * Math.atan2(ux * vy - uy * vx, ux * vx + uy * vy);
}

/** Signed area of disk(0, r) ∩ triangle(0, A, B). */
function wedge(ax: number, ay: number, bx: number, by: number, r2: number): number {
  const da = ax * ax + ay * ay;
  const db = bx * bx + by * by;
  const aIn = da <= r2;
  const bIn = db <= r2;
  if (aIn && bIn) return 0.5 * (ax * by - ay * bx);
  const dx = bx - ax;
  const dy = by - ay;
  const qa = dx * dx + dy * dy;
  if (qa === 0) return 0;
  const qb = ax * dx + ay * dy;
  const qc = da - r2;
  const disc = qb * qb - qa * qc;
  if (disc <= 0) return sector(ax, ay, bx, by, r2);
  const s = Math.sqrt(disc);
  const t1 = (-qb - s) / qa;
  const t2 = (-qb + s) / qa;
  if (aIn) {
    const px = ax + t2 * dx;
    const py = ay + t2 * dy;
    return 0.5 * (ax * py - ay * px) + sector(px, py, bx, by, r2);
  }
  if (bIn) {
    const px = ax + t1 * dx;
    const py = ay + t1 * dy;
    return sector(ax, ay, px, py, r2) + 0.5 * (px * by - py * bx);
  }
  if (t1 > 0 && t1 < 1) {
    const p1x = ax + t1 * dx;
    const p1y = ay + t1 * dy;
    const p2x = ax + t2 * dx;
    const p2y = ay + t2 * dy;
    return sector(ax, ay, p1x, p1y, r2) + 0.5 * (p1x * p2y - p1y * p2x) + sector(p2x, p2y, bx, by, r2);
  }
  return sector(ax, ay, bx, by, r2);
}

/** Area of disk(0, r) ∩ the quadrilateral (counter-clockwise vertices 0…3). */
function diskQuad(
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  x2: number,
  y2: number,
  x3: number,
  y3: number,
  r2: number,
): number {
  return (
    wedge(x0, y0, x1, y1, r2) +
    wedge(x1, y1, x2, y2, r2) +
    wedge(x2, y2, x3, y3, r2) +
    wedge(x3, y3, x0, y0, r2)
  );
}

/** Area of the pixel centred at (dx, dy) from the centre of a circle of radius r that lies inside it. */
export function circleOverlap(dx: number, dy: number, r: number): number {
  const x0 = dx - 0.5;
  const x1 = dx + 0.5;
  const y0 = dy - 0.5;
  const y1 = dy + 0.5;
  const a = diskQuad(x0, y0, x1, y0, x1, y1, x0, y1, r * r);
  return Math.min(1, Math.max(0, a));
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
  const a =
    diskQuad(
      s11 * x0 + s12 * y0,
      s22 * y0,
      s11 * x1 + s12 * y0,
      s22 * y0,
      s11 * x1 + s12 * y1,
      s22 * y1,
      s11 * x0 + s12 * y1,
      s22 * y1,
      f.r2,
    ) * f.inverseDet;
  return Math.min(1, Math.max(0, a));
}
