/**
 * Alert packets for a run (after `rapid postprocess`): one packet per vetted difference-image
 * source that belongs to an object, with the object's summary, its earlier detections and
 * forced photometry, and the three cutouts the post-processing job cut. Packets go into one
 * Avro file per difference image (`<out>/jid<science job>.avro`) and, optionally, to NATS
 * JetStream. Fluxes are in nJy (the image's AB zero point).
 */
import {
  type AlertPacket,
  buildPacket,
  type DiaSourceInput,
  type ForcedSourceInput,
  fluxNJy,
  fluxStatistics,
  type PublishReport,
  publishAlerts,
  writeAlertFile,
} from '../alerts/index.ts';
import type { CutoutSet } from '../pipeline/cutouts.ts';
import { POSTPROCESS_PRODUCTS } from '../pipeline/types.ts';
import type { StoreRouter } from '../store/router.ts';
import { MissingInputError } from '../util/errors.ts';
import type { Queryable } from './db.ts';
import { resolveRun } from './postprocess.ts';

export interface AlertsOptions {
  runId?: number;
  /** Where the .avro files go: a folder or s3://bucket/prefix. */
  out: string;
  stores: StoreRouter;
  /** nats://HOST:PORT to publish to as well. */
  publish?: string;
  stream?: string;
  onImage?: (p: { done: number; total: number; packets: number }) => void;
}

export interface AlertsSummary {
  run: number;
  images: number;
  packets: number;
  files: { uri: string; packets: number; bytes: number; checksum: string }[];
  /** Vetted sources without cutouts (their post-processing job has not run): no packet. */
  skipped: number;
  published?: PublishReport;
  seconds: number;
}

interface AlertSourceRow {
  id: number;
  job_id: number;
  object_id: number;
  x_image: number;
  y_image: number;
  ra: number;
  dec: number;
  mjd: number;
  filter: string;
  flux_psf: number | null;
  fluxerr_psf: number | null;
  snr_psf: number | null;
  scorr_peak: number | null;
  isdiffpos: boolean;
  vetflags: number | null;
  pointing: number | null;
  sca: number | null;
  zero_point: number;
  nside: number;
  tile: number;
}

const SOURCE_QUERY = `SELECT s.id, s.job_id, s.object_id, s.x_image, s.y_image, s.ra, s.dec, s.mjd, s.filter,
    s.flux_psf, s.fluxerr_psf, s.snr_psf, s.scorr_peak, s.isdiffpos, s.vetflags, i.pointing, i.sca,
    i.zero_point, i.nside, i.tile
  FROM diff_sources s JOIN images i ON i.id = s.image_id`;

const finite = (v: number | null) => (v !== null && Number.isFinite(v) ? v : null);

function diaSource(s: AlertSourceRow): DiaSourceInput {
  // The catalog's FLUX_PSF is the size of the change; its sign is ISDIFFPOS.
  const sign = s.isdiffpos ? 1 : -1;
  const flux = finite(s.flux_psf);
  const err = finite(s.fluxerr_psf);
  return {
    diaSourceId: Number(s.id),
    pointing: s.pointing ?? 0,
    sca: s.sca ?? 0,
    diaObjectId: Number(s.object_id),
    midpointMjdTai: s.mjd,
    ra: s.ra,
    dec: s.dec,
    x: s.x_image - 1,
    y: s.y_image - 1,
    snr: finite(s.snr_psf),
    psfFlux: flux === null ? null : sign * fluxNJy(flux, s.zero_point),
    psfFluxErr: err === null ? null : fluxNJy(err, s.zero_point),
    band: s.filter,
    field: Number(s.tile),
    fieldNside: s.nside,
    isdiffpos: s.isdiffpos,
    scorrPeak: finite(s.scorr_peak),
    vetFlags: s.vetflags ?? 0,
  };
}

export async function writeAlerts(db: Queryable, o: AlertsOptions): Promise<AlertsSummary> {
  const t0 = performance.now();
  const run = await resolveRun(db, o.runId);
  const sources = await db.query<AlertSourceRow>(
    `${SOURCE_QUERY} JOIN run_jobs rj ON rj.job_id = s.job_id
     WHERE rj.run_id = $1 AND s.object_id IS NOT NULL AND coalesce(s.vetflags, 0) = 0 ORDER BY s.job_id, s.id`,
    [run],
  );
  const objectIds = [...new Set(sources.map((s) => Number(s.object_id)))];
  const objects = new Map(
    (
      await db.query<{
        id: number;
        name: string | null;
        ra: number;
        dec: number;
        n_detections: number;
        first_mjd: number;
        last_mjd: number;
      }>(
        'SELECT id, name, ra, dec, n_detections, first_mjd, last_mjd FROM objects WHERE id = ANY($1::bigint[])',
        [objectIds],
      )
    ).map((r) => [Number(r.id), r]),
  );
  // Every detection and forced measurement of these objects, for the histories.
  const history = new Map<number, AlertSourceRow[]>();
  for (const r of await db.query<AlertSourceRow>(
    `${SOURCE_QUERY} WHERE s.object_id = ANY($1::bigint[]) ORDER BY s.mjd, s.id`,
    [objectIds],
  ))
    history.set(Number(r.object_id), [...(history.get(Number(r.object_id)) ?? []), r]);
  const forced = new Map<number, ForcedSourceInput[]>();
  for (const f of await db.query<{
    id: number;
    object_id: number;
    mjd: number;
    filter: string;
    flux: number | null;
    flux_err: number | null;
    ra: number;
    dec: number;
    pointing: number | null;
    sca: number | null;
    zero_point: number;
  }>(
    `SELECT f.id, f.object_id, f.mjd, f.filter, f.flux, f.flux_err, o.ra, o.dec, i.pointing, i.sca, i.zero_point
     FROM forced_sources f JOIN objects o ON o.id = f.object_id JOIN images i ON i.id = f.image_id
     WHERE f.object_id = ANY($1::bigint[]) ORDER BY f.mjd`,
    [objectIds],
  )) {
    const flux = finite(f.flux);
    const err = finite(f.flux_err);
    const row: ForcedSourceInput = {
      diaForcedSourceId: Number(f.id),
      diaObjectId: Number(f.object_id),
      ra: f.ra,
      dec: f.dec,
      pointing: f.pointing ?? 0,
      sca: f.sca ?? 0,
      psfFlux: flux === null ? null : fluxNJy(flux, f.zero_point),
      psfFluxErr: err === null ? null : fluxNJy(err, f.zero_point),
      midpointMjdTai: f.mjd,
      band: f.filter,
    };
    forced.set(row.diaObjectId, [...(forced.get(row.diaObjectId) ?? []), row]);
  }
  // The cutouts each post-processing job made.
  const jobs = [...new Set(sources.map((s) => Number(s.job_id)))];
  const cutoutProducts = await db.query<{ key: string; uri: string; checksum: string }>(
    `SELECT j.key, p.uri, p.checksum FROM jobs j JOIN products p ON p.job_id = j.id
     WHERE j.pipeline = 'postprocess' AND j.key = ANY($1::text[]) AND p.uri LIKE '%/' || $2`,
    [jobs.map((j) => `postprocess:${j}`), POSTPROCESS_PRODUCTS.cutouts],
  );
  const cutoutsOf = new Map(cutoutProducts.map((p) => [Number(p.key.slice('postprocess:'.length)), p]));
  const summary: AlertsSummary = { run, images: 0, packets: 0, files: [], skipped: 0, seconds: 0 };
  const all: AlertPacket[] = [];
  const root = o.out.replace(/\/+$/, '');
  for (let k = 0; k < jobs.length; k++) {
    const job = jobs[k];
    const mine = sources.filter((s) => Number(s.job_id) === job);
    const c = cutoutsOf.get(job);
    if (!c) {
      summary.skipped += mine.length;
      continue;
    }
    const stamps = JSON.parse(
      Buffer.from(await o.stores.for(c.uri).get(c.uri, c.checksum)).toString('utf8'),
    ) as CutoutSet;
    const packets: AlertPacket[] = [];
    for (const s of mine) {
      const st = stamps[String(s.id)];
      if (!st) {
        summary.skipped++;
        continue;
      }
      const obj = objects.get(Number(s.object_id));
      if (!obj)
        throw new MissingInputError(
          `object ${s.object_id} of source ${s.id} is gone; run \`rapid postprocess\``,
        );
      const prv = (history.get(Number(s.object_id)) ?? []).filter((h) => h.mjd < s.mjd).map(diaSource);
      const prvForced = (forced.get(Number(s.object_id)) ?? []).filter((f) => f.midpointMjdTai < s.mjd);
      const allDetections = (history.get(Number(s.object_id)) ?? [])
        .filter((h) => h.mjd <= s.mjd)
        .map(diaSource);
      packets.push(
        buildPacket({
          diaSource: diaSource(s),
          diaObject: {
            diaObjectId: Number(obj.id),
            name: obj.name,
            ra: obj.ra,
            dec: obj.dec,
            nDiaSources: allDetections.length,
            firstDiaSourceMjdTai: allDetections[0]?.midpointMjdTai ?? s.mjd,
            lastDiaSourceMjdTai: s.mjd,
            fluxStats: fluxStatistics(allDetections, prvForced),
          },
          prvDiaSources: prv,
          prvDiaForcedSources: prvForced,
          cutouts: {
            science: Buffer.from(st.science, 'base64'),
            template: Buffer.from(st.template, 'base64'),
            difference: Buffer.from(st.difference, 'base64'),
          },
        }),
      );
    }
    if (packets.length > 0) {
      const uri = `${root}/jid${job}.avro`;
      const stored = await writeAlertFile(o.stores.for(uri), uri, packets);
      summary.files.push({ uri, packets: packets.length, bytes: stored.bytes, checksum: stored.checksum });
      summary.packets += packets.length;
      summary.images++;
      if (o.publish) all.push(...packets);
    }
    o.onImage?.({ done: k + 1, total: jobs.length, packets: summary.packets });
  }
  if (o.publish && all.length > 0)
    summary.published = await publishAlerts(o.publish, all, o.stream ? { stream: o.stream } : {});
  summary.seconds = (performance.now() - t0) / 1000;
  return summary;
}
