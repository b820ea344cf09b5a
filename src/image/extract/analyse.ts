/**
 * Isophotal analysis of one object's footprint, as SourceExtractor does it:
 *
 * - `preanalyse` (detection image): bounds, Σ and peak of the filtered values, the barycentre
 *   and second moments weighted by the filtered values, the ellipse (A, B, THETA, CXX…), the
 *   isophotal area correction used by deblending and cleaning. For a deblended object the
 *   barycentre of its core is kept and the moments are taken about it (ANALYSE_ROBUST).
 * - `examineIso` (measurement image): FLUX_ISO and its variance, FLUX_MAX, ISOAREA above the
 *   analysis threshold, the peak position, positional errors, the cleaning threshold, the
 *   isophotal areas for CLASS_STAR; `measureFwhm`: FWHM_IMAGE (a Gaussian fitted to the
 *   log-profile).
 */
import { Flag } from './flags.ts';
import { analysisThresholdAt, measVarianceAt, type Planes, type SourceObject } from './object.ts';

/** Number of isophotal levels (CLASS_STAR inputs). */
export const NISO = 8;

/** Bounds, filtered flux and peak only (what deblending needs first). */
export function preanalyseFast(obj: SourceObject, planes: Planes): void {
  const { width, filt, det } = planes;
  const px = obj.pixels;
  let xmin = Number.POSITIVE_INFINITY;
  let xmax = -1;
  let ymin = Number.POSITIVE_INFINITY;
  let ymax = -1;
  let fdflux = 0;
  let fdpeak = Number.NEGATIVE_INFINITY;
  let dpeak = Number.NEGATIVE_INFINITY;
  for (let k = 0; k < px.length; k++) {
    const p = px[k];
    const y = (p / width) | 0;
    const x = p - y * width;
    if (x < xmin) xmin = x;
    if (x > xmax) xmax = x;
    if (y < ymin) ymin = y;
    if (y > ymax) ymax = y;
    const c = filt[p];
    fdflux += c;
    if (c > fdpeak) fdpeak = c;
    const d = det[p];
    if (d > dpeak) dpeak = d;
  }
  obj.xmin = xmin;
  obj.xmax = xmax;
  obj.ymin = ymin;
  obj.ymax = ymax;
  obj.fdnpix = px.length;
  obj.fdflux = fdflux;
  obj.fdpeak = fdpeak;
  obj.dpeak = dpeak;
}

/**
 * Full pre-analysis: moments of the filtered detection values. With `robust` and a deblended
 * (MERGED) object, the barycentre stays where the core's analysis put it.
 */
export function preanalyse(obj: SourceObject, planes: Planes, robust: boolean): void {
  preanalyseFast(obj, planes);
  const { width, filt, det } = planes;
  const px = obj.pixels;
  const thresh = obj.dthresh;
  const xmin = obj.xmin;
  const ymin = obj.ymin;
  const peak = obj.dpeak;
  const thresh2 = (thresh + peak) / 2;
  let mx = 0;
  let my = 0;
  let mx2 = 0;
  let my2 = 0;
  let mxy = 0;
  let tv = 0;
  let dnpix = 0;
  let area2 = 0;
  for (let k = 0; k < px.length; k++) {
    const p = px[k];
    const yy = (p / width) | 0;
    const x = p - yy * width - xmin;
    const y = yy - ymin;
    const c = filt[p];
    const v = det[p];
    tv += v;
    if (v > thresh) dnpix++;
    if (v > thresh2) area2++;
    mx += c * x;
    my += c * y;
    mx2 += c * x * x;
    my2 += c * y * y;
    mxy += c * x * y;
  }
  const rv = obj.fdflux;
  let xm = mx / rv;
  let ym = my / rv;
  let xm2: number;
  let ym2: number;
  let xym: number;
  if (robust && obj.flag & Flag.MERGED) {
    const xn = obj.mx - xmin;
    const yn = obj.my - ymin;
    xm2 = mx2 / rv + xn * xn - 2 * xm * xn;
    ym2 = my2 / rv + yn * yn - 2 * ym * yn;
    xym = mxy / rv + xn * yn - xm * yn - xn * ym;
    xm = xn;
    ym = yn;
  } else {
    xm2 = mx2 / rv - xm * xm;
    ym2 = my2 / rv - ym * ym;
    xym = mxy / rv - xm * ym;
  }
  let temp2 = xm2 * ym2 - xym * xym;
  if (temp2 < 0.00694) {
    // Fully correlated x and y (a line, or a single pixel): add a pixel's own variance.
    xm2 += 0.0833333;
    ym2 += 0.0833333;
    temp2 = xm2 * ym2 - xym * xym;
    obj.singular = true;
  } else {
    obj.singular = false;
  }
  let temp = xm2 - ym2;
  const theta = Math.abs(temp) > 0 ? Math.atan2(2 * xym, temp) / 2 : Math.PI / 4;
  temp = Math.sqrt(0.25 * temp * temp + xym * xym);
  const pm = 0.5 * (xm2 + ym2);
  obj.dnpix = dnpix;
  obj.dflux = tv;
  obj.mx = xm + xmin;
  obj.my = ym + ymin;
  obj.mx2 = xm2;
  obj.my2 = ym2;
  obj.mxy = xym;
  obj.a = Math.fround(Math.sqrt(pm + temp));
  obj.b = Math.fround(Math.sqrt(Math.max(0, pm - temp)));
  obj.theta = (theta * 180) / Math.PI;
  obj.cxx = Math.fround(ym2 / temp2);
  obj.cyy = Math.fround(xm2 / temp2);
  obj.cxy = Math.fround((-2 * xym) / temp2);
  const darea = area2 - dnpix;
  const t1t2 = thresh / thresh2;
  if (t1t2 > 0 && planes.detNoise.kind === 'global') {
    obj.abcor = (darea < 0 ? darea : -1) / (2 * Math.PI * Math.log(t1t2 < 1 ? t1t2 : 0.99) * obj.a * obj.b);
    if (obj.abcor > 1) obj.abcor = 1;
  } else {
    obj.abcor = 1;
  }
}

/**
 * Isophotal measurements in the measurement image (SourceExtractor's examineiso). `minArea`
 * is DETECT_MINAREA; `clean` asks for the cleaning threshold.
 */
export function examineIso(obj: SourceObject, planes: Planes, minArea: number, clean: boolean): void {
  const { width, meas, filt, detThreshMap } = planes;
  const px = obj.pixels;
  const measMap = planes.measNoise.kind === 'map';
  const gain = planes.gain;
  let tv = 0;
  let sigtv = 0;
  let peak = Number.NEGATIVE_INFINITY;
  let cdpeak = Number.NEGATIVE_INFINITY;
  let area = 0;
  let minthresh = Number.POSITIVE_INFINITY;
  let esum = 0;
  let emx2 = 0;
  let emy2 = 0;
  let emxy = 0;
  const dn = planes.detNoise;
  const dsig2 = dn.sigma * dn.sigma;
  const detGain = planes.detGain;
  const xm = obj.mx;
  const ym = obj.my;
  const globalThresh = analysisThresholdAt(planes, 0);
  const globalVar = measVarianceAt(planes, 0);
  // Cleaning threshold: SourceExtractor's selection of the DETECT_MINAREA highest values of
  // (filtered − threshold), pixel by pixel in list order (see cleanThreshold).
  const cleanOn = clean && px.length >= minArea;
  const heap = cleanOn ? new Float32Array(minArea) : undefined;
  let h = minArea;
  for (let k = 0; k < px.length; k++) {
    const p = px[k];
    const v = meas[p];
    if (v > peak) {
      peak = v;
      obj.peakIndex = p;
    }
    const c = filt[p];
    const y = (p / width) | 0;
    const x = p - y * width;
    if (c > cdpeak) {
      cdpeak = c;
      obj.peakx = x;
      obj.peaky = y;
    }
    let thresh = globalThresh;
    let variance = globalVar;
    if (measMap) {
      thresh = analysisThresholdAt(planes, p);
      variance = measVarianceAt(planes, p);
    }
    if (thresh < minthresh) minthresh = thresh;
    sigtv += variance;
    if (v > thresh) area++;
    tv += v;
    // Positional errors: detection noise (and Poisson through the detection gain).
    let err = dn.kind === 'map' ? dn.variance[p] : dsig2;
    if (detGain > 0 && c > 0) err += c / detGain;
    const dx = x - xm;
    const dy = y - ym;
    esum += err;
    emx2 += err * dx * dx;
    emy2 += err * dy * dy;
    emxy += err * dx * dy;
    if (heap) {
      const tpix = c - (detThreshMap ? detThreshMap[p] : obj.dthresh);
      if (h > 0) heap[minArea - h] = tpix;
      else if (h < 0) heapPush(heap, minArea, tpix);
      else heap.sort();
      h--;
    }
  }
  obj.mthresh = heap ? heap[0] : 0;
  const flux2 = obj.fdflux * obj.fdflux;
  emx2 /= flux2;
  emy2 /= flux2;
  emxy /= flux2;
  esum *= 0.08333 / flux2;
  if (obj.singular && emx2 * emy2 - emxy * emxy < esum * esum) {
    emx2 += esum;
    emy2 += esum;
  }
  obj.errx2 = emx2;
  obj.erry2 = emy2;
  obj.errxy = emxy;
  if (gain > 0 && tv > 0) sigtv += tv / gain;
  obj.npix = area;
  obj.flux = tv;
  obj.fluxVar = sigtv;
  obj.peak = peak;
  obj.thresh = minthresh;

  // Isophotal areas at NISO levels spaced logarithmically from the threshold to the peak.
  obj.iso.fill(0);
  if (obj.peak > 0 && obj.thresh > 0) {
    const levels = new Float64Array(NISO);
    for (let i = 0; i < NISO; i++) levels[i] = obj.thresh * (obj.peak / obj.thresh) ** (i / NISO);
    for (let k = 0; k < px.length; k++) {
      const v = meas[px[k]];
      for (let i = 0; i < NISO && v > levels[i]; i++) obj.iso[i]++;
    }
  }
}

/**
 * FWHM_IMAGE: a Gaussian fitted to ln(pixel) against r² over the pixels between
 * max(peak/5, analysis threshold) and saturation (after examineIso).
 */
export function measureFwhm(obj: SourceObject, planes: Planes): void {
  const { width, meas } = planes;
  const px = obj.pixels;
  const xm = obj.mx;
  const ym = obj.my;
  let thresh0 = obj.peak / 5;
  if (thresh0 < obj.thresh) thresh0 = obj.thresh;
  obj.fwhm = 0;
  if (thresh0 > 0) {
    const sat = planes.saturation - backgroundAt(planes, obj.mx, obj.my);
    let s = 0;
    let sx = 0;
    let sy = 0;
    let sxx = 0;
    let sxy = 0;
    for (let k = 0; k < px.length; k++) {
      const p = px[k];
      const v = meas[p];
      if (v > thresh0 && v < sat) {
        const y = (p / width) | 0;
        const dx = p - y * width - xm;
        const dy = y - ym;
        const lpix = Math.log(v);
        const w = v * v;
        const d2 = dx * dx + dy * dy;
        s += w;
        sx += d2 * w;
        sxx += d2 * d2 * w;
        sy += lpix * w;
        sxy += lpix * d2 * w;
      }
    }
    const d = s * sxx - sx * sx;
    // A degenerate fit (one radius) leaves only rounding noise in d: no FWHM then.
    if (Math.abs(d) > 1e-12 * s * sxx) {
      let b = -(s * sxy - sx * sy) / d;
      const bmax = 1 / (13 * obj.a * obj.b);
      if (b < bmax) b = bmax;
      let fwhm = Math.fround(1.6651 / Math.sqrt(b));
      if (fwhm > 0) fwhm -= 1 / (4 * fwhm);
      obj.fwhm = fwhm;
    }
  }
}

/**
 * measureFwhm of every object. (A loop of its own: in the middle of a longer function that V8
 * compiles on the stack and deoptimises at its next unseen line, these fits ran in the
 * interpreter for most of an image.)
 */
export function measureFwhms(objects: readonly SourceObject[], planes: Planes): void {
  for (const obj of objects) measureFwhm(obj, planes);
}

/** Background level of the measurement image at the pixel nearest (x, y) (SourceExtractor rounds as (int)(x + 0.5)). */
export function backgroundAt(planes: Planes, x: number, y: number): number {
  if (!planes.background && !planes.backgroundFn) return planes.backgroundLevel;
  const ix = Math.min(planes.width - 1, Math.max(0, Math.trunc(x + 0.5)));
  const iy = Math.min(planes.height - 1, Math.max(0, Math.trunc(y + 0.5)));
  return planes.background ? planes.background[iy * planes.width + ix] : planes.backgroundFn!(ix, iy);
}

/**
 * SourceExtractor's cleaning-threshold heap, step for step (examineiso): the first n values fill
 * the heap, the (n+1)-th sorts it and is itself dropped, later values replace the root when
 * larger and sift down with SourceExtractor's indexing. The result, heap[0], is then what
 * SourceExtractor gets (nearly the n-th largest value), for the same pixel order.
 */
export function heapPush(heap: Float32Array, n: number, value: number): void {
  const v = Math.fround(value);
  if (!(v > heap[0])) return;
  heap[0] = v;
  for (let j = 0, k = 2; k <= n; j = k, k = (j + 1) << 1) {
    let c = k;
    if (k !== n && heap[k - 1] > heap[k]) {
      c++;
      k++;
    }
    c--;
    if (heap[j] <= heap[c]) break;
    const t = heap[c];
    heap[c] = heap[j];
    heap[j] = t;
  }
}
