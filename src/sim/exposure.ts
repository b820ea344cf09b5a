/**
 * One simulated exposure from its plan: the detector model, the PSF, the header (with the
 * TAN-SIP WCS), and the sources placed on the detector with their fluxes at this epoch.
 */
import { Header } from '../fits/header.ts';
import { fwhmPixels, ROMAN_DETECTOR } from '../instrument/roman.ts';
import { type SkyPosition, tileNeighbours, tileOf } from '../sky/tiles.ts';
import { VERSION } from '../version.ts';
import type { Wcs } from '../wcs/index.ts';
import { relativeFlux } from './lightcurve.ts';
import type { PsfProfile } from './psf.ts';
import type { DetectorModel, PlacedSource } from './render.ts';
import { shapeOnDetector } from './render.ts';
import { magnitudeIn, type ObjectType, type SkyObject } from './sky.ts';
import type { ImagePlan } from './survey.ts';

export interface InstrumentOptions {
  psf: 'moffat' | 'airy';
  /** Optical FWHM in pixels at the detector centre, instead of the filter's (e.g. a well-sampled PSF). */
  psfFwhm?: number;
  /** Moffat β. */
  beta: number;
  /** Fractional growth of the PSF FWHM from the detector centre to its corners. */
  psfVariation: number;
  badPixelFraction: number;
  cosmicRate: number;
  noise: boolean;
  background: boolean;
}

export const DEFAULT_INSTRUMENT: InstrumentOptions = {
  psf: 'moffat',
  beta: 2.5,
  psfVariation: 0.03,
  badPixelFraction: 2e-4,
  cosmicRate: 20,
  noise: true,
  background: true,
};

/** One truth row (OpenUniverse's index file columns). */
export interface TruthRow {
  object_id: number;
  ra: number;
  dec: number;
  x: number;
  y: number;
  realized_flux: number;
  flux: number;
  mag: number;
  obj_type: ObjectType;
}

export function detectorModel(plan: ImagePlan, inst: InstrumentOptions): DetectorModel {
  return {
    width: plan.size,
    height: plan.size,
    exptime: plan.exptime,
    gain: ROMAN_DETECTOR.gain,
    readNoise: ROMAN_DETECTOR.readNoise,
    dark: ROMAN_DETECTOR.dark,
    background: plan.filter.background,
    saturation: ROMAN_DETECTOR.fullWell / ROMAN_DETECTOR.gain,
    badPixelFraction: inst.badPixelFraction,
    cosmicRate: inst.cosmicRate,
    sca: plan.sca,
  };
}

/** AB zero point of the image's units (DN over the exposure): mag = ZPTMAG − 2.5 log10(DN). */
export function zeroPoint(plan: ImagePlan): number {
  return plan.filter.zeropoint + 2.5 * Math.log10(plan.exptime / ROMAN_DETECTOR.gain);
}

/** PSF FWHM in pixels at the nominal scale of this exposure, before variation across the detector. */
export function nominalFwhm(plan: ImagePlan, inst: Pick<InstrumentOptions, 'psfFwhm'> = {}): number {
  return (inst.psfFwhm ?? fwhmPixels(plan.filter)) * plan.psfScale;
}

/**
 * PSF levels for variation across the detector: FWHM grows with the squared distance from the
 * centre; sources take the nearest of a few levels (steps of 0.5% in FWHM).
 */
export function psfLevels(plan: ImagePlan, inst: InstrumentOptions): PsfProfile[] {
  const steps = Math.max(1, Math.ceil(inst.psfVariation / 0.005) + 1);
  const out: PsfProfile[] = [];
  for (let k = 0; k < steps; k++) {
    const fwhm = nominalFwhm(plan, inst) * (1 + (steps === 1 ? 0 : (inst.psfVariation * k) / (steps - 1)));
    out.push(
      inst.psf === 'moffat'
        ? { kind: 'moffat', fwhm, beta: inst.beta }
        : { kind: 'airy', fwhm, obscuration: 0.3 },
    );
  }
  return out;
}

function psfLevelAt(x: number, y: number, size: number, levels: number): number {
  if (levels === 1) return 0;
  const c = (size - 1) / 2;
  const r2 = ((x - c) ** 2 + (y - c) ** 2) / (2 * c * c); // 0 at the centre, 1 at the corners
  return Math.min(levels - 1, Math.round(Math.min(1, r2) * (levels - 1)));
}

/** The exposure's header: WCS (TAN-SIP) and the keywords OpenUniverse's images carry. */
export function exposureHeader(plan: ImagePlan, inst: InstrumentOptions, seed: number): Header {
  const h = new Header();
  const c = (plan.size + 1) / 2; // FITS 1-based centre
  // WCSAXES first: the primary HDU has no data (NAXIS = 0) but carries the WCS, as OpenUniverse's.
  h.set('WCSAXES', 2, 'number of WCS axes');
  h.set('CTYPE1', 'RA---TAN-SIP', 'TAN projection with SIP distortion');
  h.set('CTYPE2', 'DEC--TAN-SIP', 'TAN projection with SIP distortion');
  h.set('CRPIX1', c, 'reference pixel (1-based)');
  h.set('CRPIX2', c, 'reference pixel (1-based)');
  h.set('CRVAL1', plan.centre.ra, '[deg] RA at the reference pixel');
  h.set('CRVAL2', plan.centre.dec, '[deg] Dec at the reference pixel');
  h.set('CD1_1', plan.cd[0]);
  h.set('CD1_2', plan.cd[1]);
  h.set('CD2_1', plan.cd[2]);
  h.set('CD2_2', plan.cd[3]);
  h.set('RADESYS', 'ICRS');
  h.set('A_ORDER', plan.sip.order);
  for (const [k, v] of Object.entries(plan.sip.a)) h.set(`A_${k}`, v);
  h.set('B_ORDER', plan.sip.order);
  for (const [k, v] of Object.entries(plan.sip.b)) h.set(`B_${k}`, v);
  h.set('DATE-OBS', plan.dateObs, 'UTC start of the exposure');
  h.set('MJD-OBS', plan.mjd, 'MJD (UTC) start of the exposure');
  h.set('MJD', plan.mjd, 'MJD (UTC) start of the exposure');
  h.set('EXPTIME', plan.exptime, '[s] exposure time');
  h.set('FILTER', plan.filter.band, 'Roman filter (OpenUniverse name)');
  h.set('FILTNAME', plan.filter.name, 'Roman filter (WFI name)');
  h.set('SCA_NUM', plan.sca, 'detector (SCA) number');
  h.set('POINTING', plan.pointing, 'pointing number');
  h.set('ZPTMAG', zeroPoint(plan), 'AB mag of 1 DN in this exposure');
  h.set('GAIN', ROMAN_DETECTOR.gain, '[e-/DN]');
  h.set('RDNOISE', ROMAN_DETECTOR.readNoise, '[e-] read noise');
  h.set('DARKCUR', ROMAN_DETECTOR.dark, '[e-/s] dark current');
  h.set('SATURATE', ROMAN_DETECTOR.fullWell / ROMAN_DETECTOR.gain, '[DN] saturation level');
  h.set('SKYRATE', plan.filter.background, '[e-/s/pix] model sky background');
  h.set('BUNIT', 'DN', 'data units (counts over the exposure)');
  h.set('PSF_FWHM', nominalFwhm(plan, inst), '[pix] optical PSF FWHM at the detector centre');
  h.set('PSFMODEL', inst.psf, 'simulated PSF profile');
  h.set('TILE', plan.tile, 'sky tile (HEALPix nested) of the pointing');
  h.set('SURVEPOC', plan.epoch, 'survey epoch number');
  h.set('SIMSEED', seed, 'simulator seed');
  h.set('SIMULATR', `rapid-ts ${VERSION}`, 'simulator');
  return h;
}

/** Tiles whose objects may fall on the exposure (its footprint plus a margin), from a grid of points. */
export function tilesUnder(wcs: Wcs, size: number, nside: number, margin: number): number[] {
  const tiles = new Set<number>();
  const n = 9;
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      const x = -margin + ((size - 1 + 2 * margin) * i) / (n - 1);
      const y = -margin + ((size - 1 + 2 * margin) * j) / (n - 1);
      const p = wcs.pixelToSky(x, y);
      tiles.add(tileOf(p.ra, p.dec, nside));
    }
  }
  // Neighbours close any gap between the sampled points.
  for (const t of [...tiles]) for (const nb of tileNeighbours(t, nside)) if (nb >= 0) tiles.add(nb);
  return [...tiles].sort((a, b) => a - b);
}

/** Objects in reach of the exposure, placed on the detector with their flux at this epoch. */
export function placeObjects(
  plan: ImagePlan,
  wcs: Wcs,
  objects: readonly SkyObject[],
  levels: number,
): { sources: PlacedSource[]; truth: (Omit<TruthRow, 'realized_flux'> & { source: number })[] } {
  const ra = Float64Array.from(objects, (o) => o.ra);
  const dec = Float64Array.from(objects, (o) => o.dec);
  const { x, y } = wcs.skyToPixel(ra, dec);
  const zp = zeroPoint(plan);
  const margin = 80;
  const sources: PlacedSource[] = [];
  const truth: (Omit<TruthRow, 'realized_flux'> & { source: number })[] = [];
  for (let i = 0; i < objects.length; i++) {
    const o = objects[i];
    if (!(x[i] > -margin && x[i] < plan.size + margin && y[i] > -margin && y[i] < plan.size + margin))
      continue;
    const base = magnitudeIn(o, plan.filter);
    const rel = o.lightCurve ? relativeFlux(o.lightCurve, plan.mjd) : 1;
    if (rel <= 0) continue;
    const flux = 10 ** (-0.4 * (base - zp)) * rel;
    const source = sources.length;
    sources.push({
      x: x[i],
      y: y[i],
      flux,
      shape: o.shape ? shapeOnDetector(o.shape, ROMAN_DETECTOR.pixelScale, plan.rotation) : undefined,
      psf: psfLevelAt(x[i], y[i], plan.size, levels),
    });
    // Truth lists objects whose centre is on the detector.
    if (x[i] >= -0.5 && x[i] < plan.size - 0.5 && y[i] >= -0.5 && y[i] < plan.size - 0.5) {
      truth.push({
        object_id: o.id,
        ra: o.ra,
        dec: o.dec,
        x: x[i],
        y: y[i],
        flux,
        mag: zp - 2.5 * Math.log10(flux),
        obj_type: o.type,
        source,
      });
    }
  }
  return { sources, truth };
}

export type { SkyPosition };
