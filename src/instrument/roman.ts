/**
 * The Roman Wide Field Instrument: filters and detector (facts.md, from GSFC's technical data and
 * GalSim's Roman module). Filters are named F062…F213 (F146) in our code; OpenUniverse's file
 * names and RAPID use R062, Z087, Y106, J129, H158, F184, K213 (W146). Both are accepted
 * everywhere; file names use OpenUniverse's.
 */
import { UsageError } from '../util/errors.ts';

export interface RomanFilter {
  /** Our name: F062 … F213, F146. */
  name: string;
  /** OpenUniverse's and RAPID's band name: R062 … K213, W146. */
  band: string;
  /** Centre wavelength, µm. */
  wavelength: number;
  /** PSF FWHM, arcsec. */
  fwhm: number;
  /** AB magnitude giving 1 e⁻/s. */
  zeropoint: number;
  /** Minimum zodiacal + thermal background, e⁻/pixel/s. */
  background: number;
  /** OpenUniverse's exposure time, s. */
  exptime: number;
}

export const ROMAN_FILTERS: readonly RomanFilter[] = [
  {
    name: 'F062',
    band: 'R062',
    wavelength: 0.62,
    fwhm: 0.058,
    zeropoint: 26.58,
    background: 0.25,
    exptime: 161.0,
  },
  {
    name: 'F087',
    band: 'Z087',
    wavelength: 0.869,
    fwhm: 0.073,
    zeropoint: 26.23,
    background: 0.25,
    exptime: 101.7,
  },
  {
    name: 'F106',
    band: 'Y106',
    wavelength: 1.06,
    fwhm: 0.087,
    zeropoint: 26.32,
    background: 0.28,
    exptime: 302.3,
  },
  {
    name: 'F129',
    band: 'J129',
    wavelength: 1.293,
    fwhm: 0.106,
    zeropoint: 26.32,
    background: 0.27,
    exptime: 302.3,
  },
  {
    name: 'F158',
    band: 'H158',
    wavelength: 1.577,
    fwhm: 0.128,
    zeropoint: 26.32,
    background: 0.29,
    exptime: 302.3,
  },
  {
    name: 'F184',
    band: 'F184',
    wavelength: 1.842,
    fwhm: 0.146,
    zeropoint: 25.85,
    background: 0.3,
    exptime: 901.2,
  },
  {
    name: 'F213',
    band: 'K213',
    wavelength: 2.125,
    fwhm: 0.169,
    zeropoint: 25.81,
    background: 4.5,
    exptime: 901.2,
  },
  {
    name: 'F146',
    band: 'W146',
    wavelength: 1.464,
    fwhm: 0.105,
    zeropoint: 27.54,
    background: 1.8,
    exptime: 302.3,
  },
];

/** The H4RG-10 detectors (SCAs). */
export const ROMAN_DETECTOR = {
  /** Active pixels per side. */
  size: 4088,
  /** Arcsec per pixel. */
  pixelScale: 0.11,
  /** e⁻ per DN. */
  gain: 1.0,
  /** e⁻ per read (effective, after up-the-ramp fitting). */
  readNoise: 8.5,
  /** e⁻ per second per pixel. */
  dark: 0.015,
  /** Full well, e⁻ (H4RG-10, about 100 000). */
  fullWell: 100_000,
  /** Number of detectors in the focal plane. */
  count: 18,
} as const;

/** Look up a filter by either spelling (F158 or H158), case-insensitive. */
export function romanFilter(name: string): RomanFilter {
  const n = name.trim().toUpperCase();
  const f = ROMAN_FILTERS.find((x) => x.name === n || x.band === n);
  if (!f) {
    const known = ROMAN_FILTERS.map((x) => `${x.name}/${x.band}`).join(', ');
    throw new UsageError(`unknown Roman filter '${name}'; known: ${known}`);
  }
  return f;
}

/** PSF FWHM of a filter in pixels. */
export function fwhmPixels(filter: RomanFilter): number {
  return filter.fwhm / ROMAN_DETECTOR.pixelScale;
}
