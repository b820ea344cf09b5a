/**
 * An object and its light curve from the database: the detections (difference-image sources
 * associated with it) and the forced photometry at its position on every difference image that
 * covers it, in time order; and a plot of it.
 */
import { MissingInputError, UsageError } from '../util/errors.ts';
import type { Queryable } from './db.ts';
import { renderChart } from './report.ts';

export interface ObjectSummary {
  id: number;
  name: string | null;
  ra: number;
  dec: number;
  nDetections: number;
  firstMjd: number;
  lastMjd: number;
  stats: Record<string, Record<string, number | null>>;
}

export interface LightCurvePoint {
  mjd: number;
  filter: string;
  /** detection: a difference-image source; forced: forced photometry at the object's position. */
  kind: 'detection' | 'forced';
  flux: number | null;
  fluxErr: number | null;
  /** The science job of the difference image. */
  job: number;
  sourceId?: number;
  flags: number | null;
}

export async function findObject(db: Queryable, idOrName: string): Promise<ObjectSummary> {
  const byId = /^\d+$/.test(idOrName);
  if (!byId && !/^[A-Za-z0-9_-]+$/.test(idOrName))
    throw new UsageError(`'${idOrName}' is not an object id or name`);
  const rows = await db.query<{
    id: number;
    name: string | null;
    ra: number;
    dec: number;
    n_detections: number;
    first_mjd: number;
    last_mjd: number;
    stats: Record<string, Record<string, number | null>>;
  }>(
    `SELECT id, name, ra, dec, n_detections, first_mjd, last_mjd, stats FROM objects WHERE ${byId ? 'id = $1::bigint' : 'name = $1'}`,
    [idOrName],
  );
  const r = rows[0];
  if (!r) throw new MissingInputError(`no object ${idOrName}; run \`rapid postprocess\` first`);
  return {
    id: Number(r.id),
    name: r.name,
    ra: r.ra,
    dec: r.dec,
    nDetections: r.n_detections,
    firstMjd: r.first_mjd,
    lastMjd: r.last_mjd,
    stats: r.stats,
  };
}

export async function lightCurve(db: Queryable, objectId: number): Promise<LightCurvePoint[]> {
  const rows = await db.query<{
    mjd: number;
    filter: string;
    kind: 'detection' | 'forced';
    flux: number | null;
    flux_err: number | null;
    job: number;
    source_id: number | null;
    flags: number | null;
  }>(
    `SELECT mjd, filter, 'detection' AS kind, flux_psf AS flux, fluxerr_psf AS flux_err, job_id AS job,
       id AS source_id, flags FROM diff_sources WHERE object_id = $1
     UNION ALL
     SELECT mjd, filter, 'forced', flux, flux_err, diff_job_id, NULL, flags FROM forced_sources WHERE object_id = $1
     ORDER BY mjd, kind`,
    [objectId],
  );
  return rows.map((r) => ({
    mjd: r.mjd,
    filter: r.filter,
    kind: r.kind,
    flux: r.flux,
    fluxErr: r.flux_err,
    job: Number(r.job),
    ...(r.source_id === null ? {} : { sourceId: Number(r.source_id) }),
    flags: r.flags,
  }));
}

/** The light curve as a fixed-width table for a terminal. */
export function formatLightCurve(o: ObjectSummary, points: readonly LightCurvePoint[]): string {
  const f = (v: number | null, w: number, d: number) => (v === null ? 'nan' : v.toFixed(d)).padStart(w);
  const lines = [
    `# object ${o.id}${o.name ? ` (${o.name})` : ''}  ra ${o.ra.toFixed(7)}  dec ${o.dec.toFixed(7)}  detections ${o.nDetections}`,
    `#${'mjd'.padStart(13)} ${'filter'.padEnd(6)} ${'kind'.padEnd(9)} ${'flux'.padStart(12)} ${'flux_err'.padStart(10)} ${'job'.padStart(7)}`,
  ];
  for (const p of points)
    lines.push(
      ` ${f(p.mjd, 13, 5)} ${p.filter.padEnd(6)} ${p.kind.padEnd(9)} ${f(p.flux, 12, 3)} ${f(p.fluxErr, 10, 3)} ${String(p.job).padStart(7)}`,
    );
  return `${lines.join('\n')}\n`;
}

/** A PNG plot of the light curve: flux against MJD with 1σ error bars, by filter and kind. */
export async function plotLightCurve(
  o: ObjectSummary,
  points: readonly LightCurvePoint[],
): Promise<Uint8Array> {
  const values = points
    .filter((p) => p.flux !== null && Number.isFinite(p.flux))
    .map((p) => ({
      mjd: p.mjd,
      flux: p.flux,
      lo: p.flux! - (p.fluxErr ?? 0),
      hi: p.flux! + (p.fluxErr ?? 0),
      filter: p.filter,
      kind: p.kind,
    }));
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `object ${o.name ?? o.id}: difference-image flux`,
    width: 560,
    height: 300,
    data: { values },
    layer: [
      {
        mark: { type: 'rule' },
        encoding: {
          x: { field: 'mjd', type: 'quantitative', title: 'MJD', scale: { zero: false } },
          y: { field: 'lo', type: 'quantitative', title: 'flux (counts)' },
          y2: { field: 'hi' },
          color: { field: 'filter', type: 'nominal' },
        },
      },
      {
        mark: { type: 'point', filled: true, size: 50 },
        encoding: {
          x: { field: 'mjd', type: 'quantitative' },
          y: { field: 'flux', type: 'quantitative' },
          color: { field: 'filter', type: 'nominal' },
          shape: { field: 'kind', type: 'nominal' },
        },
      },
    ],
  };
  return (await renderChart(spec)).png;
}
