/**
 * The difference-image catalog: SourceExtractor's columns measured on D, plus the columns of a
 * difference catalog (architecture.md): SCORR_PEAK, ISDIFFPOS, the nearest reference-image
 * source, and vetting flags.
 *
 * Vetting: a documented set of cuts, each a bit of VETFLAGS; a candidate passes when
 * VETFLAGS = 0.
 *   1  LOW_SNR       SNR_PSF below `minSnr`
 *   2  SHAPE         FWHM outside [minFwhmRatio, maxFwhmRatio] × the difference PSF's, or
 *                    ELONGATION above `maxElongation`
 *   4  SHARP         peak pixel / PSF-fit flux above `maxSharpness` × the PSF's (a residual
 *                    cosmic ray or hot pixel)
 *   8  DIPOLE        share of opposite-sign flux within 2 FWHM above `maxNegativeFraction`
 *                    (a misaligned star)
 *  16  BRIGHT_STAR   within `brightStarRadius` FWHM of a reference star brighter than
 *                    `brightStarSnr` (halo and residual artefacts)
 *  32  MASKED        touching masked pixels (saturation, bad pixels, cosmic rays, low
 *                    reference coverage) within 1 FWHM
 */
import {
  type CatalogColumn,
  formatAsciiCatalog,
  selectColumns,
  tableColumns,
} from '../image/extract/catalog.ts';
import type { ColumnContext, ColumnDef } from '../image/extract/columns.ts';
import type { ParamRequest } from '../image/extract/config.ts';
import type { Source } from '../image/extract/source.ts';
import type { StarFit } from '../image/psf/index.ts';
import type { PsfModel } from '../image/psf/model.ts';
import type { Wcs } from '../wcs/index.ts';

export const VetFlag = {
  LOW_SNR: 1,
  SHAPE: 2,
  SHARP: 4,
  DIPOLE: 8,
  BRIGHT_STAR: 16,
  MASKED: 32,
} as const;

export interface VettingConfig {
  minSnr: number;
  minFwhmRatio: number;
  maxFwhmRatio: number;
  maxElongation: number;
  maxSharpness: number;
  maxNegativeFraction: number;
  brightStarSnr: number;
  brightStarRadius: number;
}

export const DEFAULT_VETTING: VettingConfig = {
  minSnr: 5,
  minFwhmRatio: 0.5,
  maxFwhmRatio: 2.5,
  maxElongation: 2.5,
  maxSharpness: 1.6,
  maxNegativeFraction: 0.35,
  brightStarSnr: 300,
  brightStarRadius: 3,
};

export interface VettedSource extends Source {
  /** |Scorr| at its extreme near the source, with the source's sign. */
  scorrPeak: number;
  /** 1 brighter than the reference, 0 fainter. */
  isDiffPos: 0 | 1;
  /** Distance to the nearest reference-image source, pixels and arcsec; NaN when none within 20 px. */
  refDistance: number;
  refDistanceArcsec: number;
  /** That source's magnitude (reference zero point). */
  refMag: number;
  sharpness: number;
  negativeFraction: number;
  vetFlags: number;
}

/**
 * What a difference catalog is made from, whichever method made it (ZOGY: D, its σ, Scorr;
 * SFFT: the decorrelated difference, its σ, its matched filter over σ).
 */
export interface DifferenceImages {
  /** The difference in science units; NaN where masked. */
  difference: Float32Array;
  /** Its 1σ per pixel (background and source noise). */
  differenceUncertainty: Float32Array;
  /** The detection map, in units of its own σ (ZOGY's Scorr). */
  scoreCorr: Float32Array;
  /** Nonzero where the products are masked. */
  mask: Uint8Array;
  /** The difference image's PSF. */
  differencePsfModel: PsfModel;
  /** The difference's white-noise σ per pixel (science units): the PSF fit's weights. */
  whiteNoise: number;
}

export interface VetOptions {
  zeroPoint?: number;
  wcs?: Wcs;
  referenceStars: StarFit[];
  referenceZeroPoint?: number;
  fluxRatio: number;
  vetting: VettingConfig;
}

/** Add the difference-catalog measurements and vetting flags to extracted sources. */
export function vetSources(
  sources: Source[],
  z: DifferenceImages,
  mask: Uint8Array,
  width: number,
  height: number,
  o: VetOptions,
): VettedSource[] {
  const v = o.vetting;
  const psf = z.differencePsfModel;
  const pixelScale = o.wcs ? o.wcs.pixelScale(width / 2, height / 2) : Number.NaN;
  // The PSF's own sharpness and FWHM at the image centre.
  const centre = psf.stamp(Math.round(width / 2), Math.round(height / 2));
  let psfPeak = 0;
  for (const p of centre) psfPeak = Math.max(psfPeak, p);
  const psfFwhm = psf.fwhm(Math.round(width / 2), Math.round(height / 2));
  const refZp = o.referenceZeroPoint ?? o.zeroPoint ?? 0;
  return sources.map((s) => {
    const x = s.psf?.x ?? s.win?.x ?? s.x;
    const y = s.psf?.y ?? s.win?.y ?? s.y;
    const cx = Math.round(x);
    const cy = Math.round(y);
    // Scorr extreme and peak pixel of D (with the source's sign) in a 3×3 box.
    let scorrPeak = 0;
    let peak = 0;
    for (let j = cy - 1; j <= cy + 1; j++) {
      for (let i = cx - 1; i <= cx + 1; i++) {
        if (i < 0 || j < 0 || i >= width || j >= height) continue;
        const k = j * width + i;
        const sc = s.sign * z.scoreCorr[k];
        if (Number.isFinite(sc) && sc > scorrPeak) scorrPeak = sc;
        const d = s.sign * z.difference[k];
        if (Number.isFinite(d) && d > peak) peak = d;
      }
    }
    // Opposite-sign share of |D| within 2 FWHM, and masked pixels within 1 FWHM.
    const r2 = Math.max(2, 2 * psfFwhm);
    let pos = 0;
    let neg = 0;
    let masked = 0;
    for (let j = Math.floor(cy - r2); j <= Math.ceil(cy + r2); j++) {
      for (let i = Math.floor(cx - r2); i <= Math.ceil(cx + r2); i++) {
        if (i < 0 || j < 0 || i >= width || j >= height) continue;
        const dd = (i - x) ** 2 + (j - y) ** 2;
        if (dd > r2 * r2) continue;
        const k = j * width + i;
        if (mask[k] && dd <= psfFwhm * psfFwhm) masked |= mask[k];
        const d = s.sign * z.difference[k];
        if (!Number.isFinite(d)) continue;
        if (d > 0) pos += d;
        else neg -= d;
      }
    }
    const negativeFraction = pos + neg > 0 ? neg / (pos + neg) : 0;
    // The PSF-fit flux error with the full variance of D (background and source noise),
    // for the weights the fit used (uniform: background only).
    let fit = s.psf;
    if (fit && Number.isFinite(fit.flux)) {
      const stamp = psf.stamp(fit.x, fit.y);
      const n = psf.size;
      const h = (n - 1) / 2;
      const fx = Math.round(fit.x);
      const fy = Math.round(fit.y);
      let pp = 0;
      let ppv = 0;
      for (let j = 0; j < n; j++) {
        for (let i = 0; i < n; i++) {
          const xx = fx + i - h;
          const yy = fy + j - h;
          if (xx < 0 || yy < 0 || xx >= width || yy >= height) continue;
          const u = z.differenceUncertainty[yy * width + xx];
          if (!Number.isFinite(u)) continue;
          const p = stamp[j * n + i];
          pp += p * p;
          ppv += p * p * u * u;
        }
      }
      if (pp > 0) fit = { ...fit, fluxErr: Math.sqrt(ppv) / pp };
    }
    const flux = fit?.flux ?? Number.NaN;
    const snr = fit ? fit.flux / fit.fluxErr : Number.NaN;
    const sharpness = flux > 0 ? peak / flux / psfPeak : Number.NaN;
    // Nearest reference star.
    let refDistance = Number.NaN;
    let refMag = Number.NaN;
    let nearBright = false;
    for (const r of o.referenceStars) {
      const d = Math.hypot(r.x - x, r.y - y);
      if (d <= 20 && !(d >= refDistance)) {
        refDistance = d;
        refMag = refZp - 2.5 * Math.log10(r.flux);
      }
      if (r.snr >= v.brightStarSnr && d <= v.brightStarRadius * psfFwhm) nearBright = true;
    }
    let vetFlags = 0;
    if (!(snr >= v.minSnr)) vetFlags |= VetFlag.LOW_SNR;
    const fwhmRatio = s.fwhm / psfFwhm;
    if (!(fwhmRatio >= v.minFwhmRatio && fwhmRatio <= v.maxFwhmRatio) || s.a / s.b > v.maxElongation) {
      vetFlags |= VetFlag.SHAPE;
    }
    if (sharpness > v.maxSharpness) vetFlags |= VetFlag.SHARP;
    if (negativeFraction > v.maxNegativeFraction) vetFlags |= VetFlag.DIPOLE;
    if (nearBright) vetFlags |= VetFlag.BRIGHT_STAR;
    if (masked) vetFlags |= VetFlag.MASKED;
    return {
      ...s,
      psf: fit,
      scorrPeak: s.sign * scorrPeak,
      isDiffPos: s.sign > 0 ? 1 : 0,
      refDistance,
      refDistanceArcsec: refDistance * pixelScale,
      refMag,
      sharpness,
      negativeFraction,
      vetFlags,
      // A source touching masked pixels carries SourceExtractor's "bad photometry" bit too.
      flags: masked ? s.flags | 1 : s.flags,
    };
  });
}

type DiffGetter = (s: VettedSource) => number;

function diffColumn(
  name: string,
  description: string,
  unit: string,
  format: string,
  type: 'D' | 'E' | 'J' | 'I',
  get: DiffGetter,
): ColumnDef {
  return { name, description, unit, format, type, get: (s) => get(s as VettedSource) };
}

/** Columns of our own, after SourceExtractor's. */
export const DIFF_COLUMNS: ColumnDef[] = [
  diffColumn(
    'SCORR_PEAK',
    'Peak of Scorr at the source (signed, in sigma)',
    '',
    '%9.3f',
    'E',
    (s) => s.scorrPeak,
  ),
  diffColumn('ISDIFFPOS', '1: brighter than the reference; 0: fainter', '', '%1d', 'I', (s) => s.isDiffPos),
  diffColumn('DIST_REF', 'Distance to the nearest reference-image source', 'arcsec', '%9.4f', 'E', (s) =>
    Number.isFinite(s.refDistanceArcsec) ? s.refDistanceArcsec : s.refDistance,
  ),
  diffColumn(
    'DIST_REF_PIX',
    'Distance to the nearest reference-image source',
    'pixel',
    '%9.3f',
    'E',
    (s) => s.refDistance,
  ),
  diffColumn(
    'MAG_REF',
    'Magnitude of the nearest reference-image source',
    'mag',
    '%8.4f',
    'E',
    (s) => s.refMag,
  ),
  diffColumn('SHARPNESS', 'Peak/flux relative to the PSF', '', '%8.3f', 'E', (s) => s.sharpness),
  diffColumn(
    'NEG_FRACTION',
    'Share of opposite-sign flux within 2 FWHM',
    '',
    '%6.3f',
    'E',
    (s) => s.negativeFraction,
  ),
  diffColumn(
    'VETFLAGS',
    'Vetting cuts failed (0: a likely real candidate)',
    '',
    '%3d',
    'I',
    (s) => s.vetFlags,
  ),
];

/** SourceExtractor's columns of the difference catalog, in order. */
export const DIFF_PARAMS: ParamRequest[] = [
  'NUMBER',
  'X_IMAGE',
  'Y_IMAGE',
  'XWIN_IMAGE',
  'YWIN_IMAGE',
  'ALPHA_J2000',
  'DELTA_J2000',
  'FLUX_PSF',
  'FLUXERR_PSF',
  'MAG_PSF',
  'MAGERR_PSF',
  'SNR_PSF',
  'FLAGS_PSF',
  'FLUX_APER',
  'FLUXERR_APER',
  'FLUX_AUTO',
  'FLUXERR_AUTO',
  'FLUX_MAX',
  'A_IMAGE',
  'B_IMAGE',
  'THETA_IMAGE',
  'FWHM_IMAGE',
  'ELONGATION',
  'FLUX_RADIUS',
  'FLAGS',
  'XPSF_IMAGE',
  'YPSF_IMAGE',
  'ALPHAPSF_J2000',
  'DELTAPSF_J2000',
].map((name, line) => ({
  name,
  size: name === 'FLUX_APER' || name === 'FLUXERR_APER' ? 6 : undefined,
  line: line + 1,
}));

/** The catalog's columns: SourceExtractor's (those the WCS allows) then ours. */
export function diffCatalogColumns(hasWcs: boolean): CatalogColumn[] {
  const params = DIFF_PARAMS.filter(
    (p) => hasWcs || !['ALPHA_J2000', 'DELTA_J2000', 'ALPHAPSF_J2000', 'DELTAPSF_J2000'].includes(p.name),
  );
  const se = selectColumns(params, { aper: 6, fluxfrac: 1 });
  return [...se, ...DIFF_COLUMNS.map((def) => ({ def, size: 1, available: 1 }))];
}

export function formatDiffCatalog(
  sources: readonly VettedSource[],
  zeroPoint: number,
  hasWcs: boolean,
): string {
  const ctx: ColumnContext = { zeropoint: zeroPoint };
  return formatAsciiCatalog(diffCatalogColumns(hasWcs), sources, ctx);
}

export function diffCatalogTable(sources: readonly VettedSource[], zeroPoint: number, hasWcs: boolean) {
  const ctx: ColumnContext = { zeropoint: zeroPoint };
  return tableColumns(diffCatalogColumns(hasWcs), sources, ctx);
}
