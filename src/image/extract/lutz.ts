/**
 * Connected components of pixels above a threshold, 8-connected, by Lutz's one-pass algorithm
 * (Lutz 1980, "An algorithm for the real time analysis of digitised images", as SourceExtractor
 * implements it).
 *
 * The image is scanned once, row by row. Each row's runs of pixels above the threshold are
 * joined to the objects of the row before through markers left at the starts and ends of those
 * objects' runs; an object whose runs find no continuation on the next row is complete and is
 * emitted at once. Pixels are kept in linked lists that are concatenated as objects merge, so
 * an object's pixels come out in the order SourceExtractor lists them, and objects come out in
 * the order SourceExtractor completes them. (Both orders matter to SourceExtractor's results:
 * the cleaning threshold is taken from the pixel list in its order.)
 *
 * `segmentImage` scans the whole image; `SubSegmenter` scans one object's box at a higher
 * threshold, within its own pixels (deblending).
 */
import { Flag } from './flags.ts';

/** A connected component: its pixels (y·width + x, in Lutz order) and its edge flag. */
export interface Component {
  pixels: Int32Array;
  /** Flag.TRUNCATED when a pixel lies on the image border. */
  flag: number;
}

const NONE = 0;
const START = 1; // 'S': first run of an object on the previous row
const START_MORE = 2; // 's': a further run of the same object
const END_MORE = 3; // 'f': end of a run, more runs of the object follow
const END = 4; // 'F': end of the object's last run

const COMPLETE = 0;
const INCOMPLETE = 1;
const OBJECT = 2;
const NONOBJECT = 3;
const UNKNOWN = -1;
/** The threshold of the row after the last. */
const NEVER = Number.POSITIVE_INFINITY;

/**
 * One Lutz scanner for regions up to a given width; buffers are reused across scans.
 * `scan` goes over the box [x0, x1) × [y0, y1) of an image of `imageWidth` × `imageHeight`
 * pixels, reading `above` (one byte per box pixel, row-major, 1 = above the threshold).
 */
export class LutzScanner {
  private cap = 0;
  private marker = new Uint8Array(0);
  private psstack = new Int8Array(0);
  private start = new Int32Array(0);
  private end = new Int32Array(0);
  private infoFirst = new Int32Array(0);
  private infoLast = new Int32Array(0);
  private infoN = new Int32Array(0);
  private infoFlag = new Uint8Array(0);
  private storeFirst = new Int32Array(0);
  private storeLast = new Int32Array(0);
  private storeN = new Int32Array(0);
  private storeFlag = new Uint8Array(0);
  /** Pixel pool: image index and next link of each slot; freed slots are chained from `free`. */
  private pix = new Int32Array(1024);
  private next = new Int32Array(1024);
  private free = -1;
  private used = 0;

  private ensure(w: number): void {
    if (w + 2 <= this.cap) return;
    const n = w + 2;
    this.cap = n;
    this.marker = new Uint8Array(n);
    this.psstack = new Int8Array(2 * n + 4);
    this.start = new Int32Array(n + 1);
    this.end = new Int32Array(n + 1);
    this.infoFirst = new Int32Array(n + 1);
    this.infoLast = new Int32Array(n + 1);
    this.infoN = new Int32Array(n + 1);
    this.infoFlag = new Uint8Array(n + 1);
    this.storeFirst = new Int32Array(n);
    this.storeLast = new Int32Array(n);
    this.storeN = new Int32Array(n);
    this.storeFlag = new Uint8Array(n);
  }

  private alloc(p: number): number {
    let c = this.free;
    if (c >= 0) {
      this.free = this.next[c];
    } else {
      if (this.used === this.pix.length) {
        const pix = new Int32Array(this.pix.length * 2);
        pix.set(this.pix);
        this.pix = pix;
        const next = new Int32Array(this.next.length * 2);
        next.set(this.next);
        this.next = next;
      }
      c = this.used++;
    }
    this.pix[c] = p;
    this.next[c] = -1;
    return c;
  }

  /** Append the list of store/info entry b to info entry `a`. */
  private appendTo(a: number, bFirst: number, bLast: number, bN: number, bFlag: number): void {
    this.infoN[a] += bN;
    this.infoFlag[a] |= bFlag;
    if (this.infoFirst[a] === -1) {
      this.infoFirst[a] = bFirst;
      this.infoLast[a] = bLast;
    } else if (bLast !== -1) {
      this.next[this.infoLast[a]] = bFirst;
      this.infoLast[a] = bLast;
    }
  }

  /**
   * Scan the box; each component of at least `minArea` pixels is appended to `out`, in
   * completion order, with its pixels in list order. (An array rather than a callback: the
   * whole image and deblending pass different callbacks, and V8 deoptimised the scan each time
   * it met a new one.)
   */
  scan(
    values: Float32Array,
    offset: number,
    stride: number,
    thresh: number,
    threshMap: Float32Array | undefined,
    x0: number,
    x1: number,
    y0: number,
    y1: number,
    imageWidth: number,
    imageHeight: number,
    minArea: number,
    out: Component[],
  ): void {
    const w = x1 - x0;
    const h = y1 - y0;
    this.ensure(w);
    const {
      marker,
      psstack,
      start,
      end,
      infoFirst,
      infoLast,
      infoN,
      infoFlag,
      storeFirst,
      storeLast,
      storeN,
      storeFlag,
    } = this;
    marker.fill(0, 0, w + 1);
    this.free = -1;
    this.used = 0;
    let co = 0;
    let pstop = 0;
    for (let yl = 0; yl <= h; yl++) {
      let ps = COMPLETE;
      let cs = NONOBJECT;
      const y = y0 + yl;
      const rowTrunc = y === 0 || y === imageHeight - 1 ? Flag.TRUNCATED : 0;
      // The row after the last closes what is open: nothing in it is above an infinite
      // threshold (read on the last row; one code path for all rows, as V8 likes it).
      const last = yl === h;
      const row = offset + Math.max(0, yl - (last ? 1 : 0)) * stride;
      const t = last ? NEVER : thresh;
      const map = last ? undefined : threshMap;
      for (let xl = 0; xl <= w; xl++) {
        if (cs === NONOBJECT) {
          // Nothing happens on pixels below the threshold without a marker: skip them.
          if (map === undefined) {
            while (xl < w && marker[xl] === NONE && !(values[row + xl] > t)) xl++;
          } else {
            while (xl < w && marker[xl] === NONE && !(values[row + xl] > map[row + xl])) xl++;
          }
        }
        const newmarker = marker[xl];
        marker[xl] = NONE;
        const luflag =
          xl < w && (map === undefined ? values[row + xl] > t : values[row + xl] > map[row + xl]);
        let cn = -1;
        let curFlag = 0;
        if (luflag) {
          const x = x0 + xl;
          curFlag = rowTrunc | (x === 0 || x === imageWidth - 1 ? Flag.TRUNCATED : 0);
          cn = this.alloc(y * imageWidth + x);
          if (cs !== OBJECT) {
            // Start of a run.
            cs = OBJECT;
            if (ps === OBJECT) {
              // (One store for both markers: a store seen only later deoptimises the scan.)
              const first = start[co] === UNKNOWN;
              marker[xl] = first ? START : START_MORE;
              if (first) start[co] = xl;
            } else {
              psstack[pstop++] = ps;
              marker[xl] = START;
              start[++co] = xl;
              ps = COMPLETE;
              infoFirst[co] = -1;
              infoLast[co] = -1;
              infoN[co] = 0;
              infoFlag[co] = 0;
            }
          }
        }
        if (newmarker !== NONE) {
          if (newmarker === START) {
            psstack[pstop++] = ps;
            if (cs === NONOBJECT) {
              psstack[pstop++] = COMPLETE;
              co++;
              infoFirst[co] = storeFirst[xl];
              infoLast[co] = storeLast[xl];
              infoN[co] = storeN[xl];
              infoFlag[co] = storeFlag[xl];
              start[co] = UNKNOWN;
            } else {
              this.appendTo(co, storeFirst[xl], storeLast[xl], storeN[xl], storeFlag[xl]);
            }
            ps = OBJECT;
          } else if (newmarker === START_MORE) {
            if (cs === OBJECT && ps === COMPLETE) {
              pstop--;
              const xl2 = start[co];
              this.appendTo(co - 1, infoFirst[co], infoLast[co], infoN[co], infoFlag[co]);
              co--;
              if (start[co] === UNKNOWN) start[co] = xl2;
              else marker[xl2] = START_MORE;
            }
            ps = OBJECT;
          } else if (newmarker === END_MORE) {
            ps = INCOMPLETE;
          } else {
            ps = psstack[--pstop];
            if (cs === NONOBJECT && ps === COMPLETE) {
              if (start[co] === UNKNOWN) {
                // The object is complete.
                if (infoN[co] >= minArea) {
                  const pixels = new Int32Array(infoN[co]);
                  let k = 0;
                  for (let c = infoFirst[co]; c !== -1; c = this.next[c]) pixels[k++] = this.pix[c];
                  out.push({ pixels, flag: infoFlag[co] });
                }
                if (infoLast[co] !== -1) {
                  this.next[infoLast[co]] = this.free;
                  this.free = infoFirst[co];
                }
              } else {
                marker[end[co]] = END;
                const s = start[co];
                storeFirst[s] = infoFirst[co];
                storeLast[s] = infoLast[co];
                storeN[s] = infoN[co];
                storeFlag[s] = infoFlag[co];
              }
              co--;
              ps = psstack[--pstop];
            }
          }
        }
        if (luflag) {
          this.appendTo(co, cn, cn, 1, curFlag);
        } else if (cs === OBJECT) {
          // End of a run.
          cs = NONOBJECT;
          if (ps !== COMPLETE) {
            marker[xl] = END_MORE;
            end[co] = xl;
          } else {
            ps = psstack[--pstop];
            marker[xl] = END;
            const s = start[co];
            storeFirst[s] = infoFirst[co];
            storeLast[s] = infoLast[co];
            storeN[s] = infoN[co];
            storeFlag[s] = infoFlag[co];
            co--;
          }
        }
      }
    }
  }
}

/**
 * Components of { p : filt[p] > threshold(p) } with at least `minArea` pixels, in the order a
 * line scan completes them. `threshMap` gives a threshold per pixel; otherwise `thresh` applies.
 */
export function segmentImage(
  filt: Float32Array,
  width: number,
  height: number,
  thresh: number,
  threshMap: Float32Array | undefined,
  minArea: number,
): Component[] {
  const out: Component[] = [];
  new LutzScanner().scan(filt, 0, width, thresh, threshMap, 0, width, 0, height, width, height, minArea, out);
  return out;
}

/** Lutz scans within one object's pixels (deblending); buffers are reused across calls. */
export class SubSegmenter {
  private readonly scanner = new LutzScanner();
  private box = new Float32Array(0);

  /**
   * Components of the listed pixels (within the box xmin…xmax × ymin…ymax, inclusive) whose
   * filtered value exceeds `thresh`, with at least `minArea` pixels.
   */
  segment(
    pixels: Int32Array,
    filt: Float32Array,
    width: number,
    height: number,
    box: { xmin: number; xmax: number; ymin: number; ymax: number },
    thresh: number,
    minArea: number,
  ): Component[] {
    const bw = box.xmax - box.xmin + 1;
    const bh = box.ymax - box.ymin + 1;
    if (this.box.length < bw * bh) this.box = new Float32Array(Math.max(bw * bh, this.box.length * 2));
    const values = this.box;
    values.fill(Number.NEGATIVE_INFINITY, 0, bw * bh);
    let any = false;
    for (let k = 0; k < pixels.length; k++) {
      const p = pixels[k];
      const v = filt[p];
      if (v > thresh) any = true;
      const y = (p / width) | 0;
      values[(y - box.ymin) * bw + (p - y * width - box.xmin)] = v;
    }
    const out: Component[] = [];
    if (any) {
      this.scanner.scan(
        values,
        0,
        bw,
        thresh,
        undefined,
        box.xmin,
        box.xmax + 1,
        box.ymin,
        box.ymax + 1,
        width,
        height,
        minArea,
        out,
      );
    }
    return out;
  }
}
