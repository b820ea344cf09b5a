/**
 * An exposure's metadata from its header: gain, zero point, saturation, exposure time, read
 * noise, filter and date, read by one table of keyword conventions per instrument family, so
 * that ingest, every command and the jobs see the same values for the same file.
 *
 * A value that is absent stays undefined; `sources` says which card (or derivation) each value
 * came from, so that a consumer can say what it assumed instead.
 */
import type { Header } from '../fits/header.ts';

export type InstrumentFamily = 'roman' | 'ztf' | 'decam' | 'jwst' | 'hst' | 'generic';

export type MetadataField = 'gain' | 'zeroPoint' | 'saturation' | 'exptime' | 'readNoise' | 'filter' | 'date';

export interface ExposureMetadata {
  family: InstrumentFamily;
  /** e⁻ per data unit. */
  gain?: number;
  /** AB magnitude of one data unit. */
  zeroPoint?: number;
  /** Saturation level, data units. */
  saturation?: number;
  /** Exposure time, s. */
  exptime?: number;
  /** Read noise, e⁻. */
  readNoise?: number;
  /** Filter as the header names it (first word: DECam's "i DECam SDSS c0003 …" is "i"). */
  filter?: string;
  /** Start of the exposure: ISO 8601 text as written (DATE-OBS with TIME-OBS when apart). */
  dateObs?: string;
  /** Modified Julian date of the start, when a card gives it. */
  mjd?: number;
  /** Where each value came from: a card's name, or a derivation ("PHOTFLAM, PHOTPLAM"). */
  sources: Partial<Record<MetadataField | 'mjd', string>>;
}

type Keys = Partial<Record<MetadataField | 'mjd', readonly string[]>>;

/** What every family falls back on: the common cards of survey pipelines and SourceExtractor. */
const GENERIC: Keys = {
  gain: ['GAIN', 'EGAIN', 'GAINEFF'],
  zeroPoint: ['ZPTMAG', 'MAGZP', 'MAGZPT', 'MAGZERO', 'ZP', 'ZEROPT'],
  saturation: ['SATURATE', 'SATLEVEL', 'SATURATN'],
  exptime: ['EXPTIME', 'EXPOSURE', 'EXP_TIME', 'XPOSURE'],
  readNoise: ['RDNOISE', 'READNOIS', 'READNOISE', 'RON'],
  filter: ['FILTER', 'FILTNAME', 'BAND', 'FILTER1'],
  date: ['DATE-OBS', 'DATE_OBS', 'DATE-BEG'],
  mjd: ['MJD-OBS', 'MJD_OBS', 'MJD', 'EXPSTART'],
};

/** Each family's own cards, tried before the generic ones. */
const CONVENTIONS: Record<InstrumentFamily, Keys> = {
  // OpenUniverse 2024 and our simulator: ZPTMAG, GAIN, SATURATE, FILTER, DATE-OBS, MJD-OBS.
  roman: { zeroPoint: ['ZPTMAG'] },
  // ZTF's science images: MAGZP, GAIN, SATURATE, READNOI, FILTER ('ZTF_r'), OBSMJD.
  ztf: { zeroPoint: ['MAGZP'], readNoise: ['READNOI'], mjd: ['OBSMJD'] },
  // DECam (community pipeline): MAGZERO or MAGZPT, GAIN (GAINA/GAINB per amplifier), SATURATE
  // (SATURATA/B), RDNOISE (RDNOISEA/B), FILTER 'i DECam SDSS c0003 …'.
  decam: {
    zeroPoint: ['MAGZERO', 'MAGZPT', 'MAGZP'],
    gain: ['GAIN', 'GAINA'],
    saturation: ['SATURATE', 'SATURATA'],
    readNoise: ['RDNOISE', 'RDNOISEA'],
  },
  // JWST level-2/3 products: MJy/sr (no gain: the zero point is derived from PIXAR_SR),
  // EFFEXPTM, DATE-OBS with TIME-OBS apart, EXPSTART (MJD).
  jwst: { exptime: ['EFFEXPTM', 'XPOSURE', 'EXPTIME'], mjd: ['EXPSTART', 'MJD-BEG'] },
  // HST: ATODGAIN (CCDGAIN is the gain setting), PHOTFLAM/PHOTPLAM for the zero point,
  // FILTER or FILTER1/FILTER2 (CLEAR* skipped), EXPSTART.
  hst: { gain: ['ATODGAIN', 'CCDGAIN'], filter: ['FILTER', 'FILTER1', 'FILTER2'], mjd: ['EXPSTART'] },
  generic: {},
};

const text = (h: Header, k: string): string | undefined => {
  const v = h.get(k);
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
};

/**
 * The instrument family a header belongs to, from TELESCOP, INSTRUME, ORIGIN and, for cutouts
 * that lost those, the filter's own name (DECam's 'i DECam SDSS …', ZTF's 'ZTF_r').
 */
export function instrumentFamily(h: Header): InstrumentFamily {
  const id = ['TELESCOP', 'INSTRUME', 'ORIGIN', 'FILTER']
    .map((k) => text(h, k)?.toUpperCase() ?? '')
    .join(' ');
  if (/\bJWST\b|NIRCAM|NIRISS|MIRI\b/.test(id)) return 'jwst';
  if (/\bHST\b|\bACS\b|WFC3|WFPC2/.test(id)) return 'hst';
  if (/\bDECAM\b|\bCTIO\b/.test(id)) return 'decam';
  if (/\bZTF|ZWICKY|\bP48\b/.test(id)) return 'ztf';
  if (/\bROMAN\b|\bWFI\b|OPENUNIVERSE|RAPID/.test(id) || h.has('SCA_NUM')) return 'roman';
  return 'generic';
}

/** The first finite number among `keys`, and the card it came from. */
function firstNumber(h: Header, keys: readonly string[] | undefined): [number, string] | undefined {
  for (const k of keys ?? []) {
    const v = h.get(k);
    const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v.trim()) : Number.NaN;
    if (Number.isFinite(n)) return [n, k];
  }
  return undefined;
}

function firstText(
  h: Header,
  keys: readonly string[] | undefined,
  skip?: RegExp,
): [string, string] | undefined {
  for (const k of keys ?? []) {
    const v = text(h, k);
    if (v !== undefined && !skip?.test(v)) return [v, k];
  }
  return undefined;
}

/** The exposure's metadata (see the module comment); pure, from the header alone. */
export function exposureMetadata(h: Header): ExposureMetadata {
  const family = instrumentFamily(h);
  const own = CONVENTIONS[family];
  const keys = (f: MetadataField | 'mjd') => [...(own[f] ?? []), ...(GENERIC[f] ?? [])];
  const m: ExposureMetadata = { family, sources: {} };
  for (const f of ['gain', 'zeroPoint', 'saturation', 'exptime', 'readNoise', 'mjd'] as const) {
    const v = firstNumber(h, keys(f));
    if (v) {
      m[f] = v[0];
      m.sources[f] = v[1];
    }
  }
  // Gains and saturation levels of zero or less mean "unknown" in many headers.
  for (const f of ['gain', 'saturation'] as const) {
    if (m[f] !== undefined && !((m[f] as number) > 0)) {
      delete m[f];
      delete m.sources[f];
    }
  }
  if (m.zeroPoint === undefined) derivedZeroPoint(h, m);
  const filter = firstText(h, keys('filter'), /^CLEAR/i);
  if (filter) {
    m.filter = filter[0].split(/\s+/)[0];
    m.sources.filter = filter[1];
  }
  const date = firstText(h, keys('date'));
  if (date) {
    const time = text(h, 'TIME-OBS');
    m.dateObs = !date[0].includes('T') && time ? `${date[0]}T${time}` : date[0];
    m.sources.date = !date[0].includes('T') && time ? `${date[1]}, TIME-OBS` : date[1];
  }
  return m;
}

/**
 * Zero points that headers give as a flux density per data unit: HST's PHOTFLAM (erg/s/cm²/Å
 * per e⁻/s at PHOTPLAM Å) and JWST's MJy/sr images with their pixel area PIXAR_SR.
 */
function derivedZeroPoint(h: Header, m: ExposureMetadata): void {
  const flam = h.optionalNumber('PHOTFLAM');
  const plam = h.optionalNumber('PHOTPLAM');
  if (flam !== undefined && plam !== undefined && flam > 0 && plam > 0) {
    m.zeroPoint = -2.5 * Math.log10(flam) - 5 * Math.log10(plam) - 2.408;
    m.sources.zeroPoint = 'PHOTFLAM, PHOTPLAM';
    return;
  }
  const pixar = h.optionalNumber('PIXAR_SR');
  const unit = text(h, 'BUNIT')?.toUpperCase().replace(/\s/g, '');
  if (pixar !== undefined && pixar > 0 && unit === 'MJY/SR') {
    // One MJy/sr over the pixel is 10⁶·PIXAR_SR Jy; AB magnitude 0 is 3631 Jy.
    m.zeroPoint = -2.5 * Math.log10((1e6 * pixar) / 3631);
    m.sources.zeroPoint = 'BUNIT MJy/sr, PIXAR_SR';
  }
}

/** The card names a field is looked for under in this header's family (for messages). */
export function metadataKeys(h: Header, field: MetadataField | 'mjd'): string[] {
  const own = CONVENTIONS[instrumentFamily(h)];
  return [...new Set([...(own[field] ?? []), ...(GENERIC[field] ?? [])])];
}

// ---- plausibility -----------------------------------------------------------------------------

/**
 * What a value must be to be registered (issue 17: a zero point of 2147483648 or an MJD of
 * 4294967296 is a broken header, not an exposure). Bounds are exclusive where a value of
 * exactly the bound is as impossible as beyond it.
 */
export const PLAUSIBLE = {
  /** AB magnitude of one data unit: 0 < zp < 50. */
  zeroPoint: { min: 0, max: 50 },
  /** e⁻ per data unit: 0 < gain < 10⁴. */
  gain: { min: 0, max: 1e4 },
  /** Seconds: 0 ≤ exptime ≤ 10⁸ (three years; deep coadds sum to 10⁶). */
  exptime: { min: 0, max: 1e8 },
  /** MJD 0 (1858-11-17) to 124593 (2200-01-01). */
  mjd: { min: 0, max: 124_593 },
  /** Days MJD-OBS and DATE-OBS may differ (mid-exposure times, long exposures). */
  mjdVsDate: 1,
} as const;

const LABELS: Record<'zeroPoint' | 'gain' | 'exptime' | 'mjd', string> = {
  zeroPoint: 'zero point',
  gain: 'gain',
  exptime: 'exposure time',
  mjd: 'MJD',
};

/**
 * What is impossible about an exposure's values (empty when nothing is): a zero point, gain,
 * exposure time or MJD out of PLAUSIBLE, a card of these whose number is not finite, and an MJD
 * that disagrees with the date (`dateMjd`: the MJD of DATE-OBS, when the header gives both).
 * Each problem is a short phrase naming the card, for one line of a message. Missing values
 * are not problems (the caller says what it assumes instead).
 */
export function checkExposureValues(
  m: Pick<ExposureMetadata, 'zeroPoint' | 'gain' | 'exptime' | 'mjd' | 'sources'>,
  options: { header?: Header; dateMjd?: number } = {},
): string[] {
  const problems: string[] = [];
  const named = (f: keyof typeof LABELS, v: number) => {
    const source = m.sources[f];
    return source === undefined
      ? `${LABELS[f]} ${v}`
      : /^[A-Z0-9_-]+$/.test(source)
        ? `${source} = ${v}`
        : `${LABELS[f]} ${v} (${source})`;
  };
  const { zeroPoint: zp, gain, exptime, mjd } = m;
  if (zp !== undefined && !(zp > PLAUSIBLE.zeroPoint.min && zp < PLAUSIBLE.zeroPoint.max))
    problems.push(`${named('zeroPoint', zp)} is not a plausible zero point (0 to 50 AB mag)`);
  if (gain !== undefined && !(gain > PLAUSIBLE.gain.min && gain < PLAUSIBLE.gain.max))
    problems.push(`${named('gain', gain)} is not a plausible gain (0 to 10000 e-/DN)`);
  if (exptime !== undefined && !(exptime >= PLAUSIBLE.exptime.min && exptime <= PLAUSIBLE.exptime.max))
    problems.push(`${named('exptime', exptime)} is not a plausible exposure time (0 to 1e8 s)`);
  if (mjd !== undefined && !(mjd >= PLAUSIBLE.mjd.min && mjd <= PLAUSIBLE.mjd.max)) {
    const jd =
      mjd > 2_400_000 && mjd - 2_400_000.5 <= PLAUSIBLE.mjd.max
        ? '; a Julian date? MJD = JD - 2400000.5'
        : '';
    problems.push(`${named('mjd', mjd)} is not a plausible MJD (0 to 124593: years 1858 to 2200${jd})`);
  } else if (
    mjd !== undefined &&
    options.dateMjd !== undefined &&
    Math.abs(mjd - options.dateMjd) > PLAUSIBLE.mjdVsDate
  ) {
    problems.push(
      `${named('mjd', mjd)} disagrees with the date (${m.sources.date ?? 'DATE-OBS'}: MJD ${options.dateMjd.toFixed(3)}) by more than a day`,
    );
  }
  // Cards whose numbers are not finite (1E999) or beyond 2^53 (read as bigint): exposureMetadata
  // skips them, which would register an assumed value for a broken header.
  const h = options.header;
  if (h) {
    for (const f of ['gain', 'zeroPoint', 'exptime', 'mjd'] as const) {
      for (const k of metadataKeys(h, f)) {
        const v = h.get(k);
        if (typeof v === 'number' && !Number.isFinite(v)) problems.push(`${k} = ${v} is not a finite number`);
        else if (typeof v === 'bigint') problems.push(`${k} = ${v} is not a plausible ${LABELS[f]}`);
      }
    }
  }
  return problems;
}
