/**
 * The mesh background at single pixels (for the BACKGROUND column and the saturation test),
 * exactly as interpolateMesh (background.ts) gives it there, at the cost of one row spline per
 * call: natural bicubic splines through the mesh centres, along y through each column of
 * meshes, then along x. A test holds the two together.
 */
import type { BackgroundMesh } from '../background.ts';
import { knotPosition, naturalSpline, rowNodes, segmentCubics } from '../background-mesh.ts';

/** The row-spline machinery of one mesh map. */
class RowSpline {
  private readonly dy2: Float64Array;
  readonly node: Float64Array;
  readonly dx2: Float64Array;

  constructor(
    private readonly mesh: BackgroundMesh,
    private readonly values: Float32Array,
  ) {
    const { nx, ny } = mesh;
    this.dy2 = new Float64Array(nx * ny);
    for (let i = 0; i < nx; i++) naturalSpline(values, this.dy2, ny, i, nx);
    this.node = new Float64Array(nx);
    this.dx2 = new Float64Array(nx);
    this.c = new Float64Array(nx);
    this.d = new Float64Array(nx);
    this.coef = new Float64Array(4 * nx);
  }

  private readonly c: Float64Array;
  private readonly d: Float64Array;
  private readonly coef: Float64Array;

  /** Node values (and their x-spline) of row y. */
  row(y: number): void {
    const { nx, ny, meshHeight } = this.mesh;
    rowNodes(this.values, this.dy2, nx, ny, meshHeight, y, this.node);
    if (nx < 2) return;
    naturalSpline(this.node, this.dx2, nx, 0, 1, this.c, this.d);
    segmentCubics(this.node, this.dx2, nx, this.coef);
  }

  /** Background at column x of the current row (as a float, as interpolateMesh stores it). */
  at(x: number): number {
    const { nx, meshWidth } = this.mesh;
    if (nx < 2) return Math.fround(this.node[0]);
    const { j, t } = knotPosition(x, meshWidth, nx);
    const k = 4 * j;
    const coef = this.coef;
    return Math.fround(coef[k] + t * (coef[k + 1] + t * (coef[k + 2] + t * coef[k + 3])));
  }
}

/** The interpolated background at single pixels, as interpolateMesh gives it there. */
export function meshBackgroundAt(
  mesh: BackgroundMesh,
  values: Float32Array = mesh.level,
): (x: number, y: number) => number {
  const spline = new RowSpline(mesh, values);
  let current = -1;
  return (x, y) => {
    if (y !== current) {
      spline.row(y);
      current = y;
    }
    return spline.at(x);
  };
}
