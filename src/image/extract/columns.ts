/**
 * The catalog columns: SourceExtractor's parameter names, descriptions, units and printf
 * formats (as `source-extractor -dp` and its ASCII output show them), the FITS type, and how
 * each value comes from a Source. Pixel coordinates become 1-based here.
 *
 * Additions of our own (not SourceExtractor parameters): SNR_PSF, FLAGS_PSF and ISDIFFPOS (the
 * sign a source was detected with, for difference images).
 */

import type { FluxMeasure, Measurements } from './photometry.ts';
import { magnitude, magnitudeError } from './photometry.ts';
import type { SkyPoint, Source } from './source.ts';

/** FITS type of a column: D double, E float, J 32-bit, I 16-bit integer (as SourceExtractor's FITS_1.0). */
export type ColumnType = 'D' | 'E' | 'J' | 'I';

/** Where a vector column takes its length from. */
export type VectorKind = 'aper' | 'fluxfrac';

/** What a column needs beyond the image. */
export type Requirement = 'wcs' | 'psf' | 'nnw';

export interface ColumnContext {
  zeropoint: number;
}

export interface ColumnDef {
  name: string;
  description: string;
  unit: string;
  /** printf format of one value, e.g. '%11.4f'. */
  format: string;
  type: ColumnType;
  vector?: VectorKind;
  requires?: Requirement;
  /** Element `i` (0 for scalars) of the value for source `s`. */
  get(s: Source, ctx: ColumnContext, i: number): number;
}

type Getter = (s: Source, ctx: ColumnContext, i: number) => number;

const defs: ColumnDef[] = [];

function col(
  name: string,
  description: string,
  unit: string,
  format: string,
  type: ColumnType,
  get: Getter,
  extra: { vector?: VectorKind; requires?: Requirement } = {},
): void {
  defs.push({ name, description, unit, format, type, get, ...extra });
}

/** Error ellipse (A, B, THETA) and (CXX, CYY, CXY) from error moments. */
function errorEllipse(x2: number, y2: number, xy: number) {
  let temp = x2 - y2;
  const theta = Math.abs(temp) > 0 ? Math.atan2(2 * xy, temp) / 2 : Math.PI / 4;
  temp = Math.sqrt(0.25 * temp * temp + xy * xy);
  const pm = 0.5 * (x2 + y2);
  const det = x2 * y2 - xy * xy;
  return {
    a: Math.sqrt(pm + temp),
    b: Math.sqrt(Math.max(0, pm - temp)),
    theta: (theta * 180) / Math.PI,
    cxx: y2 / det,
    cyy: x2 / det,
    cxy: (-2 * xy) / det,
  };
}

function fluxCols(
  suffix: string,
  label: string,
  get: (s: Source) => FluxMeasure,
  descr: [string, string, string, string],
): void {
  col(`FLUX_${suffix}`, descr[0], 'count', '%12.7g', 'E', (s) => get(s).flux);
  col(`FLUXERR_${suffix}`, descr[1], 'count', '%12.7g', 'E', (s) => get(s).error);
  col(`MAG_${suffix}`, descr[2], 'mag', '%8.4f', 'E', (s, c) => magnitude(get(s).flux, c.zeropoint));
  col(`MAGERR_${suffix}`, descr[3], 'mag', '%8.4f', 'E', (s) => magnitudeError(get(s).flux, get(s).error));
  void label;
}

const sky = (p: SkyPoint | undefined, k: 'ra' | 'dec') => (p ? p[k] : Number.NaN);

col('NUMBER', 'Running object number', '', '%10d', 'J', (s) => s.number);
fluxCols('ISO', 'iso', (s) => s.fluxIso, [
  'Isophotal flux',
  'RMS error for isophotal flux',
  'Isophotal magnitude',
  'RMS error for isophotal magnitude',
]);
fluxCols('ISOCOR', 'isocor', (s) => s.fluxIsocor, [
  'Corrected isophotal flux',
  'RMS error for corrected isophotal flux',
  'Corrected isophotal magnitude',
  'RMS error for corrected isophotal magnitude',
]);
col(
  'FLUX_APER',
  'Flux vector within fixed circular aperture(s)',
  'count',
  '%12.7g',
  'E',
  (s, _c, i) => s.fluxAper[i].flux,
  {
    vector: 'aper',
  },
);
col(
  'FLUXERR_APER',
  'RMS error vector for aperture flux(es)',
  'count',
  '%12.7g',
  'E',
  (s, _c, i) => s.fluxAper[i].error,
  {
    vector: 'aper',
  },
);
col(
  'MAG_APER',
  'Fixed aperture magnitude vector',
  'mag',
  '%8.4f',
  'E',
  (s, c, i) => magnitude(s.fluxAper[i].flux, c.zeropoint),
  {
    vector: 'aper',
  },
);
col(
  'MAGERR_APER',
  'RMS error vector for fixed aperture mag.',
  'mag',
  '%8.4f',
  'E',
  (s, _c, i) => magnitudeError(s.fluxAper[i].flux, s.fluxAper[i].error),
  { vector: 'aper' },
);
fluxCols('AUTO', 'auto', (s) => s.fluxAuto, [
  'Flux within a Kron-like elliptical aperture',
  'RMS error for AUTO flux',
  'Kron-like elliptical aperture magnitude',
  'RMS error for AUTO magnitude',
]);
fluxCols('PETRO', 'petro', (s) => s.fluxPetro, [
  'Flux within a Petrosian-like elliptical aperture',
  'RMS error for PETROsian flux',
  'Petrosian-like elliptical aperture magnitude',
  'RMS error for PETROsian magnitude',
]);
fluxCols('BEST', 'best', (s) => s.fluxBest, [
  'Best of FLUX_AUTO and FLUX_ISOCOR',
  'RMS error for BEST flux',
  'Best of MAG_AUTO and MAG_ISOCOR',
  'RMS error for MAG_BEST',
]);
fluxCols('WIN', 'win', (s) => ({ flux: s.win.flux, error: s.win.fluxErr }), [
  'Gaussian-weighted flux',
  'RMS error for WIN flux',
  'Gaussian-weighted magnitude',
  'RMS error for MAG_WIN',
]);
col('SNR_WIN', 'Gaussian-weighted SNR', '', '%10.4g', 'E', (s) => s.win.snr);
col('KRON_RADIUS', 'Kron apertures in units of A or B', '', '%5.2f', 'E', (s) => s.kronRadius);
col('PETRO_RADIUS', 'Petrosian apertures in units of A or B', '', '%5.2f', 'E', (s) => s.petroRadius);
col('BACKGROUND', 'Background at centroid position', 'count', '%12.7g', 'E', (s) => s.background);
col('THRESHOLD', 'Detection threshold above background', 'count', '%12.7g', 'E', (s) => s.threshold);
col('FLUX_MAX', 'Peak flux above background', 'count', '%12.7g', 'E', (s) => s.fluxMax);
col('ISOAREA_IMAGE', 'Isophotal area above Analysis threshold', 'pixel**2', '%9d', 'J', (s) => s.isoArea);
col(
  'ISOAREAF_IMAGE',
  'Isophotal area (filtered) above Detection threshold',
  'pixel**2',
  '%9d',
  'J',
  (s) => s.isoAreaF,
);
col('XMIN_IMAGE', 'Minimum x-coordinate among detected pixels', 'pixel', '%10d', 'J', (s) => s.xmin + 1);
col('YMIN_IMAGE', 'Minimum y-coordinate among detected pixels', 'pixel', '%10d', 'J', (s) => s.ymin + 1);
col('XMAX_IMAGE', 'Maximum x-coordinate among detected pixels', 'pixel', '%10d', 'J', (s) => s.xmax + 1);
col('YMAX_IMAGE', 'Maximum y-coordinate among detected pixels', 'pixel', '%10d', 'J', (s) => s.ymax + 1);
col('XPEAK_IMAGE', 'x-coordinate of the brightest pixel', 'pixel', '%10d', 'J', (s) => s.xpeak + 1);
col('YPEAK_IMAGE', 'y-coordinate of the brightest pixel', 'pixel', '%10d', 'J', (s) => s.ypeak + 1);
col('X_IMAGE', 'Object position along x', 'pixel', '%11.4f', 'E', (s) => s.x + 1);
col('Y_IMAGE', 'Object position along y', 'pixel', '%11.4f', 'E', (s) => s.y + 1);
col('X_IMAGE_DBL', 'Object position along x (double precision)', 'pixel', '%11.4f', 'D', (s) => s.x + 1);
col('Y_IMAGE_DBL', 'Object position along y (double precision)', 'pixel', '%11.4f', 'D', (s) => s.y + 1);
col('X_WORLD', 'Barycenter position along world x axis', 'deg', '%18.10e', 'D', (s) => sky(s.sky, 'ra'), {
  requires: 'wcs',
});
col('Y_WORLD', 'Barycenter position along world y axis', 'deg', '%18.10e', 'D', (s) => sky(s.sky, 'dec'), {
  requires: 'wcs',
});
col('ALPHA_SKY', 'Right ascension of barycenter (native)', 'deg', '%11.7f', 'D', (s) => sky(s.sky, 'ra'), {
  requires: 'wcs',
});
col('DELTA_SKY', 'Declination of barycenter (native)', 'deg', '%+11.7f', 'D', (s) => sky(s.sky, 'dec'), {
  requires: 'wcs',
});
col('ALPHA_J2000', 'Right ascension of barycenter (J2000)', 'deg', '%11.7f', 'D', (s) => sky(s.sky, 'ra'), {
  requires: 'wcs',
});
col('DELTA_J2000', 'Declination of barycenter (J2000)', 'deg', '%+11.7f', 'D', (s) => sky(s.sky, 'dec'), {
  requires: 'wcs',
});
col('X2_IMAGE', 'Variance along x', 'pixel**2', '%18.10e', 'D', (s) => s.x2);
col('Y2_IMAGE', 'Variance along y', 'pixel**2', '%18.10e', 'D', (s) => s.y2);
col('XY_IMAGE', 'Covariance between x and y', 'pixel**2', '%18.10e', 'D', (s) => s.xy);
col('CXX_IMAGE', 'Cxx object ellipse parameter', 'pixel**(-2)', '%15.7e', 'E', (s) => s.cxx);
col('CYY_IMAGE', 'Cyy object ellipse parameter', 'pixel**(-2)', '%15.7e', 'E', (s) => s.cyy);
col('CXY_IMAGE', 'Cxy object ellipse parameter', 'pixel**(-2)', '%15.7e', 'E', (s) => s.cxy);
col('A_IMAGE', 'Profile RMS along major axis', 'pixel', '%9.3f', 'E', (s) => s.a);
col('B_IMAGE', 'Profile RMS along minor axis', 'pixel', '%9.3f', 'E', (s) => s.b);
col('THETA_IMAGE', 'Position angle (CCW/x)', 'deg', '%6.2f', 'E', (s) => s.theta);
col('ERRX2_IMAGE', 'Variance of position along x', 'pixel**2', '%18.10e', 'D', (s) => s.errx2);
col('ERRY2_IMAGE', 'Variance of position along y', 'pixel**2', '%18.10e', 'D', (s) => s.erry2);
col('ERRXY_IMAGE', 'Covariance of position between x and y', 'pixel**2', '%18.10e', 'D', (s) => s.errxy);
col(
  'ERRCXX_IMAGE',
  'Cxx error ellipse parameter',
  'pixel**(-2)',
  '%12.7g',
  'E',
  (s) => errorEllipse(s.errx2, s.erry2, s.errxy).cxx,
);
col(
  'ERRCYY_IMAGE',
  'Cyy error ellipse parameter',
  'pixel**(-2)',
  '%12.7g',
  'E',
  (s) => errorEllipse(s.errx2, s.erry2, s.errxy).cyy,
);
col(
  'ERRCXY_IMAGE',
  'Cxy error ellipse parameter',
  'pixel**(-2)',
  '%12.7g',
  'E',
  (s) => errorEllipse(s.errx2, s.erry2, s.errxy).cxy,
);
col(
  'ERRA_IMAGE',
  'RMS position error along major axis',
  'pixel',
  '%9.5f',
  'E',
  (s) => errorEllipse(s.errx2, s.erry2, s.errxy).a,
);
col(
  'ERRB_IMAGE',
  'RMS position error along minor axis',
  'pixel',
  '%9.5f',
  'E',
  (s) => errorEllipse(s.errx2, s.erry2, s.errxy).b,
);
col(
  'ERRTHETA_IMAGE',
  'Error ellipse position angle (CCW/x)',
  'deg',
  '%6.2f',
  'E',
  (s) => errorEllipse(s.errx2, s.erry2, s.errxy).theta,
);
col('XWIN_IMAGE', 'Windowed position estimate along x', 'pixel', '%11.4f', 'D', (s) => s.win.x + 1);
col('YWIN_IMAGE', 'Windowed position estimate along y', 'pixel', '%11.4f', 'D', (s) => s.win.y + 1);
col('XWIN_WORLD', 'Windowed position along world x axis', 'deg', '%18.10e', 'D', (s) => sky(s.skyWin, 'ra'), {
  requires: 'wcs',
});
col(
  'YWIN_WORLD',
  'Windowed position along world y axis',
  'deg',
  '%18.10e',
  'D',
  (s) => sky(s.skyWin, 'dec'),
  { requires: 'wcs' },
);
col('ALPHAWIN_SKY', 'Windowed right ascension  (native)', 'deg', '%11.7f', 'D', (s) => sky(s.skyWin, 'ra'), {
  requires: 'wcs',
});
col('DELTAWIN_SKY', 'Windowed declination (native)', 'deg', '%+11.7f', 'D', (s) => sky(s.skyWin, 'dec'), {
  requires: 'wcs',
});
col('ALPHAWIN_J2000', 'Windowed right ascension (J2000)', 'deg', '%11.7f', 'D', (s) => sky(s.skyWin, 'ra'), {
  requires: 'wcs',
});
col('DELTAWIN_J2000', 'windowed declination (J2000)', 'deg', '%+11.7f', 'D', (s) => sky(s.skyWin, 'dec'), {
  requires: 'wcs',
});
col('X2WIN_IMAGE', 'Windowed variance along x', 'pixel**2', '%18.10e', 'D', (s) => s.win.x2);
col('Y2WIN_IMAGE', 'Windowed variance along y', 'pixel**2', '%18.10e', 'D', (s) => s.win.y2);
col('XYWIN_IMAGE', 'Windowed covariance between x and y', 'pixel**2', '%18.10e', 'D', (s) => s.win.xy);
col('CXXWIN_IMAGE', 'Windowed Cxx object ellipse parameter', 'pixel**(-2)', '%15.7e', 'E', (s) => s.win.cxx);
col('CYYWIN_IMAGE', 'Windowed Cyy object ellipse parameter', 'pixel**(-2)', '%15.7e', 'E', (s) => s.win.cyy);
col('CXYWIN_IMAGE', 'Windowed Cxy object ellipse parameter', 'pixel**(-2)', '%15.7e', 'E', (s) => s.win.cxy);
col('AWIN_IMAGE', 'Windowed profile RMS along major axis', 'pixel', '%9.3f', 'E', (s) => s.win.a);
col('BWIN_IMAGE', 'Windowed profile RMS along minor axis', 'pixel', '%9.3f', 'E', (s) => s.win.b);
col('THETAWIN_IMAGE', 'Windowed position angle (CCW/x)', 'deg', '%6.2f', 'E', (s) => s.win.theta);
col('ERRX2WIN_IMAGE', 'Variance of windowed pos along x', 'pixel**2', '%18.10e', 'D', (s) => s.win.errx2);
col('ERRY2WIN_IMAGE', 'Variance of windowed pos along y', 'pixel**2', '%18.10e', 'D', (s) => s.win.erry2);
col(
  'ERRXYWIN_IMAGE',
  'Covariance of windowed pos between x and y',
  'pixel**2',
  '%18.10e',
  'D',
  (s) => s.win.errxy,
);
col(
  'ERRCXXWIN_IMAGE',
  'Cxx windowed error ellipse parameter',
  'pixel**(-2)',
  '%12.7g',
  'E',
  (s) => errorEllipse(s.win.errx2, s.win.erry2, s.win.errxy).cxx,
);
col(
  'ERRCYYWIN_IMAGE',
  'Cyy windowed error ellipse parameter',
  'pixel**(-2)',
  '%12.7g',
  'E',
  (s) => errorEllipse(s.win.errx2, s.win.erry2, s.win.errxy).cyy,
);
col(
  'ERRCXYWIN_IMAGE',
  'Cxy windowed error ellipse parameter',
  'pixel**(-2)',
  '%12.7g',
  'E',
  (s) => errorEllipse(s.win.errx2, s.win.erry2, s.win.errxy).cxy,
);
col(
  'ERRAWIN_IMAGE',
  'RMS windowed pos error along major axis',
  'pixel',
  '%9.5f',
  'E',
  (s) => errorEllipse(s.win.errx2, s.win.erry2, s.win.errxy).a,
);
col(
  'ERRBWIN_IMAGE',
  'RMS windowed pos error along minor axis',
  'pixel',
  '%9.5f',
  'E',
  (s) => errorEllipse(s.win.errx2, s.win.erry2, s.win.errxy).b,
);
col(
  'ERRTHETAWIN_IMAGE',
  'Windowed error ellipse pos angle (CCW/x)',
  'deg',
  '%6.2f',
  'E',
  (s) => errorEllipse(s.win.errx2, s.win.erry2, s.win.errxy).theta,
);
col('NITER_WIN', 'Number of iterations for WIN centering', '', '%3d', 'I', (s) => s.win.niter);
col('FLAGS_WIN', 'Flags for WINdowed parameters', '', '%3d', 'I', (s) => s.win.winFlag);
for (let k = 0; k < 8; k++)
  col(`ISO${k}`, `Isophotal area at level ${k}`, 'pixel**2', '%8d', 'J', (s) => s.iso[k]);
col('FLAGS', 'Extraction flags', '', '%3d', 'I', (s) => s.flags);
col('FWHM_IMAGE', 'FWHM assuming a gaussian core', 'pixel', '%8.2f', 'E', (s) => s.fwhm);
col('ELONGATION', 'A_IMAGE/B_IMAGE', '', '%8.3f', 'E', (s) => s.a / s.b);
col('ELLIPTICITY', '1 - B_IMAGE/A_IMAGE', '', '%8.3f', 'E', (s) => 1 - s.b / s.a);
col(
  'POLAR_IMAGE',
  '(A_IMAGE^2 - B_IMAGE^2)/(A_IMAGE^2 + B_IMAGE^2)',
  '',
  '%7.5f',
  'E',
  (s) => (s.a * s.a - s.b * s.b) / (s.a * s.a + s.b * s.b),
);
col('CLASS_STAR', 'S/G classifier output', '', '%6.3f', 'E', (s) => s.classStar ?? Number.NaN, {
  requires: 'nnw',
});
col('FLUX_RADIUS', 'Fraction-of-light radii', 'pixel', '%10.3f', 'E', (s, _c, i) => s.fluxRadius[i], {
  vector: 'fluxfrac',
});
col(
  'XPSF_IMAGE',
  'X coordinate from PSF-fitting',
  'pixel',
  '%11.4f',
  'D',
  (s) => (s.psf ? s.psf.x + 1 : Number.NaN),
  { requires: 'psf' },
);
col(
  'YPSF_IMAGE',
  'Y coordinate from PSF-fitting',
  'pixel',
  '%11.4f',
  'D',
  (s) => (s.psf ? s.psf.y + 1 : Number.NaN),
  { requires: 'psf' },
);
col(
  'ALPHAPSF_J2000',
  'Right ascension of the fitted PSF (J2000)',
  'deg',
  '%11.7f',
  'D',
  (s) => sky(s.skyPsf, 'ra'),
  {
    requires: 'wcs',
  },
);
col(
  'DELTAPSF_J2000',
  'Declination of the fitted PSF (J2000)',
  'deg',
  '%+11.7f',
  'D',
  (s) => sky(s.skyPsf, 'dec'),
  {
    requires: 'wcs',
  },
);
col('FLUX_PSF', 'Flux from PSF-fitting', 'count', '%12.7g', 'E', (s) => s.psf?.flux ?? Number.NaN, {
  requires: 'psf',
});
col(
  'FLUXERR_PSF',
  'RMS flux error for PSF-fitting',
  'count',
  '%12.7g',
  'E',
  (s) => s.psf?.fluxErr ?? Number.NaN,
  { requires: 'psf' },
);
col(
  'MAG_PSF',
  'Magnitude from PSF-fitting',
  'mag',
  '%8.4f',
  'E',
  (s, c) => magnitude(s.psf?.flux ?? Number.NaN, c.zeropoint),
  {
    requires: 'psf',
  },
);
col(
  'MAGERR_PSF',
  'RMS magnitude error from PSF-fitting',
  'mag',
  '%8.4f',
  'E',
  (s) => magnitudeError(s.psf?.flux ?? Number.NaN, s.psf?.fluxErr ?? Number.NaN),
  { requires: 'psf' },
);
col(
  'SNR_PSF',
  'Signal-to-noise ratio of the PSF-fit flux',
  '',
  '%10.4g',
  'E',
  (s) => (s.psf ? s.psf.flux / s.psf.fluxErr : Number.NaN),
  {
    requires: 'psf',
  },
);
col('NITER_PSF', 'Number of iterations for PSF-fitting', '', '%3d', 'I', (s) => s.psf?.niter ?? 0, {
  requires: 'psf',
});
col('CHI2_PSF', 'Reduced chi2 from PSF-fitting', '', '%9.4g', 'E', (s) => s.psf?.chi2 ?? Number.NaN, {
  requires: 'psf',
});
col('FLAGS_PSF', 'PSF-fitting flags', '', '%3d', 'I', (s) => s.psf?.flag ?? 0, { requires: 'psf' });

// With negative detection (difference images): which sign the source was found with.
col('ISDIFFPOS', '1: brighter than the reference; 0: fainter', '', '%1d', 'I', (s) => (s.sign > 0 ? 1 : 0));

/** Every supported column, by name. */
export const COLUMNS: ReadonlyMap<string, ColumnDef> = new Map(defs.map((d) => [d.name, d]));

/** The measurements a list of columns needs (dependencies are added by extractSources). */
export function measurementsFor(names: Iterable<string>): Measurements {
  const m: Measurements = { aper: false, auto: false, petro: false, growth: false, windowed: false };
  for (const raw of names) {
    const n = raw.toUpperCase();
    if (/_APER$/.test(n)) m.aper = true;
    if (/_AUTO$|^KRON_RADIUS$|_BEST$/.test(n)) m.auto = true;
    if (/_PETRO$|^PETRO_RADIUS$/.test(n)) m.petro = true;
    if (n === 'FLUX_RADIUS') m.growth = true;
    if (/WIN/.test(n) || /PSF/.test(n)) m.windowed = true;
  }
  return m;
}

/** Is `name` a supported column? */
export function isColumn(name: string): boolean {
  return COLUMNS.has(name.toUpperCase());
}
