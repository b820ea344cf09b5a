/**
 * Background subtraction row by row from a mesh (src/image/background.ts measures the mesh),
 * without storing the full-resolution background: SourceExtractor works the same way (one
 * background line at a time). The interpolation is background.ts's interpolateMesh, step for
 * step (natural bicubic splines through the mesh centres: along y through each column of
 * meshes, then along x), so the subtracted pixels are bit for bit those of
 * image − interpolateMesh(mesh, mesh.level); a test holds the two together.
 *
 * `meshBackgroundAt` gives the same background at single pixels (for the BACKGROUND column and
 * the saturation test) at the cost of one row spline per call.
 */
import type { BackgroundMesh } from '../background.ts';
import { knotPosition, naturalSpline, rowNodes } from '../background-mesh.ts';

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
  }

  private readonly c: Float64Array;
  private readonly d: Float64Array;

  /** Node values (and their x-spline) of row y. */
  row(y: number): void {
    const { nx, ny, meshHeight } = this.mesh;
    rowNodes(this.values, this.dy2, nx, ny, meshHeight, y, this.node);
    if (nx >= 2) naturalSpline(this.node, this.dx2, nx, 0, 1, this.c, this.d);
  }

  /** Background at column x of the current row (as a float, as interpolateMesh stores it). */
  at(x: number): number {
    const { nx, meshWidth } = this.mesh;
    if (nx < 2) return Math.fround(this.node[0]);
    const { j, t } = knotPosition(x, meshWidth, nx);
    const ct = 1 - t;
    return Math.fround(
      ct * this.node[j] +
        t * this.node[j + 1] +
        ((ct * ct * ct - ct) / 6) * this.dx2[j] +
        ((t * t * t - t) / 6) * this.dx2[j + 1],
    );
  }
}

/**
 * out = data − background, where the background is `values` (default: the mesh's level)
 * interpolated as interpolateMesh does. `out` may be `data`.
 */
export function subtractMeshBackground(
  data: Float32Array,
  width: number,
  height: number,
  mesh: BackgroundMesh,
  out: Float32Array,
  values: Float32Array = mesh.level,
): void {
  const { nx, meshWidth } = mesh;
  const spline = new RowSpline(mesh, values);
  // Per column: the knot segment and the spline weights, shared by every row.
  const xs = new Int32Array(width);
  const xw = new Float64Array(4 * width);
  if (nx >= 2) {
    for (let x = 0; x < width; x++) {
      const { j, t } = knotPosition(x, meshWidth, nx);
      const ct = 1 - t;
      xs[x] = j;
      xw[4 * x] = ct;
      xw[4 * x + 1] = t;
      xw[4 * x + 2] = (ct * ct * ct - ct) / 6;
      xw[4 * x + 3] = (t * t * t - t) / 6;
    }
  }
  const { node, dx2 } = spline;
  for (let y = 0; y < height; y++) {
    spline.row(y);
    const row = y * width;
    if (nx < 2) {
      const b = Math.fround(node[0]);
      for (let x = 0; x < width; x++) out[row + x] = data[row + x] - b;
      continue;
    }
    for (let x = 0; x < width; x++) {
      const j = xs[x];
      const w = 4 * x;
      // The background as interpolateMesh stores it (a float), then subtracted.
      const b = Math.fround(
        xw[w] * node[j] + xw[w + 1] * node[j + 1] + xw[w + 2] * dx2[j] + xw[w + 3] * dx2[j + 1],
      );
      out[row + x] = data[row + x] - b;
    }
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
