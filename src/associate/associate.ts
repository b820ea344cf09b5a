/**
 * Association of difference-image detections across epochs into objects: a pure function over
 * arrays, no I/O. Detections are taken in time order; each joins the nearest object within the
 * cross-match radius (whose position is the weighted mean of its detections so far) or starts
 * a new object. Positions are unit vectors on the sphere, hashed into cubic cells of the
 * radius's size, so a look-up visits 27 cells whatever the declination (no trouble at the poles
 * or across RA = 0).
 *
 * Partitioning (see `seamTiles`): the operations layer runs one call per sky tile, in parallel;
 * detections within the radius of a tile edge are held back and associated afterwards, in one
 * call over the objects of every tile they touch, so the result does not depend on the
 * partition.
 */

export interface Detection {
  /** The caller's id (diff_sources.id). */
  id: number;
  ra: number;
  dec: number;
  mjd: number;
  /** Weight of the position in the object's mean (S/N²); must be positive. */
  weight: number;
}

export interface KnownObject {
  id: number;
  ra: number;
  dec: number;
  /** Sum of the weights of its detections so far. */
  weight: number;
}

export interface AssociatedObject {
  /** The known object's id; undefined for an object this call created. */
  id?: number;
  ra: number;
  dec: number;
  weight: number;
  /** Indexes of this call's detections that joined it, in time order. */
  members: number[];
}

export interface Association {
  /** Every known object (in the order given) then the new ones. */
  objects: AssociatedObject[];
  /** For each detection (the caller's order), its index in `objects`. */
  objectOf: Int32Array;
}

const RAD = Math.PI / 180;
const ARCSEC = RAD / 3600;

function unit(ra: number, dec: number): [number, number, number] {
  const cd = Math.cos(dec * RAD);
  return [cd * Math.cos(ra * RAD), cd * Math.sin(ra * RAD), Math.sin(dec * RAD)];
}

/** A 32-bit hash of a cell; collisions only add candidates, which the distance test rejects. */
function cellKey(ix: number, iy: number, iz: number): number {
  return (Math.imul(ix, 73856093) ^ Math.imul(iy, 19349663) ^ Math.imul(iz, 83492791)) | 0;
}

/**
 * Associate `detections` with `known` objects and with each other, within `radiusArcsec`.
 * Deterministic: ties in time are broken by the detection id.
 */
export function associate(
  detections: readonly Detection[],
  known: readonly KnownObject[],
  radiusArcsec: number,
): Association {
  if (!(radiusArcsec > 0))
    throw new RangeError(`the cross-match radius must be positive, got ${radiusArcsec}`);
  // Chord length of the radius; cells of that side, so a match is within the 27 cells around.
  const chord = 2 * Math.sin((radiusArcsec * ARCSEC) / 2);
  const chord2 = chord * chord;
  const inv = 1 / chord;
  const n = known.length + detections.length;
  // Object state in flat arrays: the weighted sum of unit vectors (its direction is the mean).
  const sx = new Float64Array(n);
  const sy = new Float64Array(n);
  const sz = new Float64Array(n);
  const w = new Float64Array(n);
  const cell = new Int32Array(n);
  const grid = new Map<number, number[]>();
  const objects: AssociatedObject[] = [];
  const place = (o: number, x: number, y: number, z: number) => {
    const key = cellKey(Math.floor(x * inv), Math.floor(y * inv), Math.floor(z * inv));
    cell[o] = key;
    const list = grid.get(key);
    if (list) list.push(o);
    else grid.set(key, [o]);
  };
  const unplace = (o: number) => {
    const list = grid.get(cell[o])!;
    list.splice(list.indexOf(o), 1);
  };
  for (const k of known) {
    const o = objects.length;
    const [x, y, z] = unit(k.ra, k.dec);
    const kw = k.weight > 0 ? k.weight : 1;
    sx[o] = x * kw;
    sy[o] = y * kw;
    sz[o] = z * kw;
    w[o] = kw;
    objects.push({ id: k.id, ra: k.ra, dec: k.dec, weight: kw, members: [] });
    place(o, x, y, z);
  }
  const order = Array.from(detections.keys()).sort(
    (a, b) => detections[a].mjd - detections[b].mjd || detections[a].id - detections[b].id,
  );
  const objectOf = new Int32Array(detections.length);
  for (const i of order) {
    const d = detections[i];
    if (!(d.weight > 0) || !Number.isFinite(d.ra) || !Number.isFinite(d.dec))
      throw new RangeError(`detection ${d.id}: needs a finite position and a positive weight`);
    const [x, y, z] = unit(d.ra, d.dec);
    const cx = Math.floor(x * inv);
    const cy = Math.floor(y * inv);
    const cz = Math.floor(z * inv);
    let best = -1;
    let bestD2 = chord2;
    for (let a = -1; a <= 1; a++)
      for (let b = -1; b <= 1; b++)
        for (let c = -1; c <= 1; c++) {
          const list = grid.get(cellKey(cx + a, cy + b, cz + c));
          if (!list) continue;
          for (const o of list) {
            const norm = Math.hypot(sx[o], sy[o], sz[o]);
            const d2 = (sx[o] / norm - x) ** 2 + (sy[o] / norm - y) ** 2 + (sz[o] / norm - z) ** 2;
            if (d2 <= bestD2 && (d2 < bestD2 || best < 0 || o < best)) {
              best = o;
              bestD2 = d2;
            }
          }
        }
    let o = best;
    if (o < 0) {
      o = objects.length;
      objects.push({ ra: d.ra, dec: d.dec, weight: 0, members: [] });
    } else unplace(o);
    sx[o] += x * d.weight;
    sy[o] += y * d.weight;
    sz[o] += z * d.weight;
    w[o] += d.weight;
    const norm = Math.hypot(sx[o], sy[o], sz[o]);
    place(o, sx[o] / norm, sy[o] / norm, sz[o] / norm);
    objects[o].members.push(i);
    objectOf[i] = o;
  }
  for (let o = 0; o < objects.length; o++) {
    const norm = Math.hypot(sx[o], sy[o], sz[o]);
    const ra = Math.atan2(sy[o], sx[o]) / RAD;
    objects[o].ra = ra < 0 ? ra + 360 : ra;
    objects[o].dec = Math.asin(Math.max(-1, Math.min(1, sz[o] / norm))) / RAD;
    objects[o].weight = w[o];
  }
  return { objects, objectOf };
}

/**
 * The sky tiles within `radiusArcsec` of a position (its own first): the centre and eight points
 * on a circle of 1.5 radii, so a detection whose list has more than one tile is near an edge.
 */
export function seamTiles(
  ra: number,
  dec: number,
  radiusArcsec: number,
  tileOf: (ra: number, dec: number) => number,
): number[] {
  const tiles = [tileOf(ra, dec)];
  const r = (1.5 * radiusArcsec) / 3600;
  const cd = Math.max(Math.cos(dec * RAD), 1e-6);
  for (let k = 0; k < 8; k++) {
    const a = (k * Math.PI) / 4;
    const d = Math.max(-90, Math.min(90, dec + r * Math.sin(a)));
    const t = tileOf((((ra + (r * Math.cos(a)) / cd) % 360) + 360) % 360, d);
    if (!tiles.includes(t)) tiles.push(t);
  }
  return tiles;
}
