/**
 * The celestial WCS keywords of a FITS header (Greisen & Calabretta 2002, "WCS Paper I";
 * Calabretta & Greisen 2002, "Paper II") read into plain parameters, and written back.
 *
 * Reading follows wcslib's precedence where headers carry more than one form: PCi_j (with
 * CDELTi) over CDi_j over CDELTi with CROTA2. Only the primary WCS (no alternate letter) of two
 * celestial axes is read. Writing always uses the CD form, which holds the same linear
 * transform in four numbers.
 */
import type { Header, HeaderSource, WarningSink } from '../fits/header.ts';
import { BadInputError } from '../util/errors.ts';
import { PROJECTION_CODES, type ProjectionCode } from './projection.ts';
import { SIP_KEYWORD, SipDistortion } from './sip.ts';
import { PV_KEYWORD, TpvDistortion } from './tpv.ts';

export interface WcsParameters {
  /** Names of the longitude and latitude axes as in CTYPE: ['RA', 'DEC'], ['GLON', 'GLAT'], … */
  axes: readonly [string, string];
  projection: ProjectionCode;
  /** PV2_m of the projection (SIN: ξ, η at 1, 2; ZPN: P_0…P_29); holes are defaults. */
  projectionParameters?: readonly (number | undefined)[];
  /** Reference pixel, FITS convention (1-based): CRPIX1, CRPIX2. */
  crpix: readonly [number, number];
  /** Longitude and latitude of the reference point, degrees. */
  crval: readonly [number, number];
  /** CD matrix (degrees per pixel), row-major [CD1_1, CD1_2, CD2_1, CD2_2]; row 1 is longitude. */
  cd: readonly [number, number, number, number];
  /** Native longitude of the celestial pole, degrees; default 180°, or 0° when CRVAL2 is +90°. */
  lonpole?: number;
  /** Native latitude of the celestial pole, degrees (unused by zenithal projections); default 90°. */
  latpole?: number;
  sip?: SipDistortion;
  tpv?: TpvDistortion;
  /** Reference frame and equinox, carried for writing back (no frame conversion is done). */
  radesys?: string;
  equinox?: number;
  /** Image size in pixels (NAXIS1, NAXIS2), when the header tells it. */
  width?: number;
  height?: number;
}

export interface ReadWcsOptions {
  /** Where the header comes from, for messages. */
  source?: HeaderSource;
  /** Receives a message for every non-standard usage that was worked around. */
  warn?: WarningSink;
}

const LONGITUDE = /^(RA|[A-Z]LON|[A-Z]{2}LN)$/;
const LATITUDE = /^(DEC|[A-Z]LAT|[A-Z]{2}LT)$/;
/** Latitude names that pair with a longitude name. */
function partner(lng: string): string {
  if (lng === 'RA') return 'DEC';
  if (lng.endsWith('LON')) return `${lng[0]}LAT`;
  return `${lng.slice(0, 2)}LT`;
}

/** Units CUNITi may give for celestial axes, in degrees. */
const UNIT_DEGREES: Record<string, number> = {
  deg: 1,
  arcmin: 1 / 60,
  arcsec: 1 / 3600,
  mas: 1 / 3600000,
  rad: 180 / Math.PI,
};

interface AxisType {
  name: string;
  code: string;
  suffix: string;
}

/** Split a CTYPE such as 'RA---TAN-SIP' into name, projection code and suffix. */
function splitCtype(ctype: string): AxisType {
  const text = ctype.trim().toUpperCase();
  const m = /^([A-Z0-9_]{1,4}?)-+([A-Z0-9]{3})(?:-(.*))?$/.exec(text);
  if (!m) return { name: text, code: '', suffix: '' };
  return { name: m[1], code: m[2], suffix: m[3] ?? '' };
}

function where(source: HeaderSource | undefined): string {
  if (!source) return '';
  const parts: string[] = [];
  if (source.file !== undefined) parts.push(source.file);
  if (source.hdu !== undefined) parts.push(`HDU ${source.hdu}`);
  return parts.length ? `${parts.join(', ')}: ` : '';
}

/**
 * Does the header describe two celestial axes (CTYPE1 and CTYPE2 a longitude/latitude pair)?
 * Says nothing about whether the projection is supported.
 */
export function hasCelestialAxes(header: Header): boolean {
  const c1 = header.optionalString('CTYPE1');
  const c2 = header.optionalString('CTYPE2');
  if (c1 === undefined || c2 === undefined) return false;
  const a = splitCtype(c1).name;
  const b = splitCtype(c2).name;
  return (LONGITUDE.test(a) && LATITUDE.test(b)) || (LATITUDE.test(a) && LONGITUDE.test(b));
}

/** Read the celestial WCS of a header. Throws BadInputError when there is none or it is unusable. */
export function readWcsParameters(header: Header, options: ReadWcsOptions = {}): WcsParameters {
  const at = where(options.source);
  const warn = options.warn ?? (() => {});
  const c1 = header.optionalString('CTYPE1');
  const c2 = header.optionalString('CTYPE2');
  if (c1 === undefined || c2 === undefined) {
    throw new BadInputError(
      `${at}no celestial WCS: the header has no ${c1 === undefined ? 'CTYPE1' : 'CTYPE2'}; a sky position needs CTYPE1/2 such as 'RA---TAN'/'DEC--TAN'`,
    );
  }
  if (!hasCelestialAxes(header)) {
    throw new BadInputError(
      `${at}no celestial WCS: CTYPE1 = '${c1}', CTYPE2 = '${c2}' are not a longitude/latitude pair (such as 'RA---TAN'/'DEC--TAN')`,
    );
  }
  const t1 = splitCtype(c1);
  const t2 = splitCtype(c2);
  // Axis 1 may be latitude (rare): keep world axes in longitude, latitude order.
  const swapped = LATITUDE.test(t1.name);
  const lngType = swapped ? t2 : t1;
  const latType = swapped ? t1 : t2;
  if (partner(lngType.name) !== latType.name) {
    throw new BadInputError(
      `${at}CTYPE1 = '${c1}' and CTYPE2 = '${c2}' are not of the same coordinate system`,
    );
  }
  if (t1.code !== t2.code || t1.suffix !== t2.suffix) {
    throw new BadInputError(`${at}CTYPE1 = '${c1}' and CTYPE2 = '${c2}' name different projections`);
  }
  if (t1.code === '') {
    throw new BadInputError(
      `${at}CTYPE1 = '${c1}' has no projection code (expected a form such as 'RA---TAN')`,
    );
  }
  const isTpv = t1.code === 'TPV';
  const code = (isTpv ? 'TAN' : t1.code) as ProjectionCode;
  if (!PROJECTION_CODES.includes(code)) {
    throw new BadInputError(
      `${at}projection '${t1.code}' (CTYPE1 = '${c1}') is not supported; supported: TAN, TAN-SIP, TPV, SIN, ZPN`,
    );
  }
  if (t1.suffix !== '' && t1.suffix !== 'SIP') {
    throw new BadInputError(
      `${at}CTYPE suffix '-${t1.suffix}' (CTYPE1 = '${c1}') is not supported; supported: -SIP`,
    );
  }
  if (isTpv && swapped) {
    throw new BadInputError(`${at}TPV with latitude on axis 1 is not supported`);
  }

  // Reference point and pixel: no sensible default for a celestial image, so both are required.
  for (const key of ['CRPIX1', 'CRPIX2', 'CRVAL1', 'CRVAL2']) {
    if (header.optionalNumber(key) === undefined) {
      throw new BadInputError(`${at}the celestial WCS is incomplete: ${key} is missing (CTYPE1 = '${c1}')`);
    }
  }
  const crpix: [number, number] = [header.number('CRPIX1'), header.number('CRPIX2')];
  const units = [1, 2].map((i) => {
    const u = header.optionalString(`CUNIT${i}`)?.trim();
    if (u === undefined || u === '') return 1;
    const f = UNIT_DEGREES[u] ?? UNIT_DEGREES[u.toLowerCase()];
    if (f === undefined)
      throw new BadInputError(`${at}CUNIT${i} = '${u}' is not an angle unit (deg, arcmin, arcsec, mas, rad)`);
    return f;
  });
  const crvalAxis = [header.number('CRVAL1') * units[0], header.number('CRVAL2') * units[1]];
  const m = linearTransform(header, at, warn);
  // Scale rows to degrees, then order world axes longitude first.
  const cdAxis = [m[0] * units[0], m[1] * units[0], m[2] * units[1], m[3] * units[1]];
  const cd: [number, number, number, number] = swapped
    ? [cdAxis[2], cdAxis[3], cdAxis[0], cdAxis[1]]
    : [cdAxis[0], cdAxis[1], cdAxis[2], cdAxis[3]];
  const crval: [number, number] = swapped ? [crvalAxis[1], crvalAxis[0]] : [crvalAxis[0], crvalAxis[1]];
  if (cd[0] * cd[3] - cd[1] * cd[2] === 0) {
    throw new BadInputError(
      `${at}the WCS linear transform (CD or PC×CDELT) is singular; the header is broken`,
    );
  }
  if (!(crval[1] >= -90 && crval[1] <= 90)) {
    throw new BadInputError(`${at}reference latitude CRVAL = ${crval[1]} is outside ±90°`);
  }

  // Projection parameters live on the latitude axis (PVj_m, j = latitude axis number).
  const latAxis = swapped ? 1 : 2;
  let projectionParameters: (number | undefined)[] | undefined;
  if (code === 'SIN' || code === 'ZPN') {
    const count = code === 'SIN' ? 3 : 30;
    projectionParameters = Array.from({ length: count }, (_, k) =>
      header.optionalNumber(`PV${latAxis}_${k}`),
    );
  }

  let tpv: TpvDistortion | undefined;
  if (isTpv) {
    tpv = TpvDistortion.fromHeader(header);
    if (!tpv) warn(`${at}CTYPE is TPV but there are no PV1_k/PV2_k coefficients; read as plain TAN`);
  } else if (code === 'TAN' && header.keys().some((k) => PV_KEYWORD.test(k))) {
    // TAN takes no parameters. PV cards here are usually a SCAMP distortion left under a plain
    // TAN (or beside SIP); wcslib would read PV1_1…4 as φ0, θ0, LONPOLE, LATPOLE instead.
    warn(`${at}PVi_m cards ignored: CTYPE is '${c1}', not TPV, and TAN takes no projection parameters`);
  }

  let sip = SipDistortion.fromHeader(header, (msg) => warn(`${at}${msg}`));
  if (sip && t1.suffix !== 'SIP') {
    warn(
      `${at}SIP coefficients present but CTYPE1 = '${c1}' has no -SIP suffix; applying them (as astropy does)`,
    );
  }
  if (!sip && t1.suffix === 'SIP') {
    warn(`${at}CTYPE1 = '${c1}' says SIP but there are no A_ORDER/B_ORDER; no distortion applied`);
    sip = undefined;
  }

  const lonpole = header.optionalNumber('LONPOLE');
  const latpole = header.optionalNumber('LATPOLE');
  const radesys = header.optionalString('RADESYS') ?? header.optionalString('RADECSYS');
  const equinox = header.optionalNumber('EQUINOX') ?? header.optionalNumber('EPOCH');
  const compressed = header.get('ZIMAGE') === true;
  const width = header.optionalNumber(compressed ? 'ZNAXIS1' : 'NAXIS1');
  const height = header.optionalNumber(compressed ? 'ZNAXIS2' : 'NAXIS2');
  const naxis = header.optionalNumber(compressed ? 'ZNAXIS' : 'NAXIS');
  const sized = naxis === undefined || naxis >= 2;

  return {
    axes: [lngType.name, latType.name],
    projection: code,
    projectionParameters,
    crpix,
    crval,
    cd,
    lonpole,
    latpole,
    sip,
    tpv,
    radesys: radesys?.trim() || undefined,
    equinox,
    width: sized && width !== undefined && width > 0 ? width : undefined,
    height: sized && height !== undefined && height > 0 ? height : undefined,
  };
}

/** The linear transform as a CD matrix in header axis order and CUNIT units. */
function linearTransform(header: Header, at: string, warn: WarningSink): [number, number, number, number] {
  const keys = header.keys();
  const hasPc = keys.some((k) => /^PC[12]_[12]$/.test(k) || /^PC00[12]00[12]$/.test(k));
  const hasCd = keys.some((k) => /^CD[12]_[12]$/.test(k));
  const cdelt1 = header.optionalNumber('CDELT1');
  const cdelt2 = header.optionalNumber('CDELT2');
  if (hasPc) {
    if (hasCd) warn(`${at}both PCi_j and CDi_j present; using PCi_j with CDELTi (as wcslib does)`);
    const pc = (i: number, j: number) =>
      header.optionalNumber(`PC${i}_${j}`) ?? header.optionalNumber(`PC00${i}00${j}`) ?? (i === j ? 1 : 0);
    const s1 = cdelt1 ?? 1;
    const s2 = cdelt2 ?? 1;
    return [s1 * pc(1, 1), s1 * pc(1, 2), s2 * pc(2, 1), s2 * pc(2, 2)];
  }
  if (hasCd) {
    const cd = (i: number, j: number) => header.optionalNumber(`CD${i}_${j}`) ?? 0;
    return [cd(1, 1), cd(1, 2), cd(2, 1), cd(2, 2)];
  }
  if (cdelt1 === undefined || cdelt2 === undefined) {
    throw new BadInputError(
      `${at}the celestial WCS has no scale: neither CDi_j nor CDELT1/CDELT2 (with optional PCi_j or CROTA2) is present`,
    );
  }
  // Legacy AIPS rotation (Paper II, eq. 188): the latitude axis's CROTA.
  const rho = (header.optionalNumber('CROTA2') ?? header.optionalNumber('CROTA1') ?? 0) * (Math.PI / 180);
  const c = Math.cos(rho);
  const s = Math.sin(rho);
  return [cdelt1 * c, -cdelt2 * s, cdelt1 * s, cdelt2 * c];
}

/** Every keyword this module reads for the primary celestial WCS, so that writing replaces them all. */
function isWcsKeyword(key: string): boolean {
  return (
    /^(CTYPE|CRPIX|CRVAL|CDELT|CROTA|CUNIT)[12]$/.test(key) ||
    /^(PC|CD)[12]_[12]$/.test(key) ||
    /^PC00[12]00[12]$/.test(key) ||
    key === 'LONPOLE' ||
    key === 'LATPOLE' ||
    PV_KEYWORD.test(key) ||
    SIP_KEYWORD.test(key)
  );
}

/**
 * Write the parameters into a header, replacing any celestial WCS keywords it had. The CD form
 * is used; LONPOLE and LATPOLE are written with their resolved values.
 */
export function writeWcsParameters(
  p: WcsParameters & { lonpole: number; latpole: number },
  header: Header,
): Header {
  for (const key of new Set(header.keys())) if (isWcsKeyword(key)) header.delete(key);
  if (!header.has('WCSAXES')) header.set('WCSAXES', 2, 'number of WCS axes');
  const code = p.tpv ? 'TPV' : p.projection;
  const suffix = p.sip ? '-SIP' : '';
  const ctype = (name: string) => `${name.padEnd(4, '-')}-${code}${suffix}`;
  header.set('CTYPE1', ctype(p.axes[0]), `${p.axes[0]}, ${describe(code, p.sip !== undefined)}`);
  header.set('CTYPE2', ctype(p.axes[1]), `${p.axes[1]}, ${describe(code, p.sip !== undefined)}`);
  header.set('CRPIX1', p.crpix[0], 'reference pixel, axis 1 (1-based)');
  header.set('CRPIX2', p.crpix[1], 'reference pixel, axis 2 (1-based)');
  header.set('CRVAL1', p.crval[0], '[deg] longitude at the reference pixel');
  header.set('CRVAL2', p.crval[1], '[deg] latitude at the reference pixel');
  header.set('CUNIT1', 'deg', 'unit of CRVAL1 and CD1_j');
  header.set('CUNIT2', 'deg', 'unit of CRVAL2 and CD2_j');
  header.set('CD1_1', p.cd[0], '[deg/px] linear transform');
  header.set('CD1_2', p.cd[1], '[deg/px] linear transform');
  header.set('CD2_1', p.cd[2], '[deg/px] linear transform');
  header.set('CD2_2', p.cd[3], '[deg/px] linear transform');
  header.set('LONPOLE', p.lonpole, '[deg] native longitude of the celestial pole');
  header.set('LATPOLE', p.latpole, '[deg] native latitude of the celestial pole');
  if (p.radesys !== undefined) header.set('RADESYS', p.radesys, 'reference frame');
  if (p.equinox !== undefined) header.set('EQUINOX', p.equinox, '[yr] equinox of the coordinates');
  (p.projectionParameters ?? []).forEach((v, m) => {
    if (v !== undefined) header.set(`PV2_${m}`, v, `${p.projection} projection parameter ${m}`);
  });
  p.tpv?.writeToHeader(header);
  p.sip?.writeToHeader(header);
  return header;
}

function describe(code: string, sip: boolean): string {
  const name: Record<string, string> = {
    TAN: 'gnomonic projection',
    TPV: 'gnomonic projection with TPV distortion',
    SIN: 'orthographic projection',
    ZPN: 'zenithal polynomial projection',
  };
  return `${name[code] ?? code}${sip ? ' with SIP distortion' : ''}`;
}
