/**
 * A celestial World Coordinate System: pixel ↔ sky for a 2-D image (Greisen & Calabretta 2002;
 * Calabretta & Greisen 2002; SIP: Shupe et al. 2005; TPV: SCAMP/NOAO).
 *
 * Pixel coordinates are 0-based by default, as in astropy and numpy: the centre of the first
 * pixel is (0, 0). Pass `{ origin: 1 }` for the FITS convention, where it is (1, 1). Sky
 * coordinates are degrees, longitude in [0, 360).
 *
 * pixel → sky:  p − CRPIX → SIP → CD → TPV → deprojection → spherical rotation
 * sky → pixel:  the same stages backwards; SIP and TPV are inverted by Newton's method.
 *
 * Arrays are transformed in blocks through preallocated scratch buffers, one stage at a time,
 * so there is no per-point allocation and each stage is a tight loop over typed arrays. Input and
 * output arrays may be the same (e.g. `out: { ra: x, dec: y }`): each block is read before it is written.
 */
import { Header } from '../fits/header.ts';
import {
  type ReadWcsOptions,
  readWcsParameters,
  type WcsParameters,
  writeWcsParameters,
} from './keywords.ts';
import { horner1, UNROLLED_ORDER } from './polynomial.ts';
import { makeProjection, type Projection } from './projection.ts';
import { D2R, nativeToSky, R2D, rotationMatrix, skyToNative } from './rotation.ts';
import type { SipDistortion, SipInverseMode } from './sip.ts';
import type { TpvDistortion } from './tpv.ts';

/** 0: the first pixel's centre is (0, 0) (astropy, numpy). 1: it is (1, 1) (FITS, wcstools, ds9). */
export type PixelOrigin = 0 | 1;

export interface PixelOptions {
  /** Pixel coordinate convention; default 0. */
  origin?: PixelOrigin;
}

export interface SkyToPixelOptions extends PixelOptions {
  /** SIP inverse: 'iterate' (exact, default) or 'polynomial' (AP/BP as written). */
  sipInverse?: SipInverseMode;
}

export interface SkyPosition {
  /** Longitude (right ascension), degrees in [0, 360). */
  ra: number;
  /** Latitude (declination), degrees. */
  dec: number;
}

export interface PixelPosition {
  x: number;
  y: number;
}

export interface SkyArrays {
  ra: Float64Array;
  dec: Float64Array;
}

export interface PixelArrays {
  x: Float64Array;
  y: Float64Array;
}

/**
 * The local derivative of sky position with respect to pixel position, as offsets on the
 * tangent plane at that point: ξ towards east (increasing RA), η towards north; degrees per pixel.
 */
export interface Jacobian {
  dXiDx: number;
  dXiDy: number;
  dEtaDx: number;
  dEtaDy: number;
  /** dXiDx·dEtaDy − dXiDy·dEtaDx, deg²/px²; negative for the usual east-left, north-up parity. */
  determinant: number;
}

export interface PixelArea {
  /** Steradians. */
  sr: number;
  /** Square degrees. */
  deg2: number;
  /** Square arcseconds. */
  arcsec2: number;
}

export interface Footprint {
  /** Centres of the corner pixels, in astropy's order: (0, 0), (0, h−1), (w−1, h−1), (w−1, 0). */
  corners: [SkyPosition, SkyPosition, SkyPosition, SkyPosition];
  /** Outer corners of the image (pixel edges at −0.5 and w−0.5, h−0.5), same order. */
  edges: [SkyPosition, SkyPosition, SkyPosition, SkyPosition];
  /** The image centre, pixel ((w−1)/2, (h−1)/2). */
  centre: SkyPosition;
}

/** Points per block: large enough to amortise the per-stage calls, small enough for the cache. */
const BLOCK = 4096;

/**
 * Scratch buffers shared by every Wcs (a transform never calls out while using them, and each
 * worker thread has its own module instance), so that a WCS per image costs no buffer memory.
 */
const scratch = {
  s1: new Float64Array(BLOCK),
  s2: new Float64Array(BLOCK),
  n1: new Float64Array(BLOCK),
  n2: new Float64Array(BLOCK),
  n3: new Float64Array(BLOCK),
  one: [new Float64Array(1), new Float64Array(1), new Float64Array(1), new Float64Array(1)],
};

function checkOrigin(origin: number): void {
  if (origin !== 0 && origin !== 1) throw new RangeError(`pixel origin must be 0 or 1, got ${origin}`);
}

export class Wcs {
  /** Longitude and latitude axis names, e.g. ['RA', 'DEC']. */
  readonly axes: readonly [string, string];
  readonly projection: Projection;
  /** Reference pixel, FITS convention (1-based). */
  readonly crpix: readonly [number, number];
  /** Reference point: longitude, latitude in degrees. */
  readonly crval: readonly [number, number];
  /** CD matrix, degrees per pixel, row-major; row 1 is longitude. */
  readonly cd: readonly [number, number, number, number];
  readonly lonpole: number;
  readonly latpole: number;
  readonly sip?: SipDistortion;
  readonly tpv?: TpvDistortion;
  readonly radesys?: string;
  readonly equinox?: number;
  /** Image size from the header (NAXIS1, NAXIS2), when known. */
  readonly width?: number;
  readonly height?: number;

  private readonly cdInverse: readonly [number, number, number, number];
  private readonly rotation: Float64Array;
  /** Newton tolerance for inverting TPV, degrees: 10⁻¹⁰ px. */
  private readonly tpvTolerance: number;

  constructor(p: WcsParameters) {
    const numbers = [...p.crpix, ...p.crval, ...p.cd, p.lonpole ?? 0, p.latpole ?? 0];
    if (!numbers.every(Number.isFinite)) throw new RangeError('WCS parameters must be finite numbers');
    const det = p.cd[0] * p.cd[3] - p.cd[1] * p.cd[2];
    if (det === 0) throw new RangeError('the CD matrix is singular');
    if (p.crval[1] < -90 || p.crval[1] > 90)
      throw new RangeError(`reference latitude ${p.crval[1]} is outside ±90°`);
    this.axes = [p.axes[0], p.axes[1]];
    this.projection = makeProjection(p.projection, p.projectionParameters ?? []);
    this.crpix = [p.crpix[0], p.crpix[1]];
    this.crval = [p.crval[0], p.crval[1]];
    this.cd = [p.cd[0], p.cd[1], p.cd[2], p.cd[3]];
    this.cdInverse = [p.cd[3] / det, -p.cd[1] / det, -p.cd[2] / det, p.cd[0] / det];
    // Zenithal projections have their fiducial point at the native pole (θ0 = 90°), so the
    // celestial coordinates of the native pole are CRVAL itself and LATPOLE plays no part.
    this.lonpole = p.lonpole ?? (p.crval[1] >= 90 ? 0 : 180);
    this.latpole = p.latpole ?? 90;
    this.rotation = rotationMatrix(p.crval[0], p.crval[1], this.lonpole);
    this.sip = p.sip;
    this.tpv = p.tpv;
    this.tpvTolerance = 1e-10 * Math.sqrt(Math.abs(det));
    this.radesys = p.radesys;
    this.equinox = p.equinox;
    this.width = p.width;
    this.height = p.height;
  }

  /** The celestial WCS of a header. Throws BadInputError when there is none or it is unusable. */
  static fromHeader(header: Header, options: ReadWcsOptions = {}): Wcs {
    return new Wcs(readWcsParameters(header, options));
  }

  /** The parameters this WCS was built from, with LONPOLE and LATPOLE resolved. */
  get parameters(): WcsParameters & { lonpole: number; latpole: number } {
    return {
      axes: this.axes,
      projection: this.projection.code,
      projectionParameters: this.projection.parameters,
      crpix: this.crpix,
      crval: this.crval,
      cd: this.cd,
      lonpole: this.lonpole,
      latpole: this.latpole,
      sip: this.sip,
      tpv: this.tpv,
      radesys: this.radesys,
      equinox: this.equinox,
      width: this.width,
      height: this.height,
    };
  }

  // ---- pixel → sky --------------------------------------------------------------------

  /** Sky position of a pixel position. Outside the projection's domain: NaN. */
  pixelToSky(x: number, y: number, options?: PixelOptions): SkyPosition;
  /** Sky positions of pixel positions; `out` arrays (of at least the same length) are filled and returned. */
  pixelToSky(x: Float64Array, y: Float64Array, options?: PixelOptions & { out?: SkyArrays }): SkyArrays;
  pixelToSky(
    x: number | Float64Array,
    y: number | Float64Array,
    options: PixelOptions & { out?: SkyArrays } = {},
  ): SkyPosition | SkyArrays {
    const origin = options.origin ?? 0;
    checkOrigin(origin);
    if (typeof x === 'number' || typeof y === 'number') {
      const [px, py, ra, dec] = scratch.one;
      px[0] = x as number;
      py[0] = y as number;
      this.toSky(px, py, 1 - origin, ra, dec, 1);
      return { ra: ra[0], dec: dec[0] };
    }
    if (x.length !== y.length) throw new RangeError(`x and y differ in length: ${x.length} and ${y.length}`);
    const n = x.length;
    const out = options.out ?? { ra: new Float64Array(n), dec: new Float64Array(n) };
    if (out.ra.length < n || out.dec.length < n)
      throw new RangeError('output arrays are shorter than the input');
    this.toSky(x, y, 1 - origin, out.ra, out.dec, n);
    return out;
  }

  /**
   * Sky positions of every pixel centre of a width × height image, row by row (index
   * y·width + x, 0-based pixels). Faster than pixelToSky on a list: along a row the SIP
   * polynomials reduce to one-variable polynomials computed once per row.
   */
  pixelGridToSky(width: number, height: number, options: { out?: SkyArrays } = {}): SkyArrays {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
      throw new RangeError(`grid size must be whole numbers ≥ 0, got ${width} × ${height}`);
    }
    const n = width * height;
    const out = options.out ?? { ra: new Float64Array(n), dec: new Float64Array(n) };
    if (out.ra.length < n || out.dec.length < n)
      throw new RangeError('output arrays are shorter than the grid');
    const [c0, c1, c2, c3] = this.cd;
    const sip = this.sip;
    const oa = sip ? sip.a.order : 0;
    const ob = sip ? sip.b.order : 0;
    // Along a row the SIP polynomials are polynomials in u alone (Poly2.alongU), held in locals
    // when of order ≤ 5 so that each pixel costs two short straight-line Horner sums.
    const unrolled = oa <= UNROLLED_ORDER && ob <= UNROLLED_ORDER;
    const rowA = new Float64Array(Math.max(oa, UNROLLED_ORDER) + 1);
    const rowB = new Float64Array(Math.max(ob, UNROLLED_ORDER) + 1);
    const { s1, s2 } = scratch;
    // 0-based pixel x is FITS pixel x + 1.
    const du = 1 - this.crpix[0];
    for (let row = 0; row < height; row++) {
      const v = row + 1 - this.crpix[1];
      if (sip) {
        sip.a.alongU(v, rowA);
        sip.b.alongU(v, rowB);
      }
      const [a0, a1, a2, a3, a4, a5] = rowA;
      const [b0, b1, b2, b3, b4, b5] = rowB;
      for (let x0 = 0; x0 < width; x0 += BLOCK) {
        const count = Math.min(BLOCK, width - x0);
        for (let i = 0; i < count; i++) {
          const u = x0 + i + du;
          let U = u;
          let V = v;
          if (sip) {
            if (unrolled) {
              U += a0 + u * (a1 + u * (a2 + u * (a3 + u * (a4 + u * a5))));
              V += b0 + u * (b1 + u * (b2 + u * (b3 + u * (b4 + u * b5))));
            } else {
              U += horner1(rowA, oa, u);
              V += horner1(rowB, ob, u);
            }
          }
          s1[i] = c0 * U + c1 * V;
          s2[i] = c2 * U + c3 * V;
        }
        this.intermediateToSky(out.ra, out.dec, row * width + x0, count);
      }
    }
    return out;
  }

  private toSky(
    x: Float64Array,
    y: Float64Array,
    shift: number,
    ra: Float64Array,
    dec: Float64Array,
    n: number,
  ) {
    const [c0, c1, c2, c3] = this.cd;
    const ox = shift - this.crpix[0];
    const oy = shift - this.crpix[1];
    const { s1, s2 } = scratch;
    for (let start = 0; start < n; start += BLOCK) {
      const count = Math.min(BLOCK, n - start);
      for (let i = 0; i < count; i++) {
        s1[i] = x[start + i] + ox;
        s2[i] = y[start + i] + oy;
      }
      this.sip?.forward(s1, s2, count);
      for (let i = 0; i < count; i++) {
        const u = s1[i];
        const v = s2[i];
        s1[i] = c0 * u + c1 * v;
        s2[i] = c2 * u + c3 * v;
      }
      this.intermediateToSky(ra, dec, start, count);
    }
  }

  /** Intermediate world coordinates in the scratch s1, s2 → sky, written at `offset`. */
  private intermediateToSky(ra: Float64Array, dec: Float64Array, offset: number, count: number) {
    const { s1, s2, n1, n2, n3 } = scratch;
    this.tpv?.forward(s1, s2, count);
    this.projection.deproject(s1, s2, n1, n2, n3, count);
    nativeToSky(this.rotation, n1, n2, n3, ra, dec, count, offset);
  }

  // ---- sky → pixel --------------------------------------------------------------------

  /** Pixel position of a sky position; NaN when it cannot be projected or the distortion cannot be inverted. */
  skyToPixel(ra: number, dec: number, options?: SkyToPixelOptions): PixelPosition;
  /** Pixel positions of sky positions; `out` arrays are filled and returned. */
  skyToPixel(
    ra: Float64Array,
    dec: Float64Array,
    options?: SkyToPixelOptions & { out?: PixelArrays },
  ): PixelArrays;
  skyToPixel(
    ra: number | Float64Array,
    dec: number | Float64Array,
    options: SkyToPixelOptions & { out?: PixelArrays } = {},
  ): PixelPosition | PixelArrays {
    const origin = options.origin ?? 0;
    checkOrigin(origin);
    const mode = options.sipInverse ?? 'iterate';
    if (typeof ra === 'number' || typeof dec === 'number') {
      const [a, d, x, y] = scratch.one;
      a[0] = ra as number;
      d[0] = dec as number;
      this.toPixel(a, d, 1 - origin, x, y, 1, mode);
      return { x: x[0], y: y[0] };
    }
    if (ra.length !== dec.length)
      throw new RangeError(`ra and dec differ in length: ${ra.length} and ${dec.length}`);
    const n = ra.length;
    const out = options.out ?? { x: new Float64Array(n), y: new Float64Array(n) };
    if (out.x.length < n || out.y.length < n)
      throw new RangeError('output arrays are shorter than the input');
    this.toPixel(ra, dec, 1 - origin, out.x, out.y, n, mode);
    return out;
  }

  private toPixel(
    ra: Float64Array,
    dec: Float64Array,
    shift: number,
    x: Float64Array,
    y: Float64Array,
    n: number,
    mode: SipInverseMode,
  ) {
    const [i0, i1, i2, i3] = this.cdInverse;
    const ox = this.crpix[0] - shift;
    const oy = this.crpix[1] - shift;
    const { s1, s2, n1, n2, n3 } = scratch;
    for (let start = 0; start < n; start += BLOCK) {
      const count = Math.min(BLOCK, n - start);
      skyToNative(this.rotation, ra, dec, n1, n2, n3, count, start);
      this.projection.project(n1, n2, n3, s1, s2, count);
      this.tpv?.inverse(s1, s2, count, this.tpvTolerance);
      for (let i = 0; i < count; i++) {
        const X = s1[i];
        const Y = s2[i];
        s1[i] = i0 * X + i1 * Y;
        s2[i] = i2 * X + i3 * Y;
      }
      this.sip?.inverse(s1, s2, count, mode);
      for (let i = 0; i < count; i++) {
        x[start + i] = s1[i] + ox;
        y[start + i] = s2[i] + oy;
      }
    }
  }

  // ---- local geometry -----------------------------------------------------------------

  /**
   * The Jacobian at a pixel position, by central differences over ±0.5 px projected on the
   * tangent plane at the point (the error is of order 10⁻¹⁰ relative for smooth distortions).
   */
  jacobian(x: number, y: number, options: PixelOptions = {}): Jacobian {
    const h = 0.5;
    const c = this.pixelToSky(x, y, options);
    const [ax, ay] = standardCoordinates(c, this.pixelToSky(x + h, y, options));
    const [bx, by] = standardCoordinates(c, this.pixelToSky(x - h, y, options));
    const [cx, cy] = standardCoordinates(c, this.pixelToSky(x, y + h, options));
    const [dx, dy] = standardCoordinates(c, this.pixelToSky(x, y - h, options));
    const dXiDx = (ax - bx) / (2 * h);
    const dEtaDx = (ay - by) / (2 * h);
    const dXiDy = (cx - dx) / (2 * h);
    const dEtaDy = (cy - dy) / (2 * h);
    return { dXiDx, dXiDy, dEtaDx, dEtaDy, determinant: dXiDx * dEtaDy - dXiDy * dEtaDx };
  }

  /** Solid angle of one pixel at a pixel position (default: the image centre, or CRPIX). */
  pixelArea(x?: number, y?: number, options: PixelOptions = {}): PixelArea {
    const [px, py] = this.defaultPoint(x, y, options.origin ?? 0);
    const deg2 = Math.abs(this.jacobian(px, py, options).determinant);
    return { deg2, sr: deg2 * D2R * D2R, arcsec2: deg2 * 3600 * 3600 };
  }

  /** Pixel scale in arcsec per pixel (square root of the pixel area) at a pixel position. */
  pixelScale(x?: number, y?: number, options: PixelOptions = {}): number {
    return Math.sqrt(this.pixelArea(x, y, options).arcsec2);
  }

  private defaultPoint(x: number | undefined, y: number | undefined, origin: PixelOrigin): [number, number] {
    if (x !== undefined && y !== undefined) return [x, y];
    if (this.width !== undefined && this.height !== undefined) {
      return [(this.width - 1) / 2 + origin, (this.height - 1) / 2 + origin];
    }
    return [this.crpix[0] - 1 + origin, this.crpix[1] - 1 + origin];
  }

  // ---- the image on the sky -----------------------------------------------------------

  private size(width: number | undefined, height: number | undefined): [number, number] {
    const w = width ?? this.width;
    const h = height ?? this.height;
    if (w === undefined || h === undefined) {
      throw new RangeError('image size unknown: the header has no NAXIS1/NAXIS2; pass width and height');
    }
    return [w, h];
  }

  /** Corners and centre of a width × height image (default: the header's NAXIS1 × NAXIS2). */
  footprint(width?: number, height?: number): Footprint {
    const [w, h] = this.size(width, height);
    const at = (x: number, y: number) => this.pixelToSky(x, y);
    return {
      corners: [at(0, 0), at(0, h - 1), at(w - 1, h - 1), at(w - 1, 0)],
      edges: [at(-0.5, -0.5), at(-0.5, h - 0.5), at(w - 0.5, h - 0.5), at(w - 0.5, -0.5)],
      centre: at((w - 1) / 2, (h - 1) / 2),
    };
  }

  /**
   * Does a sky position land on a width × height image (default NAXIS1 × NAXIS2)? True when
   * its 0-based pixel position is within the outer pixel edges: −0.5 ≤ x < w − 0.5, likewise y.
   */
  contains(ra: number, dec: number, width?: number, height?: number): boolean {
    const [w, h] = this.size(width, height);
    const { x, y } = this.skyToPixel(ra, dec);
    return x >= -0.5 && x < w - 0.5 && y >= -0.5 && y < h - 0.5;
  }

  // ---- FITS header --------------------------------------------------------------------

  /** A new header holding this WCS (CD form; SIP and TPV included). */
  toHeader(): Header {
    return this.writeToHeader(new Header());
  }

  /** Write this WCS into a header, replacing the celestial WCS keywords it had; returns the header. */
  writeToHeader(header: Header): Header {
    return writeWcsParameters(this.parameters, header);
  }
}

/** Gnomonic standard coordinates (ξ east, η north; degrees) of p on the tangent plane at c. */
function standardCoordinates(c: SkyPosition, p: SkyPosition): [number, number] {
  const a0 = c.ra * D2R;
  const d0 = c.dec * D2R;
  const a = p.ra * D2R;
  const d = p.dec * D2R;
  const da = a - a0;
  const cosd = Math.cos(d);
  const den = Math.sin(d0) * Math.sin(d) + Math.cos(d0) * cosd * Math.cos(da);
  const xi = (cosd * Math.sin(da)) / den;
  const eta = (Math.cos(d0) * Math.sin(d) - Math.sin(d0) * cosd * Math.cos(da)) / den;
  return [xi * R2D, eta * R2D];
}
