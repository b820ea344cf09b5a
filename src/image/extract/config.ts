/**
 * SourceExtractor configuration: the `.sex` file (KEY value[,value…] lines), the `.param` file
 * (one output column per line, vectors as NAME(n)), the `.conv` detection filter and the `.nnw`
 * star/galaxy network. Text in, typed values out; reading the files is the caller's business.
 *
 * Every key SourceExtractor 2.25 knows is recognised. A key that changes the catalog is either
 * honoured or rejected with an error that names it (never silently ignored); keys that do not
 * change the catalog (VERBOSE_TYPE, NTHREADS, MEMORY_*, XML_*, …) are accepted. Errors are
 * ConfigError (exit 64: the user's configuration asks for something this tool does not do),
 * naming the file, line and key.
 */
import { ExitCode, RapidError } from '../../util/errors.ts';

/** A configuration that cannot be honoured: unknown or unsupported key or value, bad syntax. Exit 64. */
export class ConfigError extends RapidError {
  constructor(message: string) {
    super(message, ExitCode.USAGE);
    this.name = 'ConfigError';
  }
}

export type ThreshType = 'RELATIVE' | 'ABSOLUTE';
export type MaskType = 'NONE' | 'BLANK' | 'CORRECT';
export type WeightType = 'NONE' | 'BACKGROUND' | 'MAP_RMS' | 'MAP_VAR' | 'MAP_WEIGHT';
export type CatalogType = 'ASCII_HEAD' | 'ASCII' | 'FITS_1.0' | 'NONE';
export type CheckImageType =
  | 'NONE'
  | 'BACKGROUND'
  | 'BACKGROUND_RMS'
  | 'MINIBACKGROUND'
  | 'MINIBACK_RMS'
  | '-BACKGROUND'
  | 'FILTERED'
  | 'OBJECTS'
  | '-OBJECTS'
  | 'SEGMENTATION';

/** The resolved configuration, with SourceExtractor 2.25's defaults (`source-extractor -dd`). */
export interface ExtractConfig {
  /** CATALOG_NAME: output catalog (the command's --out wins). */
  catalogName: string;
  /** CATALOG_TYPE: ASCII_HEAD (default), ASCII (no header), FITS_1.0 (binary table), NONE. */
  catalogType: CatalogType;
  /** PARAMETERS_NAME: the .param file. */
  parametersName: string;
  /** DETECT_MINAREA: minimum number of (filtered) pixels above the detection threshold. */
  detectMinArea: number;
  /** DETECT_MAXAREA: maximum number of pixels (0: no limit). */
  detectMaxArea: number;
  /** THRESH_TYPE: RELATIVE (thresholds in units of the background RMS) or ABSOLUTE (image units). */
  threshType: ThreshType;
  /** DETECT_THRESH: detection threshold (σ for RELATIVE). */
  detectThresh: number;
  /** ANALYSIS_THRESH: threshold for isophotal analysis (ISOAREA, FWHM, CLASS_STAR). */
  analysisThresh: number;
  /** FILTER: filter the detection image before thresholding. */
  filter: boolean;
  /** FILTER_NAME: the .conv kernel. */
  filterName: string;
  /** DEBLEND_NTHRESH: number of deblending sub-thresholds (1: no deblending). */
  deblendNThresh: number;
  /** DEBLEND_MINCONT: minimum contrast (share of the total flux) for a branch to become an object. */
  deblendMinCont: number;
  /** CLEAN: remove spurious detections near bright objects. */
  clean: boolean;
  /** CLEAN_PARAM: the Moffat β of the cleaning profile ("efficiency"). */
  cleanParam: number;
  /** MASK_TYPE: treatment of neighbours' pixels in apertures: NONE, BLANK (zero) or CORRECT (mirror). */
  maskType: MaskType;
  /** WEIGHT_TYPE: NONE (global RMS), BACKGROUND (the background RMS map), MAP_RMS, MAP_VAR, MAP_WEIGHT. */
  weightType: WeightType;
  /** WEIGHT_IMAGE: the weight map for MAP_* (read by the caller). */
  weightImage: string;
  /** WEIGHT_GAIN: modulate the gain with the weights (SourceExtractor's default Y). */
  weightGain: boolean;
  /** PHOT_APERTURES: aperture diameters in pixels (FLUX_APER, one per diameter). */
  photApertures: number[];
  /** PHOT_AUTOPARAMS: Kron factor k and minimum radius (in units of A, B). */
  photAutoParams: [number, number];
  /** PHOT_PETROPARAMS: Petrosian factor and minimum radius. */
  photPetroParams: [number, number];
  /** PHOT_AUTOAPERS: minimum circular aperture diameters for the estimation and the measurement of AUTO/PETRO. */
  photAutoApers: [number, number];
  /** PHOT_FLUXFRAC: flux fractions for FLUX_RADIUS (of FLUX_AUTO). */
  photFluxFrac: number[];
  /** SATUR_LEVEL: saturation level in image units (the SATUR_KEY header keyword wins when present). */
  saturLevel: number;
  /** SATUR_KEY: header keyword with the saturation level. */
  saturKey: string;
  /** MAG_ZEROPOINT. */
  magZeropoint: number;
  /** GAIN in e⁻ per image unit, 0 for no Poisson term (the GAIN_KEY header keyword wins when present). */
  gain: number;
  /** GAIN_KEY: header keyword with the gain. */
  gainKey: string;
  /** PIXEL_SCALE in arcsec (0: from the WCS). Only CLASS_STAR uses it. */
  pixelScale: number;
  /** SEEING_FWHM in arcsec (CLASS_STAR). */
  seeingFwhm: number;
  /** STARNNW_NAME: the .nnw star/galaxy network (CLASS_STAR). */
  starNnwName: string;
  /** BACK_TYPE: AUTO (mesh background) or MANUAL (BACK_VALUE everywhere). */
  backType: 'AUTO' | 'MANUAL';
  /** BACK_VALUE for MANUAL. */
  backValue: number;
  /** BACK_SIZE: mesh size [width, height]. */
  backSize: [number, number];
  /** BACK_FILTERSIZE: median filter of the mesh map [width, height]. */
  backFilterSize: [number, number];
  /** BACK_FILTTHRESH. */
  backFiltThresh: number;
  /** BACKPHOTO_TYPE: GLOBAL only (LOCAL is rejected). */
  backPhotoType: 'GLOBAL';
  /** CHECKIMAGE_TYPE list (NONE: none). */
  checkImageType: CheckImageType[];
  /** CHECKIMAGE_NAME list, one per type. */
  checkImageName: string[];
  /** PSF_NAME (SourceExtractor's PSFEx model; the command's --psf wins). */
  psfName: string;
}

export const DEFAULT_CONFIG: Readonly<ExtractConfig> = Object.freeze({
  catalogName: 'test.cat',
  catalogType: 'ASCII_HEAD',
  parametersName: 'default.param',
  detectMinArea: 5,
  detectMaxArea: 0,
  threshType: 'RELATIVE',
  detectThresh: 1.5,
  analysisThresh: 1.5,
  filter: true,
  filterName: 'default.conv',
  deblendNThresh: 32,
  deblendMinCont: 0.005,
  clean: true,
  cleanParam: 1.0,
  maskType: 'CORRECT',
  weightType: 'NONE',
  weightImage: 'weight.fits',
  weightGain: true,
  photApertures: [5],
  photAutoParams: [2.5, 3.5],
  photPetroParams: [2.0, 3.5],
  photAutoApers: [0, 0],
  photFluxFrac: [0.5],
  saturLevel: 50000,
  saturKey: 'SATURATE',
  magZeropoint: 0,
  gain: 0,
  gainKey: 'GAIN',
  pixelScale: 1.0,
  seeingFwhm: 1.2,
  starNnwName: 'default.nnw',
  backType: 'AUTO',
  backValue: 0,
  backSize: [64, 64],
  backFilterSize: [3, 3],
  backFiltThresh: 0,
  backPhotoType: 'GLOBAL',
  checkImageType: ['NONE'],
  checkImageName: ['check.fits'],
  psfName: 'default.psf',
} satisfies ExtractConfig) as Readonly<ExtractConfig>;

/** A fresh mutable copy of the defaults. */
export function defaultConfig(): ExtractConfig {
  return structuredClone(DEFAULT_CONFIG) as ExtractConfig;
}

type Setter = (c: ExtractConfig, v: string[], where: string) => void;

function one(v: string[], key: string, where: string): string {
  if (v.length !== 1)
    throw new ConfigError(`${where}: ${key} takes one value, got ${v.length} (${v.join(',') || 'none'})`);
  return v[0];
}

function num(s: string, key: string, where: string): number {
  const x = Number(s);
  if (s.trim() === '' || !Number.isFinite(x))
    throw new ConfigError(`${where}: ${key} must be a number, got '${s}'`);
  return x;
}

function int(s: string, key: string, where: string, min = 0): number {
  const x = num(s, key, where);
  if (!Number.isInteger(x) || x < min)
    throw new ConfigError(`${where}: ${key} must be an integer ≥ ${min}, got '${s}'`);
  return x;
}

function bool(s: string, key: string, where: string): boolean {
  const u = s.toUpperCase();
  if (u === 'Y' || u === 'YES' || u === 'T' || u === 'TRUE') return true;
  if (u === 'N' || u === 'NO' || u === 'F' || u === 'FALSE') return false;
  throw new ConfigError(`${where}: ${key} must be Y or N, got '${s}'`);
}

function choice<T extends string>(
  s: string,
  key: string,
  where: string,
  allowed: readonly T[],
  known: readonly string[] = [],
): T {
  const u = s.toUpperCase();
  if ((allowed as readonly string[]).includes(u)) return u as T;
  if (known.includes(u)) {
    throw new ConfigError(`${where}: ${key} ${u} is not supported (supported: ${allowed.join(', ')})`);
  }
  throw new ConfigError(`${where}: ${key} must be one of ${[...allowed, ...known].join(', ')}, got '${s}'`);
}

function pair(v: string[], key: string, where: string, integer = false): [number, number] {
  if (v.length < 1 || v.length > 2)
    throw new ConfigError(`${where}: ${key} takes one or two values, got ${v.length}`);
  const a = integer ? int(v[0], key, where, 1) : num(v[0], key, where);
  const b = v.length > 1 ? (integer ? int(v[1], key, where, 1) : num(v[1], key, where)) : a;
  return [a, b];
}

/** A threshold: one number; the `<mag/arcsec²>,<ZP>` form is rejected by name. */
function threshold(v: string[], key: string, where: string): number {
  if (v.length === 2) {
    throw new ConfigError(
      `${where}: ${key} in surface brightness (<mu>,<ZP>) is not supported; give it in σ (RELATIVE) or image units (ABSOLUTE)`,
    );
  }
  return num(one(v, key, where), key, where);
}

/** Keys that do not change the catalog: accepted and ignored. */
const NO_EFFECT = new Set([
  'VERBOSE_TYPE',
  'NTHREADS',
  'MEMORY_OBJSTACK',
  'MEMORY_PIXSTACK',
  'MEMORY_BUFSIZE',
  'WRITE_XML',
  'XML_NAME',
  'XSL_URL',
  'HEADER_SUFFIX',
  'MAG_GAMMA',
  'RESCALE_WEIGHTS',
  'WEIGHT_THRESH',
  'FLAG_IMAGE',
  'FLAG_TYPE',
  'DGEO_IMAGE',
  'BACKPHOTO_THICK',
  'ASSOC_NAME',
  'ASSOC_DATA',
  'ASSOC_PARAMS',
  'ASSOCCOORD_TYPE',
  'ASSOC_RADIUS',
  'ASSOC_TYPE',
  'INTERP_MAXXLAG',
  'INTERP_MAXYLAG',
  'INTERP_TYPE',
  'PSF_NMAX',
  'PATTERN_TYPE',
  'SOM_NAME',
  'NNW_NAME',
]);

const SETTERS: Record<string, Setter> = {
  CATALOG_NAME: (c, v, w) => {
    c.catalogName = one(v, 'CATALOG_NAME', w);
  },
  CATALOG_TYPE: (c, v, w) => {
    c.catalogType = choice(
      one(v, 'CATALOG_TYPE', w),
      'CATALOG_TYPE',
      w,
      ['ASCII_HEAD', 'ASCII', 'FITS_1.0', 'NONE'] as const,
      ['ASCII_SKYCAT', 'ASCII_VOTABLE', 'FITS_LDAC', 'FITS_TPX'],
    );
  },
  PARAMETERS_NAME: (c, v, w) => {
    c.parametersName = one(v, 'PARAMETERS_NAME', w);
  },
  DETECT_TYPE: (_c, v, w) => {
    choice(one(v, 'DETECT_TYPE', w), 'DETECT_TYPE', w, ['CCD'] as const, ['PHOTO']);
  },
  DETECT_MINAREA: (c, v, w) => {
    c.detectMinArea = int(one(v, 'DETECT_MINAREA', w), 'DETECT_MINAREA', w, 1);
  },
  DETECT_MAXAREA: (c, v, w) => {
    c.detectMaxArea = int(one(v, 'DETECT_MAXAREA', w), 'DETECT_MAXAREA', w, 0);
  },
  THRESH_TYPE: (c, v, w) => {
    // SourceExtractor accepts one type for both thresholds, or two (detection, analysis).
    const types = v.map((s) => choice(s, 'THRESH_TYPE', w, ['RELATIVE', 'ABSOLUTE'] as const));
    if (types.length < 1 || types.length > 2)
      throw new ConfigError(`${w}: THRESH_TYPE takes one or two values`);
    if (types.length === 2 && types[0] !== types[1]) {
      throw new ConfigError(`${w}: THRESH_TYPE with different detection and analysis types is not supported`);
    }
    c.threshType = types[0];
  },
  DETECT_THRESH: (c, v, w) => {
    c.detectThresh = threshold(v, 'DETECT_THRESH', w);
  },
  ANALYSIS_THRESH: (c, v, w) => {
    c.analysisThresh = threshold(v, 'ANALYSIS_THRESH', w);
  },
  FILTER: (c, v, w) => {
    c.filter = bool(one(v, 'FILTER', w), 'FILTER', w);
  },
  FILTER_NAME: (c, v, w) => {
    c.filterName = one(v, 'FILTER_NAME', w);
  },
  FILTER_THRESH: (_c, v, w) => {
    if (v.length > 0)
      throw new ConfigError(`${w}: FILTER_THRESH (retina filtering) is not supported; leave it empty`);
  },
  DEBLEND_NTHRESH: (c, v, w) => {
    c.deblendNThresh = int(one(v, 'DEBLEND_NTHRESH', w), 'DEBLEND_NTHRESH', w, 1);
  },
  DEBLEND_MINCONT: (c, v, w) => {
    c.deblendMinCont = num(one(v, 'DEBLEND_MINCONT', w), 'DEBLEND_MINCONT', w);
    if (c.deblendMinCont < 0 || c.deblendMinCont > 1)
      throw new ConfigError(`${w}: DEBLEND_MINCONT must be in [0, 1]`);
  },
  CLEAN: (c, v, w) => {
    c.clean = bool(one(v, 'CLEAN', w), 'CLEAN', w);
  },
  CLEAN_PARAM: (c, v, w) => {
    c.cleanParam = num(one(v, 'CLEAN_PARAM', w), 'CLEAN_PARAM', w);
    if (!(c.cleanParam > 0)) throw new ConfigError(`${w}: CLEAN_PARAM must be > 0`);
  },
  MASK_TYPE: (c, v, w) => {
    c.maskType = choice(one(v, 'MASK_TYPE', w), 'MASK_TYPE', w, ['NONE', 'BLANK', 'CORRECT'] as const);
  },
  WEIGHT_TYPE: (c, v, w) => {
    if (v.length > 1)
      throw new ConfigError(
        `${w}: WEIGHT_TYPE with separate detection and measurement weights is not supported`,
      );
    c.weightType = choice(one(v, 'WEIGHT_TYPE', w), 'WEIGHT_TYPE', w, [
      'NONE',
      'BACKGROUND',
      'MAP_RMS',
      'MAP_VAR',
      'MAP_WEIGHT',
    ] as const);
  },
  WEIGHT_IMAGE: (c, v, w) => {
    c.weightImage = v.length > 0 ? one(v, 'WEIGHT_IMAGE', w) : '';
  },
  WEIGHT_GAIN: (c, v, w) => {
    c.weightGain = bool(one(v, 'WEIGHT_GAIN', w), 'WEIGHT_GAIN', w);
  },
  DGEO_TYPE: (_c, v, w) => {
    choice(one(v, 'DGEO_TYPE', w), 'DGEO_TYPE', w, ['NONE'] as const, ['PIXEL']);
  },
  PHOT_APERTURES: (c, v, w) => {
    if (v.length < 1 || v.length > 32) throw new ConfigError(`${w}: PHOT_APERTURES takes 1 to 32 diameters`);
    c.photApertures = v.map((s) => num(s, 'PHOT_APERTURES', w));
    if (c.photApertures.some((d) => !(d > 0)))
      throw new ConfigError(`${w}: PHOT_APERTURES diameters must be > 0`);
  },
  PHOT_AUTOPARAMS: (c, v, w) => {
    if (v.length !== 2)
      throw new ConfigError(`${w}: PHOT_AUTOPARAMS takes two values (<Kron_fact>,<min_radius>)`);
    c.photAutoParams = pair(v, 'PHOT_AUTOPARAMS', w);
  },
  PHOT_PETROPARAMS: (c, v, w) => {
    if (v.length !== 2)
      throw new ConfigError(`${w}: PHOT_PETROPARAMS takes two values (<Petrosian_fact>,<min_radius>)`);
    c.photPetroParams = pair(v, 'PHOT_PETROPARAMS', w);
  },
  PHOT_AUTOAPERS: (c, v, w) => {
    c.photAutoApers = pair(v, 'PHOT_AUTOAPERS', w);
  },
  PHOT_FLUXFRAC: (c, v, w) => {
    if (v.length < 1 || v.length > 32) throw new ConfigError(`${w}: PHOT_FLUXFRAC takes 1 to 32 fractions`);
    c.photFluxFrac = v.map((s) => num(s, 'PHOT_FLUXFRAC', w));
    if (c.photFluxFrac.some((f) => !(f > 0 && f <= 1)))
      throw new ConfigError(`${w}: PHOT_FLUXFRAC fractions must be in (0, 1]`);
  },
  SATUR_LEVEL: (c, v, w) => {
    c.saturLevel = num(one(v, 'SATUR_LEVEL', w), 'SATUR_LEVEL', w);
  },
  SATUR_KEY: (c, v, w) => {
    c.saturKey = v.length > 0 ? one(v, 'SATUR_KEY', w) : '';
  },
  MAG_ZEROPOINT: (c, v, w) => {
    c.magZeropoint = num(one(v, 'MAG_ZEROPOINT', w), 'MAG_ZEROPOINT', w);
  },
  GAIN: (c, v, w) => {
    c.gain = num(one(v, 'GAIN', w), 'GAIN', w);
    if (c.gain < 0) throw new ConfigError(`${w}: GAIN must be ≥ 0`);
  },
  GAIN_KEY: (c, v, w) => {
    c.gainKey = v.length > 0 ? one(v, 'GAIN_KEY', w) : '';
  },
  PIXEL_SCALE: (c, v, w) => {
    c.pixelScale = num(one(v, 'PIXEL_SCALE', w), 'PIXEL_SCALE', w);
  },
  SEEING_FWHM: (c, v, w) => {
    c.seeingFwhm = num(one(v, 'SEEING_FWHM', w), 'SEEING_FWHM', w);
  },
  STARNNW_NAME: (c, v, w) => {
    c.starNnwName = one(v, 'STARNNW_NAME', w);
  },
  BACK_TYPE: (c, v, w) => {
    if (v.length > 1)
      throw new ConfigError(`${w}: BACK_TYPE with separate detection and measurement types is not supported`);
    c.backType = choice(one(v, 'BACK_TYPE', w), 'BACK_TYPE', w, ['AUTO', 'MANUAL'] as const);
  },
  BACK_VALUE: (c, v, w) => {
    if (v.length > 1)
      throw new ConfigError(
        `${w}: BACK_VALUE with separate detection and measurement values is not supported`,
      );
    c.backValue = num(one(v, 'BACK_VALUE', w), 'BACK_VALUE', w);
  },
  BACK_SIZE: (c, v, w) => {
    c.backSize = pair(v, 'BACK_SIZE', w, true);
  },
  BACK_FILTERSIZE: (c, v, w) => {
    c.backFilterSize = pair(v, 'BACK_FILTERSIZE', w, true);
  },
  BACK_FILTTHRESH: (c, v, w) => {
    c.backFiltThresh = num(one(v, 'BACK_FILTTHRESH', w), 'BACK_FILTTHRESH', w);
  },
  BACKPHOTO_TYPE: (c, v, w) => {
    c.backPhotoType = choice(one(v, 'BACKPHOTO_TYPE', w), 'BACKPHOTO_TYPE', w, ['GLOBAL'] as const, [
      'LOCAL',
    ]);
  },
  CHECKIMAGE_TYPE: (c, v, w) => {
    if (v.length === 0)
      throw new ConfigError(`${w}: CHECKIMAGE_TYPE needs a value (NONE for no check-image)`);
    c.checkImageType = v.map((s) =>
      choice(
        s,
        'CHECKIMAGE_TYPE',
        w,
        [
          'NONE',
          'BACKGROUND',
          'BACKGROUND_RMS',
          'MINIBACKGROUND',
          'MINIBACK_RMS',
          '-BACKGROUND',
          'FILTERED',
          'OBJECTS',
          '-OBJECTS',
          'SEGMENTATION',
        ] as const,
        [
          'APERTURES',
          'IDENTICAL',
          'PATTERNS',
          'OTHER',
          'MAP_SOM',
          '-PSF_PROTOS',
          'PSF_PROTOS',
          '-PROFILES',
          'PROFILES',
        ],
      ),
    );
  },
  CHECKIMAGE_NAME: (c, v) => {
    c.checkImageName = v;
  },
  PSF_NAME: (c, v, w) => {
    c.psfName = v.length > 0 ? one(v, 'PSF_NAME', w) : '';
  },
  FITS_UNSIGNED: (_c, v, w) => {
    if (bool(one(v, 'FITS_UNSIGNED', w), 'FITS_UNSIGNED', w)) {
      throw new ConfigError(
        `${w}: FITS_UNSIGNED Y is not supported (pixels are read as the FITS header says)`,
      );
    }
  },
  ASSOCSELEC_TYPE: (_c, v, w) => {
    // Without ASSOC columns every object is kept whatever the selection type; with them we fail at the .param.
    if (v.length > 1) throw new ConfigError(`${w}: ASSOCSELEC_TYPE takes one value`);
  },
};

/** Split a value list as SourceExtractor does: commas and blanks separate values. */
function splitValues(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Strip a comment: '#' starts one, except inside quotes. */
function stripComment(line: string): string {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote) {
      if (ch === quote) quote = '';
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '#') return line.slice(0, i);
  }
  return line;
}

/** Every key the configuration knows (for messages and checks). */
export const KNOWN_KEYS: ReadonlySet<string> = new Set([...Object.keys(SETTERS), ...NO_EFFECT]);

/**
 * Apply one key: honoured, accepted without effect, or ConfigError naming it. `where` is for
 * messages (file:line).
 */
export function applyConfigKey(config: ExtractConfig, key: string, values: string[], where: string): void {
  const k = key.toUpperCase();
  const setter = SETTERS[k];
  if (setter) {
    setter(config, values, where);
    return;
  }
  if (NO_EFFECT.has(k)) return;
  // Quote only what looks like a key: a file that is not a configuration is not echoed.
  throw new ConfigError(
    /^[A-Z][A-Z0-9_]{0,39}$/.test(k)
      ? `${where}: unknown configuration key ${k} (not a SourceExtractor 2.25 key, or not supported here)`
      : `${where}: not a configuration line (expected KEY value); is this a SourceExtractor configuration file?`,
  );
}

/**
 * Parse a `.sex` file's text onto the defaults (or onto `base`). `file` names it in messages.
 * Then `overrides` (KEY → value text, as SourceExtractor's -KEY value) are applied.
 */
export function parseSexConfig(
  text: string,
  file = 'configuration',
  overrides: Record<string, string> = {},
  base: ExtractConfig = defaultConfig(),
): ExtractConfig {
  const config = structuredClone(base);
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = stripComment(raw).trim();
    if (line === '') return;
    const m = /^(\S+)\s*(.*)$/.exec(line);
    if (!m) return;
    const values = splitValues(m[2]).map((s) => s.replace(/^["']|["']$/g, ''));
    applyConfigKey(config, m[1], values, `${file}:${i + 1}`);
  });
  for (const [key, value] of Object.entries(overrides))
    applyConfigKey(config, key, splitValues(value), 'override');
  if (config.checkImageType.length > 1 && config.checkImageType.includes('NONE')) {
    throw new ConfigError(`${file}: CHECKIMAGE_TYPE NONE cannot be combined with other types`);
  }
  return config;
}

/** One requested output column: its name and, for a vector, the number of elements asked for. */
export interface ParamRequest {
  name: string;
  /** Elements requested with NAME(n); undefined for a plain name (a vector then takes its natural size). */
  size?: number;
  line: number;
}

/**
 * Parse a `.param` file: one parameter per line, `#` comments, vectors as NAME(n). Names are
 * checked against `known` (the column registry): an unknown name is a ConfigError naming it.
 */
export function parseParams(
  text: string,
  file = 'parameters',
  known?: (name: string) => boolean,
): ParamRequest[] {
  const out: ParamRequest[] = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    // SourceExtractor reads the first word of a line; anything after it is ignored.
    const word = line.split(/\s+/)[0];
    const m = /^([A-Za-z0-9_]+)(?:\((\d+)\))?$/.exec(word);
    if (!m) throw new ConfigError(`${file}:${i + 1}: '${word}' is not a parameter name (NAME or NAME(n))`);
    const name = m[1].toUpperCase();
    if (known && !known(name)) {
      throw new ConfigError(
        `${file}:${i + 1}: parameter ${name} is not supported (see 'rapid extract --list-params')`,
      );
    }
    if (seen.has(name)) throw new ConfigError(`${file}:${i + 1}: parameter ${name} is listed twice`);
    seen.add(name);
    const size = m[2] !== undefined ? Number(m[2]) : undefined;
    if (size !== undefined && size < 1)
      throw new ConfigError(`${file}:${i + 1}: ${name}(${m[2]}) must ask for at least one element`);
    out.push({ name, size, line: i + 1 });
  });
  if (out.length === 0) throw new ConfigError(`${file}: no parameters listed`);
  return out;
}

/** A detection filter: kernel values row by row (y outer), as read; `normalise` divides by Σ|k|. */
export interface FilterKernel {
  width: number;
  height: number;
  /** Row-major, normalised when the file says NORM (or nothing). */
  values: Float32Array;
}

/**
 * Parse a `.conv` file: a first line starting with CONV (NORM or NONORM), then rows of numbers;
 * '#' lines are comments. Normalised by the sum of absolute values, as SourceExtractor does.
 */
export function parseConv(text: string, file = 'filter'): FilterKernel {
  const lines = text.split(/\r?\n/);
  if (!/^CONV/.test(lines[0] ?? '')) {
    throw new ConfigError(
      `${file}: not a SourceExtractor convolution mask (the first line must start with CONV)`,
    );
  }
  const norm = !/NONORM/.test(lines[0]);
  const rows: number[][] = [];
  for (let i = 1; i < lines.length; i++) {
    const t = lines[i].trim();
    if (t === '' || t.startsWith('#')) continue;
    const row = t.split(/\s+/).map((s) => {
      const v = Number(s);
      if (!Number.isFinite(v)) throw new ConfigError(`${file}:${i + 1}: '${s}' is not a number`);
      return v;
    });
    rows.push(row);
  }
  if (rows.length === 0) throw new ConfigError(`${file}: the convolution mask is empty`);
  const width = Math.max(...rows.map((r) => r.length));
  if (rows.some((r) => r.length !== width))
    throw new ConfigError(`${file}: the convolution mask rows differ in length`);
  const values = new Float32Array(width * rows.length);
  rows.forEach((r, j) => {
    r.forEach((v, i) => {
      values[j * width + i] = v;
    });
  });
  if (norm) {
    let sum = 0;
    let sq = 0;
    for (const v of values) {
      sum += Math.abs(v);
      sq += v * v;
    }
    const s = sum > 0 ? sum : Math.sqrt(sq);
    if (s > 0) for (let i = 0; i < values.length; i++) values[i] /= s;
  }
  return { width, height: rows.length, values };
}

/** A SourceExtractor star/galaxy neural network (.nnw): layers of weights with input/output scaling. */
export interface NeuralNetwork {
  /** Neurons per layer (first: inputs, last: outputs). */
  layers: number[];
  inBias: number[];
  inScale: number[];
  /** weights[l][j][i]: from neuron i of layer l to neuron j of layer l + 1. */
  weights: number[][][];
  /** biases[l][j] of neuron j in layer l + 1. */
  biases: number[][];
  outBias: number[];
  outScale: number[];
}

/** Parse a `.nnw` file (first line NNW; then layer sizes, input bias and scale, weights, output bias and scale). */
export function parseNnw(text: string, file = 'network'): NeuralNetwork {
  const lines = text.split(/\r?\n/);
  if (!/^NNW/.test(lines[0] ?? ''))
    throw new ConfigError(`${file}: not a SourceExtractor network (the first line must be NNW)`);
  const data = lines
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split(/\s+/).map(Number));
  const bad = () => new ConfigError(`${file}: inconsistent network table`);
  let k = 0;
  const next = () => {
    if (k >= data.length) throw bad();
    return data[k++];
  };
  const head = next();
  const nl = head[0];
  const layers = head.slice(1, 1 + nl);
  if (layers.length !== nl || nl < 2) throw bad();
  const inBias = next().slice(0, layers[0]);
  const inScale = next().slice(0, layers[0]);
  const weights: number[][][] = [];
  const biases: number[][] = [];
  for (let l = 0; l < nl - 1; l++) {
    const wl: number[][] = [];
    const bl: number[] = [];
    for (let j = 0; j < layers[l + 1]; j++) {
      const row = next();
      if (row.length < layers[l] + 1) throw bad();
      wl.push(row.slice(0, layers[l]));
      bl.push(row[layers[l]]);
    }
    weights.push(wl);
    biases.push(bl);
  }
  const outBias = next().slice(0, layers[nl - 1]);
  const outScale = next().slice(0, layers[nl - 1]);
  const all = [inBias, inScale, outBias, outScale, ...biases, ...weights.flat()];
  if (all.some((a) => a.some((v) => !Number.isFinite(v)))) throw bad();
  return { layers, inBias, inScale, weights, biases, outBias, outScale };
}
