/**
 * Reference planning, as a pure function over what the launch query returned (no I/O), so that
 * it can be tested on its own.
 *
 * For each (tile, filter) with science images in the range:
 * - an existing reference (planned or ready) is usable for a science image when all its inputs
 *   precede the image (and, with an explicit window, lie inside it); the best usable one (most
 *   inputs, then newest version) is used;
 * - science images with no usable reference get a new one: up to `maxInputs` frames of the same
 *   tile and filter, nearest the tile centre first, observed before the earliest science image of
 *   that tile and filter in the range, or inside the explicit window (`refFrom`, `refTo`). One new
 *   reference serves all of them. Fewer than `minInputs` frames: no reference (exit 33);
 * - a science image is never compared with a reference that contains itself or later frames:
 *   such an image gets exit 33.
 */

export interface PlanImage {
  id: number;
  nside: number;
  tile: number;
  filter: string;
  mjd: number;
}

export interface PlanCandidate extends PlanImage {
  /** Angular distance of the image centre from the tile centre, degrees. */
  dist: number;
}

export interface PlanReference {
  id: number;
  nside: number;
  tile: number;
  filter: string;
  version: number;
  status: string;
  nInputs: number;
  minInputMjd: number;
  maxInputMjd: number;
}

export interface PlanOptions {
  minInputs: number;
  maxInputs: number;
  /** Explicit reference window, MJD [refFrom, refTo). */
  refFrom?: number;
  refTo?: number;
}

/** A reference to be built: its key, version and chosen inputs (nearest first). */
export interface NewReference {
  nside: number;
  tile: number;
  filter: string;
  version: number;
  inputs: PlanCandidate[];
  minInputMjd: number;
  maxInputMjd: number;
}

export type Assignment =
  | { imageId: number; kind: 'existing'; referenceId: number }
  | { imageId: number; kind: 'new'; newIndex: number }
  | { imageId: number; kind: 'none'; reason: string };

export interface ReferencePlan {
  newReferences: NewReference[];
  assignments: Assignment[];
}

const keyOf = (x: { nside: number; tile: number; filter: string }) => `${x.nside}:${x.tile}:${x.filter}`;

function group<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const t of items) {
    const k = key(t);
    let v = m.get(k);
    if (!v) {
      v = [];
      m.set(k, v);
    }
    v.push(t);
  }
  return m;
}

export function planReferences(
  science: PlanImage[],
  candidates: PlanCandidate[],
  references: PlanReference[],
  o: PlanOptions,
): ReferencePlan {
  const windowed = o.refFrom !== undefined || o.refTo !== undefined;
  const inWindow = (mjd: number) =>
    (o.refFrom === undefined || mjd >= o.refFrom) && (o.refTo === undefined || mjd < o.refTo);
  const candByKey = group(candidates, keyOf);
  const refsByKey = group(
    references.filter((r) => r.status !== 'failed'),
    keyOf,
  );
  const newReferences: NewReference[] = [];
  const assignments: Assignment[] = [];

  for (const [key, images] of group(science, keyOf)) {
    images.sort((a, b) => a.mjd - b.mjd || a.id - b.id);
    const refs = (refsByKey.get(key) ?? []).filter(
      (r) => !windowed || (inWindow(r.minInputMjd) && inWindow(r.maxInputMjd)),
    );
    const best = (img: PlanImage) =>
      refs
        .filter((r) => r.maxInputMjd < img.mjd && r.nInputs >= o.minInputs)
        .sort((a, b) => b.nInputs - a.nInputs || b.version - a.version)[0];
    const needNew = images.filter((img) => best(img) === undefined);
    let newIndex = -1;
    let chosen: PlanCandidate[] = [];
    let reason = '';
    if (needNew.length > 0) {
      const earliest = needNew[0].mjd;
      const pool = (candByKey.get(key) ?? []).filter((c) => (windowed ? inWindow(c.mjd) : c.mjd < earliest));
      pool.sort((a, b) => a.dist - b.dist || a.mjd - b.mjd || a.id - b.id);
      chosen = pool.slice(0, o.maxInputs);
      if (chosen.length >= o.minInputs) {
        const { nside, tile, filter } = images[0];
        const version = Math.max(0, ...allVersions(references, key)) + 1;
        newIndex = newReferences.length;
        newReferences.push({
          nside,
          tile,
          filter,
          version,
          inputs: chosen,
          minInputMjd: Math.min(...chosen.map((c) => c.mjd)),
          maxInputMjd: Math.max(...chosen.map((c) => c.mjd)),
        });
      } else {
        reason = `only ${chosen.length} prior frame${chosen.length === 1 ? '' : 's'} of tile ${images[0].tile} ${images[0].filter}${windowed ? ' in the reference window' : ''}; ${o.minInputs} needed`;
      }
    }
    const planned = newIndex >= 0 ? newReferences[newIndex] : undefined;
    const inputIds = new Set(chosen.map((c) => c.id));
    for (const img of images) {
      const r = best(img);
      if (r) assignments.push({ imageId: img.id, kind: 'existing', referenceId: r.id });
      else if (planned && planned.maxInputMjd < img.mjd && !inputIds.has(img.id))
        assignments.push({ imageId: img.id, kind: 'new', newIndex });
      else if (planned)
        assignments.push({
          imageId: img.id,
          kind: 'none',
          reason: `the reference of tile ${img.tile} ${img.filter} contains this image or later frames`,
        });
      else assignments.push({ imageId: img.id, kind: 'none', reason });
    }
  }
  return { newReferences, assignments };
}

/** Versions of every reference of a key, failed ones included (versions are never reused). */
function allVersions(references: PlanReference[], key: string): number[] {
  return references.filter((r) => keyOf(r) === key).map((r) => r.version);
}
