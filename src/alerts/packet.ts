/**
 * Alert packets from plain typed inputs: no database, no I/O. The caller gathers the detection,
 * its object, earlier detections, forced photometry and the three cutouts (cutout.ts); this
 * module fills the schema's records (Roman names in, LSST's names out: pointing → visit,
 * sca → detector and sca), computes the HEALPix indices and the per-filter flux statistics,
 * and validates the result against the schema.
 *
 * Fluxes are in nJy, as in LSST packets; `fluxNJy` converts a count rate (e⁻/s) with the
 * image's AB zero point.
 */
import { ROMAN_FILTERS, romanFilter } from '../instrument/roman.ts';
import { tileOf } from '../sky/tiles.ts';
import { BadInputError, RapidError } from '../util/errors.ts';
import { ALERT_SCHEMA_VERSION, validateAlert } from './schema.ts';

/** HEALPix resolutions of the hpix<nside> fields (nested scheme). */
export const HPIX_NSIDES = [64, 1024, 16384] as const;

/** AB flux density of a count rate: nJy = rate · 10^(−0.4·zp) · 3631 Jy. */
export function fluxNJy(rate: number, zeropoint: number): number {
  return rate * 3631e9 * 10 ** (-0.4 * zeropoint);
}

// ---- inputs ---------------------------------------------------------------------------------

/** A detection on a difference image. Optional values may be left out (null in the packet). */
export interface DiaSourceInput {
  diaSourceId: number;
  /** The Roman pointing (exposure number). */
  pointing: number;
  /** The SCA, 1–18. */
  sca: number;
  diaObjectId?: number | null;
  parentDiaSourceId?: number | null;
  midpointMjdTai: number;
  ra: number;
  dec: number;
  raErr?: number | null;
  decErr?: number | null;
  ra_dec_Cov?: number | null;
  /** Centroid, 0-based pixels on the difference image. */
  x: number;
  y: number;
  xErr?: number | null;
  yErr?: number | null;
  apFlux?: number | null;
  apFluxErr?: number | null;
  snr?: number | null;
  psfFlux?: number | null;
  psfFluxErr?: number | null;
  psfChi2?: number | null;
  psfNdata?: number | null;
  extendedness?: number | null;
  reliability?: number | null;
  /** Filter, either spelling (F158 or H158); written as F158. */
  band: string;
  /** Sky tile of the science image (nested HEALPix at fieldNside). */
  field: number;
  fieldNside: number;
  /** True when positive on science − reference. */
  isdiffpos: boolean;
  scorrPeak?: number | null;
  vetFlags?: number;
  diffMaglim?: number | null;
}

/** Forced PSF photometry of an object on one image. */
export interface ForcedSourceInput {
  diaForcedSourceId: number;
  diaObjectId: number;
  ra: number;
  dec: number;
  pointing: number;
  sca: number;
  psfFlux?: number | null;
  psfFluxErr?: number | null;
  scienceFlux?: number | null;
  scienceFluxErr?: number | null;
  midpointMjdTai: number;
  band: string;
}

/** Flux statistics of one filter (diaObject's <filter>_… fields). */
export interface FilterFluxStats {
  psfFluxMean?: number | null;
  psfFluxMeanErr?: number | null;
  psfFluxSigma?: number | null;
  psfFluxChi2?: number | null;
  psfFluxNdata?: number | null;
  psfFluxErrMean?: number | null;
  fpFluxMean?: number | null;
  fpFluxMeanErr?: number | null;
  fpFluxSigma?: number | null;
}

export interface DiaObjectInput {
  diaObjectId: number;
  /** Stable name (names.ts). */
  name?: string | null;
  ra: number;
  dec: number;
  raErr?: number | null;
  decErr?: number | null;
  ra_dec_Cov?: number | null;
  radecMjdTai?: number | null;
  nDiaSources: number;
  firstDiaSourceMjdTai?: number | null;
  lastDiaSourceMjdTai?: number | null;
  /** Per-filter statistics, keyed by either spelling; see fluxStatistics. */
  fluxStats?: Record<string, FilterFluxStats>;
}

/** The three stamps, gzipped FITS bytes (cutout.ts); a missing one is null in the packet. */
export interface CutoutsInput {
  difference?: Uint8Array | null;
  science?: Uint8Array | null;
  template?: Uint8Array | null;
}

export interface PacketInput {
  diaSource: DiaSourceInput;
  diaObject?: DiaObjectInput | null;
  prvDiaSources?: DiaSourceInput[];
  prvDiaForcedSources?: ForcedSourceInput[];
  cutouts?: CutoutsInput;
  /** Default: the diaSourceId. */
  alertId?: number;
}

// ---- the packet (what the schema holds) -----------------------------------------------------

type Nullable<T> = { [K in keyof T]-?: undefined extends T[K] ? Exclude<T[K], undefined> | null : T[K] };

export type DiaSourceRecord = Nullable<Omit<DiaSourceInput, 'pointing' | 'vetFlags'>> & {
  visit: number;
  detector: number;
  vetFlags: number;
  hpix64: number;
  hpix1024: number;
  hpix16384: number;
};
export type DiaForcedSourceRecord = Nullable<Omit<ForcedSourceInput, 'pointing'>> & {
  visit: number;
  detector: number;
};
/** diaObject: fixed fields plus `<filter>_<statistic>` for every Roman filter. */
export type DiaObjectRecord = Nullable<Omit<DiaObjectInput, 'fluxStats'>> & {
  hpix64: number;
  hpix1024: number;
  hpix16384: number;
} & Record<string, number | string | null>;

export interface AlertPacket {
  alertId: number;
  schemaVersion: string;
  diaSource: DiaSourceRecord;
  prvDiaSources: DiaSourceRecord[] | null;
  prvDiaForcedSources: DiaForcedSourceRecord[] | null;
  diaObject: DiaObjectRecord | null;
  cutoutDifference: Buffer | null;
  cutoutScience: Buffer | null;
  cutoutTemplate: Buffer | null;
}

const STAT_NAMES: readonly (keyof FilterFluxStats)[] = [
  'psfFluxMean',
  'psfFluxMeanErr',
  'psfFluxSigma',
  'psfFluxChi2',
  'psfFluxNdata',
  'psfFluxErrMean',
  'fpFluxMean',
  'fpFluxMeanErr',
  'fpFluxSigma',
];

function filterName(band: string, what: string): string {
  try {
    return romanFilter(band).name;
  } catch (err) {
    if (err instanceof RapidError) throw new BadInputError(`${what}: ${err.message}`);
    throw err;
  }
}

function hpix(
  ra: number,
  dec: number,
  what: string,
): { hpix64: number; hpix1024: number; hpix16384: number } {
  if (!Number.isFinite(ra) || !Number.isFinite(dec) || dec < -90 || dec > 90)
    throw new BadInputError(`${what}: not a sky position (ra ${ra}, dec ${dec}); check the astrometry`);
  return {
    hpix64: tileOf(ra, dec, 64),
    hpix1024: tileOf(ra, dec, 1024),
    hpix16384: tileOf(ra, dec, 16384),
  };
}

const orNull = <T>(v: T | null | undefined): T | null => (v === undefined ? null : v);

function toBuffer(bytes: Uint8Array | null | undefined): Buffer | null {
  if (bytes === undefined || bytes === null) return null;
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function diaSourceRecord(s: DiaSourceInput): DiaSourceRecord {
  const what = `diaSource ${s.diaSourceId}`;
  return {
    diaSourceId: s.diaSourceId,
    visit: s.pointing,
    detector: s.sca,
    diaObjectId: orNull(s.diaObjectId),
    parentDiaSourceId: orNull(s.parentDiaSourceId),
    midpointMjdTai: s.midpointMjdTai,
    ra: s.ra,
    raErr: orNull(s.raErr),
    dec: s.dec,
    decErr: orNull(s.decErr),
    ra_dec_Cov: orNull(s.ra_dec_Cov),
    x: s.x,
    xErr: orNull(s.xErr),
    y: s.y,
    yErr: orNull(s.yErr),
    apFlux: orNull(s.apFlux),
    apFluxErr: orNull(s.apFluxErr),
    snr: orNull(s.snr),
    psfFlux: orNull(s.psfFlux),
    psfFluxErr: orNull(s.psfFluxErr),
    psfChi2: orNull(s.psfChi2),
    psfNdata: orNull(s.psfNdata),
    extendedness: orNull(s.extendedness),
    reliability: orNull(s.reliability),
    band: filterName(s.band, what),
    sca: s.sca,
    field: s.field,
    fieldNside: s.fieldNside,
    ...hpix(s.ra, s.dec, what),
    isdiffpos: s.isdiffpos,
    scorrPeak: orNull(s.scorrPeak),
    vetFlags: s.vetFlags ?? 0,
    diffMaglim: orNull(s.diffMaglim),
  };
}

export function forcedSourceRecord(f: ForcedSourceInput): DiaForcedSourceRecord {
  return {
    diaForcedSourceId: f.diaForcedSourceId,
    diaObjectId: f.diaObjectId,
    ra: f.ra,
    dec: f.dec,
    visit: f.pointing,
    detector: f.sca,
    psfFlux: orNull(f.psfFlux),
    psfFluxErr: orNull(f.psfFluxErr),
    scienceFlux: orNull(f.scienceFlux),
    scienceFluxErr: orNull(f.scienceFluxErr),
    midpointMjdTai: f.midpointMjdTai,
    band: filterName(f.band, `diaForcedSource ${f.diaForcedSourceId}`),
    sca: f.sca,
  };
}

export function diaObjectRecord(o: DiaObjectInput): DiaObjectRecord {
  const what = `diaObject ${o.diaObjectId}`;
  const record: DiaObjectRecord = {
    diaObjectId: o.diaObjectId,
    name: orNull(o.name),
    ra: o.ra,
    raErr: orNull(o.raErr),
    dec: o.dec,
    decErr: orNull(o.decErr),
    ra_dec_Cov: orNull(o.ra_dec_Cov),
    radecMjdTai: orNull(o.radecMjdTai),
    nDiaSources: o.nDiaSources,
    firstDiaSourceMjdTai: orNull(o.firstDiaSourceMjdTai),
    lastDiaSourceMjdTai: orNull(o.lastDiaSourceMjdTai),
    ...hpix(o.ra, o.dec, what),
  };
  for (const f of ROMAN_FILTERS) for (const stat of STAT_NAMES) record[`${f.name}_${stat}`] = null;
  for (const [band, stats] of Object.entries(o.fluxStats ?? {})) {
    const name = filterName(band, what);
    for (const stat of STAT_NAMES) record[`${name}_${stat}`] = orNull(stats[stat]);
  }
  return record;
}

/** Build and validate one alert packet (BadInputError naming the field that does not fit). */
export function buildPacket(input: PacketInput): AlertPacket {
  const prv = input.prvDiaSources ?? [];
  const forced = input.prvDiaForcedSources ?? [];
  const packet: AlertPacket = {
    alertId: input.alertId ?? input.diaSource.diaSourceId,
    schemaVersion: ALERT_SCHEMA_VERSION,
    diaSource: diaSourceRecord(input.diaSource),
    prvDiaSources: prv.length > 0 ? prv.map(diaSourceRecord) : null,
    prvDiaForcedSources: forced.length > 0 ? forced.map(forcedSourceRecord) : null,
    diaObject: input.diaObject ? diaObjectRecord(input.diaObject) : null,
    cutoutDifference: toBuffer(input.cutouts?.difference),
    cutoutScience: toBuffer(input.cutouts?.science),
    cutoutTemplate: toBuffer(input.cutouts?.template),
  };
  validateAlert(packet, `alert ${packet.alertId}`);
  return packet;
}

// ---- per-filter statistics --------------------------------------------------------------------

interface Moments {
  mean: number;
  meanErr: number;
  sigma: number | null;
  chi2: number;
  n: number;
  errMean: number;
}

/** Inverse-variance weighted mean and its error, sample σ, χ² about the mean; finite, err > 0 only. */
function moments(values: { flux: number; err: number }[]): Moments | undefined {
  const ok = values.filter((v) => Number.isFinite(v.flux) && Number.isFinite(v.err) && v.err > 0);
  const n = ok.length;
  if (n === 0) return undefined;
  let sw = 0;
  let swf = 0;
  let sumErr = 0;
  let sum = 0;
  for (const v of ok) {
    const w = 1 / (v.err * v.err);
    sw += w;
    swf += w * v.flux;
    sumErr += v.err;
    sum += v.flux;
  }
  const mean = swf / sw;
  const plain = sum / n;
  let chi2 = 0;
  let ss = 0;
  for (const v of ok) {
    chi2 += ((v.flux - mean) / v.err) ** 2;
    ss += (v.flux - plain) ** 2;
  }
  return {
    mean,
    meanErr: 1 / Math.sqrt(sw),
    sigma: n > 1 ? Math.sqrt(ss / (n - 1)) : null,
    chi2,
    n,
    errMean: sumErr / n,
  };
}

/**
 * The per-filter statistics of an object's light curve: PSF fluxes of its diaSources and forced
 * fluxes (psfFlux on the difference image) of its forced sources. Filters without data are left out.
 */
export function fluxStatistics(
  diaSources: readonly Pick<DiaSourceInput, 'band' | 'psfFlux' | 'psfFluxErr'>[],
  forcedSources: readonly Pick<ForcedSourceInput, 'band' | 'psfFlux' | 'psfFluxErr'>[] = [],
): Record<string, FilterFluxStats> {
  const group = (rows: readonly { band: string; psfFlux?: number | null; psfFluxErr?: number | null }[]) => {
    const by = new Map<string, { flux: number; err: number }[]>();
    for (const r of rows) {
      if (r.psfFlux == null || r.psfFluxErr == null) continue;
      const name = filterName(r.band, 'light curve');
      let list = by.get(name);
      if (!list) {
        list = [];
        by.set(name, list);
      }
      list.push({ flux: r.psfFlux, err: r.psfFluxErr });
    }
    return by;
  };
  const detections = group(diaSources);
  const forced = group(forcedSources);
  const out: Record<string, FilterFluxStats> = {};
  for (const f of ROMAN_FILTERS) {
    const d = moments(detections.get(f.name) ?? []);
    const p = moments(forced.get(f.name) ?? []);
    if (!d && !p) continue;
    out[f.name] = {
      psfFluxMean: d?.mean ?? null,
      psfFluxMeanErr: d?.meanErr ?? null,
      psfFluxSigma: d?.sigma ?? null,
      psfFluxChi2: d?.chi2 ?? null,
      psfFluxNdata: d?.n ?? null,
      psfFluxErrMean: d?.errMean ?? null,
      fpFluxMean: p?.mean ?? null,
      fpFluxMeanErr: p?.meanErr ?? null,
      fpFluxSigma: p?.sigma ?? null,
    };
  }
  return out;
}
