/**
 * Sky tiles: HEALPix pixels in the nested scheme (Górski et al. 2005).
 *
 * A science image's field is the tile that contains its centre, as in RAPID. The default
 * nside 512 gives tiles of about 0.115° (3.1 million tiles); nside must be a power of two
 * up to 2^15 (what @hscmap/healpix supports exactly).
 */
import * as healpix from '@hscmap/healpix';
import { UsageError } from '../util/errors.ts';

export const DEFAULT_NSIDE = 512;
const MAX_NSIDE = 1 << 15;
const DEG = Math.PI / 180;

export interface SkyPosition {
  /** Right ascension, degrees in [0, 360). */
  ra: number;
  /** Declination, degrees in [−90, 90]. */
  dec: number;
}

export function checkNside(nside: number): number {
  if (!Number.isInteger(nside) || nside < 1 || nside > MAX_NSIDE || (nside & (nside - 1)) !== 0) {
    throw new UsageError(`nside must be a power of two between 1 and ${MAX_NSIDE}, got ${nside}`);
  }
  return nside;
}

function checkTile(tile: number, nside: number): void {
  if (!Number.isInteger(tile) || tile < 0 || tile >= healpix.nside2npix(nside)) {
    throw new UsageError(
      `tile ${tile} does not exist at nside ${nside} (0 … ${healpix.nside2npix(nside) - 1})`,
    );
  }
}

function checkPosition(ra: number, dec: number): void {
  if (!Number.isFinite(ra) || !Number.isFinite(dec) || dec < -90 || dec > 90) {
    throw new UsageError(`not a sky position: RA ${ra}, Dec ${dec} (degrees; Dec within ±90)`);
  }
}

function toPosition(v: healpix.V3): SkyPosition {
  const [x, y, z] = v;
  let ra = Math.atan2(y, x) / DEG;
  if (ra < 0) ra += 360;
  if (ra >= 360) ra -= 360;
  const dec = Math.atan2(z, Math.hypot(x, y)) / DEG;
  return { ra, dec };
}

/** Number of tiles at this nside (12 nside²). */
export function tileCount(nside = DEFAULT_NSIDE): number {
  return healpix.nside2npix(checkNside(nside));
}

/** Typical tile size in degrees (square root of the tile area). */
export function tileSize(nside = DEFAULT_NSIDE): number {
  return Math.sqrt(healpix.nside2pixarea(checkNside(nside))) / DEG;
}

/**
 * The tile (nested index) that contains a sky position.
 *
 * Our own implementation of ang2pix (Górski et al. 2005, section 4): @hscmap/healpix's
 * clips wrongly within about 0.001° of the poles, returning a tile on the wrong face.
 * Near the poles √(1−|z|) is computed from cos(dec) to keep its precision.
 */
export function tileOf(ra: number, dec: number, nside = DEFAULT_NSIDE): number {
  checkNside(nside);
  checkPosition(ra, dec);
  const phi = (((ra % 360) + 360) % 360) * DEG;
  const z = Math.sin(dec * DEG);
  const za = Math.abs(z);
  const tt = (phi / (Math.PI / 2)) % 4; // in [0, 4)
  let face: number;
  let ix: number;
  let iy: number;
  if (za <= 2 / 3) {
    // Equatorial belt: the two diagonal pixel indices from the projection's straight lines.
    const t1 = nside * (0.5 + tt);
    const t2 = nside * z * 0.75;
    const jp = Math.floor(t1 - t2);
    const jm = Math.floor(t1 + t2);
    const ifp = Math.floor(jp / nside);
    const ifm = Math.floor(jm / nside);
    face = ifp === ifm ? (ifp % 4) + 4 : ifp < ifm ? ifp % 4 : (ifm % 4) + 8;
    ix = jm % nside;
    iy = nside - (jp % nside) - 1;
  } else {
    // Polar caps: distances from the two face edges meeting at the pole.
    const ntt = Math.min(3, Math.floor(tt));
    const tp = tt - ntt;
    // nside·√(3(1−|z|)); 1−|z| = cos²(dec)/(1+|z|) without cancellation near the poles.
    const cosDec = Math.cos(dec * DEG);
    const tmp = nside * Math.sqrt((3 * cosDec * cosDec) / (1 + za));
    const jp = Math.min(nside - 1, Math.floor(tp * tmp));
    const jm = Math.min(nside - 1, Math.floor((1 - tp) * tmp));
    if (z >= 0) {
      face = ntt;
      ix = nside - jm - 1;
      iy = nside - jp - 1;
    } else {
      face = ntt + 8;
      ix = jp;
      iy = jm;
    }
  }
  return face * nside * nside + interleave(ix, iy);
}

/** Morton code: the bits of x in the even positions, those of y in the odd ones (nside ≤ 2^15). */
function interleave(x: number, y: number): number {
  let r = 0;
  for (let b = 0; b < 16; b++) {
    r |= ((x >> b) & 1) << (2 * b);
    r |= ((y >> b) & 1) << (2 * b + 1);
  }
  return r >>> 0;
}

/** The tile's centre. */
export function tileCentre(tile: number, nside = DEFAULT_NSIDE): SkyPosition {
  checkNside(nside);
  checkTile(tile, nside);
  return toPosition(healpix.pix2vec_nest(nside, tile));
}

/** The tile's four corners, in HEALPix's order: north, west, south, east. */
export function tileCorners(tile: number, nside = DEFAULT_NSIDE): SkyPosition[] {
  checkNside(nside);
  checkTile(tile, nside);
  return healpix.corners_nest(nside, tile).map(toPosition);
}

/**
 * Neighbour directions in the tile's own grid (x toward north-east, y toward north-west),
 * in healpy's order of get_all_neighbours: SW, W, NW, N, NE, E, SE, S.
 */
const DIRECTIONS: ReadonlyArray<readonly [number, number]> = [
  [-1, 0],
  [-1, 1],
  [0, 1],
  [1, 1],
  [1, 0],
  [1, -1],
  [0, -1],
  [-1, -1],
];

/**
 * The eight neighbouring tiles in the order SW, W, NW, N, NE, E, SE, S (as healpy's
 * get_all_neighbours), with −1 where a corner neighbour does not exist (the 8 places per
 * nside where only three tiles meet).
 *
 * Found geometrically rather than with face-transition tables: a point just beyond each edge's
 * midpoint lies in the edge neighbour; around each corner, a tiny circle of points finds every
 * tile touching that vertex, and the one that is neither this tile nor an edge neighbour is the
 * corner neighbour.
 */
export function tileNeighbours(tile: number, nside = DEFAULT_NSIDE): number[] {
  checkNside(nside);
  checkTile(tile, nside);
  const at = (ne: number, nw: number) => healpix.pixcoord2vec_nest(nside, tile, ne, nw);
  const centre = at(0.5, 0.5);
  // A radius far below the tile size but far above rounding error.
  const radius = 1e-4 * Math.sqrt(healpix.nside2pixarea(nside));
  const out = new Array<number>(8).fill(-1);
  DIRECTIONS.forEach(([dx, dy], i) => {
    if (dx !== 0 && dy !== 0) return;
    const b = at(0.5 + 0.5 * dx, 0.5 + 0.5 * dy);
    const d = normalise([b[0] - centre[0], b[1] - centre[1], b[2] - centre[2]]);
    out[i] = tileOfVector(
      nside,
      normalise([b[0] + radius * d[0], b[1] + radius * d[1], b[2] + radius * d[2]]),
    );
  });
  DIRECTIONS.forEach(([dx, dy], i) => {
    if (dx === 0 || dy === 0) return;
    const touching = tilesAroundVertex(nside, at(0.5 + 0.5 * dx, 0.5 + 0.5 * dy), radius);
    const others = [...touching].filter((t) => t !== tile && t !== out[i - 1] && t !== out[(i + 1) % 8]);
    out[i] = others.length === 1 ? others[0] : -1;
  });
  return out;
}

function tileOfVector(nside: number, v: healpix.V3): number {
  const p = toPosition(v);
  return tileOf(p.ra, p.dec, nside);
}

function normalise(v: healpix.V3): healpix.V3 {
  const n = Math.hypot(v[0], v[1], v[2]);
  return [v[0] / n, v[1] / n, v[2] / n];
}

/** Tiles met by a small circle of the given radius (radians) around a vertex. */
function tilesAroundVertex(nside: number, v: healpix.V3, radius: number): Set<number> {
  // An orthonormal basis of the plane tangent to the sphere at v.
  const helper: healpix.V3 = Math.abs(v[2]) < 0.9 ? [0, 0, 1] : [1, 0, 0];
  const e1 = normalise([
    helper[1] * v[2] - helper[2] * v[1],
    helper[2] * v[0] - helper[0] * v[2],
    helper[0] * v[1] - helper[1] * v[0],
  ]);
  const e2: healpix.V3 = [
    v[1] * e1[2] - v[2] * e1[1],
    v[2] * e1[0] - v[0] * e1[2],
    v[0] * e1[1] - v[1] * e1[0],
  ];
  const found = new Set<number>();
  for (let k = 0; k < 36; k++) {
    const a = (2 * Math.PI * (k + 0.5)) / 36;
    const c = radius * Math.cos(a);
    const s = radius * Math.sin(a);
    found.add(
      tileOfVector(
        nside,
        normalise([v[0] + c * e1[0] + s * e2[0], v[1] + c * e1[1] + s * e2[1], v[2] + c * e1[2] + s * e2[2]]),
      ),
    );
  }
  return found;
}

/** Great-circle distance in degrees between two sky positions (haversine, stable at small angles). */
export function angularDistance(a: SkyPosition, b: SkyPosition): number {
  const dra = (b.ra - a.ra) * DEG;
  const ddec = (b.dec - a.dec) * DEG;
  const h = Math.sin(ddec / 2) ** 2 + Math.cos(a.dec * DEG) * Math.cos(b.dec * DEG) * Math.sin(dra / 2) ** 2;
  return (2 * Math.asin(Math.min(1, Math.sqrt(h)))) / DEG;
}
