/**
 * Mesh background and background noise, as SourceExtractor estimates them (Bertin & Arnouts
 * 1996; SourceExtractor manual, "Background"):
 *
 * 1. The image is cut into meshes of `meshSize` pixels (the last row and column of meshes
 *    may be narrower). In each mesh, pixels that are NaN or masked are ignored; a mesh with
 *    fewer than half of its pixels usable is "bad" and later takes the average of its nearest
 *    good meshes.
 * 2. In each mesh the mean and σ are clipped once at ±2σ, then the pixels are binned in a
 *    fine histogram (±5σ around the mean) that is clipped iteratively at ±3σ around its
 *    median until σ converges. The background is the clipped mode estimate
 *    2.5·median − 1.5·mean, unless |mean − median|/σ > 0.3 (a crowded mesh), where the
 *    median is used instead; the mesh RMS is the clipped σ.
 * 3. The mesh map is median-filtered over `filterSize` meshes (the window shrinks
 *    symmetrically at the map's edges, as in SourceExtractor); a mesh changes only when the
 *    median differs from it by at least `filterThreshold`.
 * 4. The background and RMS at full resolution come from natural bicubic splines through
 *    the mesh centres (pixel (i + 0.5)·meshSize − 0.5 along each axis, 0-based), extrapolated
 *    beyond the outermost centres.
 */
import { BadInputError } from '../util/errors.ts';
import { interpolateMeshRows, knotPosition, measureMeshRows, naturalSpline } from './background-mesh.ts';
import type { Image } from './image.ts';
import { medianInPlace } from './stats.ts';
import { defaultPool, sharedFloat32, startsShared, toShared, type WorkerPool } from './workers.ts';

export interface BackgroundOptions {
  /** Mesh size in pixels: one number for square meshes, or [width, height]. SourceExtractor's BACK_SIZE, default 64. */
  meshSize?: number | readonly [number, number];
  /** Median filter size in meshes (odd): one number or [width, height]. BACK_FILTERSIZE, default 3. */
  filterSize?: number | readonly [number, number];
  /** A mesh is replaced by the filtered value only if they differ by at least this much. BACK_FILTERTHRESH, default 0. */
  filterThreshold?: number;
  /** Mask bits (MaskBit) that exclude a pixel; default: any bit. */
  maskBits?: number;
}

/** The low-resolution background: one value per mesh, row-major (index j * nx + i). */
export interface BackgroundMesh {
  readonly nx: number;
  readonly ny: number;
  readonly meshWidth: number;
  readonly meshHeight: number;
  /** Background level of each mesh, after filling bad meshes and filtering. */
  readonly level: Float32Array;
  /** Background RMS of each mesh, after filling and filtering. */
  readonly rms: Float32Array;
  /** Median of the mesh levels (SourceExtractor's global background). */
  readonly globalLevel: number;
  /** Median of the positive mesh RMS values (SourceExtractor's global RMS). */
  readonly globalRms: number;
  /** Meshes that had too few usable pixels and were filled from their neighbours. */
  readonly badMeshes: number;
}

export interface Background {
  readonly mesh: BackgroundMesh;
  /** Background at every pixel. */
  readonly level: Float32Array;
  /** Background RMS (1σ noise) at every pixel. */
  readonly rms: Float32Array;
}

function pair(
  v: number | readonly [number, number] | undefined,
  fallback: number,
  what: string,
): [number, number] {
  const p: [number, number] =
    v === undefined ? [fallback, fallback] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
  for (const x of p) {
    if (!Number.isInteger(x) || x < 1) throw new RangeError(`${what} must be a positive integer, got ${x}`);
  }
  return p;
}

/** Give each bad mesh (NaN) the average of its nearest good meshes. */
function fillBadMeshes(level: Float32Array, rms: Float32Array, nx: number, ny: number): number {
  const bad: number[] = [];
  for (let k = 0; k < nx * ny; k++) if (Number.isNaN(level[k])) bad.push(k);
  if (bad.length === 0) return 0;
  const good = new Float32Array(level);
  const goodRms = new Float32Array(rms);
  for (const k of bad) {
    const px = k % nx;
    const py = (k - px) / nx;
    let best = Number.POSITIVE_INFINITY;
    let sum = 0;
    let sumRms = 0;
    let count = 0;
    for (let j = 0; j < nx * ny; j++) {
      if (Number.isNaN(good[j])) continue;
      const dx = (j % nx) - px;
      const dy = Math.floor(j / nx) - py;
      const d2 = dx * dx + dy * dy;
      if (d2 < best) {
        best = d2;
        sum = good[j];
        sumRms = goodRms[j];
        count = 1;
      } else if (d2 === best) {
        sum += good[j];
        sumRms += goodRms[j];
        count++;
      }
    }
    level[k] = sum / count;
    rms[k] = sumRms / count;
  }
  return bad.length;
}

/** Median filter of the mesh map; the window shrinks symmetrically near the edges. */
function filterMeshes(
  level: Float32Array,
  rms: Float32Array,
  nx: number,
  ny: number,
  fw: number,
  fh: number,
  threshold: number,
): void {
  const hx = fw >> 1;
  const hy = fh >> 1;
  const outLevel = new Float32Array(level.length);
  const outRms = new Float32Array(rms.length);
  const window = new Float32Array(fw * fh);
  const windowRms = new Float32Array(fw * fh);
  for (let py = 0; py < ny; py++) {
    const ry = Math.min(hy, py, ny - 1 - py);
    for (let px = 0; px < nx; px++) {
      const rx = Math.min(hx, px, nx - 1 - px);
      let n = 0;
      for (let y = py - ry; y <= py + ry; y++) {
        for (let x = px - rx; x <= px + rx; x++) {
          window[n] = level[y * nx + x];
          windowRms[n++] = rms[y * nx + x];
        }
      }
      const k = py * nx + px;
      const med = medianInPlace(window, n);
      if (Math.abs(med - level[k]) >= threshold) {
        outLevel[k] = med;
        outRms[k] = medianInPlace(windowRms, n);
      } else {
        outLevel[k] = level[k];
        outRms[k] = rms[k];
      }
    }
  }
  level.set(outLevel);
  rms.set(outRms);
}

/** Mesh and filter sizes from the options, and the mesh map's size. */
function meshLayout(image: Image, options: BackgroundOptions) {
  const [bw, bh] = pair(options.meshSize, 64, 'background mesh size');
  const [fw, fh] = pair(options.filterSize, 3, 'background filter size');
  return {
    width: image.width,
    height: image.height,
    bw,
    bh,
    fw,
    fh,
    nx: Math.ceil(image.width / bw),
    ny: Math.ceil(image.height / bh),
    threshold: options.filterThreshold ?? 0,
    maskBits: options.maskBits ?? 0xff,
  };
}
type MeshLayout = ReturnType<typeof meshLayout>;

/** Measure the background of each mesh: clipped mode and σ, bad meshes filled, then median-filtered. */
export function measureBackgroundMesh(image: Image, options: BackgroundOptions = {}): BackgroundMesh {
  const g = meshLayout(image, options);
  const level = new Float32Array(g.nx * g.ny);
  const rms = new Float32Array(g.nx * g.ny);
  measureMeshRows({
    width: g.width,
    height: g.height,
    data: image.data,
    mask: image.mask,
    meshWidth: g.bw,
    meshHeight: g.bh,
    maskBits: g.maskBits,
    start: 0,
    end: g.ny,
    level,
    rms,
  });
  return finishMesh(level, rms, g);
}

/**
 * As measureBackgroundMesh, with the meshes' statistics shared among the threads of a pool
 * (the image's pixels are copied to shared memory unless they are there already).
 */
export async function measureBackgroundMeshThreaded(
  image: Image,
  options: BackgroundOptions = {},
  pool: WorkerPool = defaultPool(),
): Promise<BackgroundMesh> {
  const g = meshLayout(image, options);
  const level = sharedFloat32(g.nx * g.ny);
  const rms = sharedFloat32(g.nx * g.ny);
  const plane = <T extends Float32Array | Uint8Array>(a: T) =>
    (startsShared(a) ? a.buffer : toShared(a).buffer) as SharedArrayBuffer;
  const task = {
    kind: 'background-mesh' as const,
    width: g.width,
    height: g.height,
    data: plane(image.data),
    mask: image.mask && plane(image.mask),
    meshWidth: g.bw,
    meshHeight: g.bh,
    maskBits: g.maskBits,
    level: level.buffer as SharedArrayBuffer,
    rms: rms.buffer as SharedArrayBuffer,
  };
  await pool.runRanges(g.ny, (start, end) => ({ ...task, start, end }));
  return finishMesh(level, rms, g);
}

/** Bad meshes filled, the map filtered, and the global values: the rest of measureBackgroundMesh. */
function finishMesh(level: Float32Array, rms: Float32Array, g: MeshLayout): BackgroundMesh {
  const { width, height, nx, ny, bw, bh, fw, fh, threshold } = g;
  let goodMeshes = 0;
  for (let k = 0; k < nx * ny; k++) if (!Number.isNaN(level[k])) goodMeshes++;
  if (goodMeshes === 0) {
    throw new BadInputError(
      `no background mesh has enough usable pixels (all ${width}×${height} pixels masked or NaN, or too few per ${bw}×${bh} mesh)`,
    );
  }
  const badMeshes = fillBadMeshes(level, rms, nx, ny);
  if (fw > 1 || fh > 1) filterMeshes(level, rms, nx, ny, fw, fh, threshold);
  const globalLevel = medianInPlace(new Float32Array(level));
  const positive = rms.filter((v) => v > 0);
  const globalRms = positive.length > 0 ? medianInPlace(positive) : 1;
  return { nx, ny, meshWidth: bw, meshHeight: bh, level, rms, globalLevel, globalRms, badMeshes };
}

/** The spline coefficients shared by every row of a full-resolution map (see interpolateMesh). */
function meshSplines(mesh: BackgroundMesh, values: Float32Array, width: number) {
  const { nx, ny, meshWidth, meshHeight } = mesh;
  const dy2 = new Float64Array(nx * ny);
  for (let i = 0; i < nx; i++) naturalSpline(values, dy2, ny, i, nx);
  // Per column: the knot segment, shared by every row.
  const xs = new Int32Array(width);
  if (nx >= 2) for (let x = 0; x < width; x++) xs[x] = knotPosition(x, meshWidth, nx).j;
  return { nx, ny, meshWidth, meshHeight, width, values, dy2, xs };
}

/**
 * Full-resolution map from mesh values by natural bicubic splines through the mesh centres
 * (as SourceExtractor: a spline along y through each column of meshes, then along x).
 * Written into `out` when given (width·height values), else into a new array.
 */
export function interpolateMesh(
  mesh: BackgroundMesh,
  values: Float32Array,
  width: number,
  height: number,
  out: Float32Array = new Float32Array(width * height),
): Float32Array {
  if (out.length !== width * height)
    throw new RangeError(`output has ${out.length} values, the map ${width * height}`);
  interpolateMeshRows({ ...meshSplines(mesh, values, width), out, subtract: false, start: 0, end: height });
  return out;
}

/**
 * interpolateMesh with the rows shared among the threads of a pool, into `out` (width·height
 * values in shared memory), or subtracted from what `out` holds when `subtract` is set.
 */
export async function interpolateMeshThreaded(
  mesh: BackgroundMesh,
  values: Float32Array,
  width: number,
  height: number,
  out: Float32Array,
  options: { subtract?: boolean; pool?: WorkerPool } = {},
): Promise<void> {
  if (out.length !== width * height)
    throw new RangeError(`output has ${out.length} values, the map ${width * height}`);
  if (!startsShared(out)) throw new RangeError('interpolateMeshThreaded writes into shared memory only');
  const task = {
    ...meshSplines(mesh, values, width),
    kind: 'interpolate-mesh' as const,
    out: out.buffer as SharedArrayBuffer,
    subtract: options.subtract === true,
  };
  await (options.pool ?? defaultPool()).runRanges(height, (start, end) => ({ ...task, start, end }));
}

/** The background and its RMS at every pixel (SourceExtractor's BACKGROUND and BACKGROUND_RMS check images). */
export function estimateBackground(image: Image, options: BackgroundOptions = {}): Background {
  const mesh = measureBackgroundMesh(image, options);
  return {
    mesh,
    level: interpolateMesh(mesh, mesh.level, image.width, image.height),
    rms: interpolateMesh(mesh, mesh.rms, image.width, image.height),
  };
}

/** estimateBackground with the work shared among the threads of a pool (maps in shared memory). */
export async function estimateBackgroundThreaded(
  image: Image,
  options: BackgroundOptions = {},
  pool: WorkerPool = defaultPool(),
): Promise<Background> {
  const { width, height } = image;
  const mesh = await measureBackgroundMeshThreaded(image, options, pool);
  const level = sharedFloat32(width * height);
  const rms = sharedFloat32(width * height);
  await interpolateMeshThreaded(mesh, mesh.level, width, height, level, { pool });
  await interpolateMeshThreaded(mesh, mesh.rms, width, height, rms, { pool });
  return { mesh, level, rms };
}

/** A copy of the image with its background subtracted (NaN pixels stay NaN; variance and mask carried along). */
export function subtractBackground(image: Image, background: Background | Float32Array): Image {
  const level = background instanceof Float32Array ? background : background.level;
  if (level.length !== image.data.length) {
    throw new RangeError(`background has ${level.length} pixels, image ${image.data.length}`);
  }
  const data = new Float32Array(image.data.length);
  for (let i = 0; i < data.length; i++) data[i] = image.data[i] - level[i];
  return { ...image, data };
}
