/**
 * WCS test helpers: the shared reference headers, random Roman-like TAN-SIP headers, and the
 * reference tools (wcstools xy2sky/sky2xy, astropy) run on many points at once.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Header } from '../../src/fits/header.ts';
import { Poly2 } from '../../src/wcs/index.ts';
import { TEST_DATA } from './cli.ts';
import { run, runPython } from './tools.ts';

export const WCS_DATA = join(TEST_DATA, 'wcs-headers');

/** The reference headers of the issue, with the image size used when the header has none. */
export const REFERENCE_HEADERS = [
  '1904-66_TAN.hdr',
  '1904-66_SIN.hdr',
  '1904-66_ZPN.hdr',
  'irac_sip.hdr',
  'siponly.hdr',
  'tpvonly.hdr',
  'sip.fits',
  'sip2.fits',
] as const;

/** Read a header file: FITS (primary header; gzipped or not) or bare 80-character cards. */
export function readHeaderFile(path: string): Header {
  let bytes: Uint8Array = readFileSync(path);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  const text = Buffer.from(bytes.subarray(0, 9)).toString('latin1');
  if (text.startsWith('SIMPLE  =') && bytes.length % 2880 === 0) return Header.parse(bytes).header;
  return Header.fromText(Buffer.from(bytes).toString('latin1'));
}

let scratch: string | undefined;
export function scratchDir(): string {
  scratch ??= mkdtempSync(join(tmpdir(), 'rapid-wcs-'));
  return scratch;
}

/**
 * A copy of the header as a FITS header file the tools accept: END and block padding added,
 * and NAXIS1/NAXIS2 inserted when absent (wcstools will not work without an image size).
 */
export function toolHeaderFile(header: Header, name: string, size: [number, number] = [256, 256]): string {
  const h = header.clone();
  if (!h.has('NAXIS1') || (h.optionalNumber('NAXIS') ?? 0) < 2) {
    h.set('NAXIS', 2);
    h.set('NAXIS1', size[0], undefined, { after: 'NAXIS' });
    h.set('NAXIS2', size[1], undefined, { after: 'NAXIS1' });
  }
  const path = join(scratchDir(), `${name.replace(/\.(hdr|fits)$/, '')}.fits`);
  writeFileSync(path, h.toBytes());
  return path;
}

function numbers(tokens: string[], from: number, count: number): number[] {
  const out: number[] = [];
  for (let i = from; i < from + count; i++) {
    const v = Number(tokens[i]);
    out.push(tokens[i] !== undefined && Number.isFinite(v) ? v : Number.NaN);
  }
  return out;
}

/** wcstools xy2sky on 1-based pixel positions: degrees with 13 decimals. */
export function xy2sky(
  file: string,
  x: ArrayLike<number>,
  y: ArrayLike<number>,
): { ra: number[]; dec: number[] } {
  const list = join(scratchDir(), 'xy.txt');
  writeFileSync(list, `${Array.from(x, (xi, i) => `${xi} ${y[i]}`).join('\n')}\n`);
  const lines = run('xy2sky', ['-d', '-n', '13', file, `@${list}`])
    .trim()
    .split('\n');
  const ra: number[] = [];
  const dec: number[] = [];
  for (const line of lines) {
    const [r, d] = numbers(line.trim().split(/\s+/), 0, 2);
    ra.push(r);
    dec.push(d);
  }
  if (ra.length !== x.length) throw new Error(`xy2sky returned ${ra.length} lines for ${x.length} points`);
  return { ra, dec };
}

/** wcstools sky2xy: 1-based pixel positions with 10 decimals. */
export function sky2xy(
  file: string,
  ra: ArrayLike<number>,
  dec: ArrayLike<number>,
): { x: number[]; y: number[] } {
  const list = join(scratchDir(), 'sky.txt');
  writeFileSync(
    list,
    `${Array.from(ra, (r, i) => `${r.toFixed(13)} ${dec[i].toFixed(13)} J2000`).join('\n')}\n`,
  );
  const lines = run('sky2xy', ['-n', '10', file, `@${list}`])
    .trim()
    .split('\n');
  const x: number[] = [];
  const y: number[] = [];
  for (const line of lines) {
    const after = line.split('->')[1] ?? '';
    const [xi, yi] = numbers(after.trim().split(/\s+/), 0, 2);
    x.push(xi);
    y.push(yi);
  }
  if (x.length !== ra.length) throw new Error(`sky2xy returned ${x.length} lines for ${ra.length} points`);
  return { x, y };
}

const ASTROPY_SCRIPT = `
import json, sys, warnings
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
warnings.simplefilter('ignore')
def clean(a):
    return [None if not np.isfinite(v) else float(v) for v in a]
results = []
for req in json.load(sys.stdin):
    w = WCS(fits.getheader(req['file']))
    out = {}
    if req['x']:
        ra, dec = w.all_pix2world(np.array(req['x'], float), np.array(req['y'], float), 0)
        out['ra'] = clean(ra); out['dec'] = clean(dec)
    if req['ra']:
        x, y = w.all_world2pix(np.array(req['ra'], float), np.array(req['dec'], float), 0,
                               tolerance=1e-12, maxiter=200, adaptive=False, detect_divergence=True, quiet=True)
        out['x'] = clean(x); out['y'] = clean(y)
    results.append(out)
json.dump(results, sys.stdout)
`;

export interface AstropyRequest {
  /** A FITS header file (see toolHeaderFile). */
  file: string;
  /** 0-based pixel positions for all_pix2world. */
  pixels?: { x: ArrayLike<number>; y: ArrayLike<number> };
  /** Sky positions for all_world2pix (tolerance 1e-12 px). */
  sky?: { ra: ArrayLike<number>; dec: ArrayLike<number> };
}

export interface AstropyResult {
  ra: number[];
  dec: number[];
  x: number[];
  y: number[];
}

/** astropy all_pix2world and all_world2pix (0-based pixels) on several header files in one Python run. */
export function astropyBatch(requests: AstropyRequest[]): AstropyResult[] {
  const body = requests.map((r) => ({
    file: r.file,
    x: r.pixels ? Array.from(r.pixels.x) : [],
    y: r.pixels ? Array.from(r.pixels.y) : [],
    ra: r.sky ? Array.from(r.sky.ra) : [],
    dec: r.sky ? Array.from(r.sky.dec) : [],
  }));
  const res = JSON.parse(runPython(ASTROPY_SCRIPT, [], JSON.stringify(body))) as Record<
    string,
    (number | null)[]
  >[];
  const nan = (a: (number | null)[] | undefined) => (a ?? []).map((v) => (v === null ? Number.NaN : v));
  return res.map((r) => ({ ra: nan(r.ra), dec: nan(r.dec), x: nan(r.x), y: nan(r.y) }));
}

/** astropy on one header file. */
export function astropy(
  file: string,
  pixels: { x: ArrayLike<number>; y: ArrayLike<number> } | undefined,
  sky: { ra: ArrayLike<number>; dec: ArrayLike<number> } | undefined,
): AstropyResult {
  return astropyBatch([{ file, pixels, sky }])[0];
}

// ---- comparisons ------------------------------------------------------------------------

/** Angular separation in degrees (chord formula: accurate for tiny angles). */
export function separation(ra1: number, dec1: number, ra2: number, dec2: number): number {
  const d2r = Math.PI / 180;
  const c1 = Math.cos(dec1 * d2r);
  const c2 = Math.cos(dec2 * d2r);
  const dx = c1 * Math.cos(ra1 * d2r) - c2 * Math.cos(ra2 * d2r);
  const dy = c1 * Math.sin(ra1 * d2r) - c2 * Math.sin(ra2 * d2r);
  const dz = Math.sin(dec1 * d2r) - Math.sin(dec2 * d2r);
  const chord = Math.sqrt(dx * dx + dy * dy + dz * dz);
  return (2 * Math.asin(chord / 2)) / d2r;
}

export interface SkyComparison {
  /** Largest separation over points valid in both, degrees. */
  max: number;
  /** Points valid in both. */
  compared: number;
  /** Points valid in exactly one of the two. */
  mismatchedValidity: number;
}

export function compareSky(
  a: { ra: ArrayLike<number>; dec: ArrayLike<number> },
  b: { ra: ArrayLike<number>; dec: ArrayLike<number> },
): SkyComparison {
  let max = 0;
  let compared = 0;
  let mismatchedValidity = 0;
  for (let i = 0; i < a.ra.length; i++) {
    const va = Number.isFinite(a.ra[i]) && Number.isFinite(a.dec[i]);
    const vb = Number.isFinite(b.ra[i]) && Number.isFinite(b.dec[i]);
    if (va !== vb) mismatchedValidity++;
    if (!va || !vb) continue;
    compared++;
    max = Math.max(max, separation(a.ra[i], a.dec[i], b.ra[i], b.dec[i]));
  }
  return { max, compared, mismatchedValidity };
}

export function comparePixels(
  a: { x: ArrayLike<number>; y: ArrayLike<number> },
  b: { x: ArrayLike<number>; y: ArrayLike<number> },
  offset = 0,
): { max: number; compared: number; mismatchedValidity: number } {
  let max = 0;
  let compared = 0;
  let mismatchedValidity = 0;
  for (let i = 0; i < a.x.length; i++) {
    const va = Number.isFinite(a.x[i]) && Number.isFinite(a.y[i]);
    const vb = Number.isFinite(b.x[i]) && Number.isFinite(b.y[i]);
    if (va !== vb) mismatchedValidity++;
    if (!va || !vb) continue;
    compared++;
    max = Math.max(max, Math.abs(a.x[i] + offset - b.x[i]), Math.abs(a.y[i] + offset - b.y[i]));
  }
  return { max, compared, mismatchedValidity };
}

// ---- sample points ----------------------------------------------------------------------

/** A small deterministic PRNG (mulberry32). */
export function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

/**
 * 0-based pixel positions across a width × height image: the corner pixel centres, the outer
 * corners, an 11 × 11 grid over the whole image, and `extra` random points.
 */
export function samplePixels(
  width: number,
  height: number,
  extra: number,
  seed = 1,
): { x: Float64Array; y: Float64Array } {
  const xs: number[] = [];
  const ys: number[] = [];
  const add = (x: number, y: number) => {
    xs.push(x);
    ys.push(y);
  };
  for (const [x, y] of [
    [0, 0],
    [width - 1, 0],
    [0, height - 1],
    [width - 1, height - 1],
    [-0.5, -0.5],
    [width - 0.5, -0.5],
    [-0.5, height - 0.5],
    [width - 0.5, height - 0.5],
  ]) {
    add(x, y);
  }
  for (let j = 0; j <= 10; j++)
    for (let i = 0; i <= 10; i++) add(((width - 1) * i) / 10, ((height - 1) * j) / 10);
  const rng = random(seed);
  for (let k = 0; k < extra; k++) add(rng() * width - 0.5, rng() * height - 0.5);
  return { x: Float64Array.from(xs), y: Float64Array.from(ys) };
}

// ---- Roman-like headers -----------------------------------------------------------------

export const ROMAN_SIZE = 4088;
export const ROMAN_SCALE = 0.11; // arcsec per pixel

/** Typical size of the SIP coefficients of each degree: about 1.5, 0.7, 0.4, 0.2 px at the corners. */
const SIP_SIGMA: Record<number, number> = { 2: 2e-7, 3: 4e-11, 4: 1e-14, 5: 2e-18 };

export interface RomanOptions {
  /** SIP order, 3–5; random when absent. */
  order?: number;
  /** Fit and write AP/BP. */
  inverse?: boolean;
  /** Force the reference latitude (e.g. near a pole). */
  dec?: number;
}

/**
 * A random Roman-like header: 4088 × 4088 px, 0.11″/px, random pointing and rotation, TAN-SIP
 * of order 3–5 with small coefficients, and optionally AP/BP fitted by least squares.
 */
export function romanHeader(seed: number, options: RomanOptions = {}): Header {
  const rng = random(seed);
  const order = options.order ?? 3 + Math.floor(rng() * 3);
  const ra = rng() * 360;
  const dec = options.dec ?? (Math.asin(2 * rng() - 1) * 180) / Math.PI;
  const rot = rng() * 2 * Math.PI;
  const s = ROMAN_SCALE / 3600;
  const crpix: [number, number] = [2044.5 + (rng() - 0.5) * 40, 2044.5 + (rng() - 0.5) * 40];
  const coeff = () => Poly2.from(order, (p, q) => (p + q >= 2 ? SIP_SIGMA[p + q] * gaussian(rng) : 0));
  const a = coeff();
  const b = coeff();
  const h = new Header();
  h.set('SIMPLE', true);
  h.set('BITPIX', -32);
  h.set('NAXIS', 2);
  h.set('NAXIS1', ROMAN_SIZE);
  h.set('NAXIS2', ROMAN_SIZE);
  h.set('WCSAXES', 2);
  h.set('CTYPE1', 'RA---TAN-SIP');
  h.set('CTYPE2', 'DEC--TAN-SIP');
  h.set('CRPIX1', crpix[0]);
  h.set('CRPIX2', crpix[1]);
  h.set('CRVAL1', ra);
  h.set('CRVAL2', dec);
  h.set('CUNIT1', 'deg');
  h.set('CUNIT2', 'deg');
  // East to the left (parity −1), rotated by a random angle.
  h.set('CD1_1', -s * Math.cos(rot));
  h.set('CD1_2', s * Math.sin(rot));
  h.set('CD2_1', s * Math.sin(rot));
  h.set('CD2_2', s * Math.cos(rot));
  h.set('RADESYS', 'ICRS');
  writePoly(h, 'A', a);
  writePoly(h, 'B', b);
  if (options.inverse) {
    const { ap, bp } = fitSipInverse(a, b, crpix, ROMAN_SIZE, ROMAN_SIZE, order);
    writePoly(h, 'AP', ap);
    writePoly(h, 'BP', bp);
  }
  return h;
}

function writePoly(h: Header, name: string, poly: Poly2): void {
  h.set(`${name}_ORDER`, poly.order);
  for (let p = 0; p <= poly.order; p++) {
    for (let q = 0; q <= poly.order - p; q++)
      if (poly.get(p, q) !== 0) h.set(`${name}_${p}_${q}`, poly.get(p, q));
  }
}

/**
 * AP, BP of the given order fitted by least squares on a 60 × 60 grid so that
 * u ≈ U + AP(U, V), v ≈ V + BP(U, V), where (U, V) = (u + A, v + B).
 */
export function fitSipInverse(
  a: Poly2,
  b: Poly2,
  crpix: [number, number],
  width: number,
  height: number,
  order: number,
): { ap: Poly2; bp: Poly2 } {
  const terms: [number, number][] = [];
  for (let p = 0; p <= order; p++) for (let q = 0; q <= order - p; q++) terms.push([p, q]);
  const scale = Math.max(width, height) / 2;
  const rows: number[][] = [];
  const du: number[] = [];
  const dv: number[] = [];
  const n = 60;
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      const u = -0.5 + (width * i) / (n - 1) + 1 - crpix[0];
      const v = -0.5 + (height * j) / (n - 1) + 1 - crpix[1];
      const U = u + a.at(u, v);
      const V = v + b.at(u, v);
      rows.push(terms.map(([p, q]) => (U / scale) ** p * (V / scale) ** q));
      du.push(u - U);
      dv.push(v - V);
    }
  }
  const ca = leastSquares(rows, du);
  const cb = leastSquares(rows, dv);
  const unscale = (c: number[]) => {
    const m = new Map(terms.map(([p, q], k) => [`${p},${q}`, c[k] / scale ** (p + q)]));
    return Poly2.from(order, (p, q) => m.get(`${p},${q}`));
  };
  return { ap: unscale(ca), bp: unscale(cb) };
}

/** Normal equations solved by Gaussian elimination with partial pivoting (small, well-scaled systems). */
function leastSquares(rows: number[][], rhs: number[]): number[] {
  const m = rows[0].length;
  const n = Array.from({ length: m }, () => new Array<number>(m + 1).fill(0));
  rows.forEach((r, k) => {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) n[i][j] += r[i] * r[j];
      n[i][m] += r[i] * rhs[k];
    }
  });
  for (let c = 0; c < m; c++) {
    let best = c;
    for (let r = c + 1; r < m; r++) if (Math.abs(n[r][c]) > Math.abs(n[best][c])) best = r;
    [n[c], n[best]] = [n[best], n[c]];
    for (let r = c + 1; r < m; r++) {
      const f = n[r][c] / n[c][c];
      for (let k = c; k <= m; k++) n[r][k] -= f * n[c][k];
    }
  }
  const x = new Array<number>(m).fill(0);
  for (let r = m - 1; r >= 0; r--) {
    let s = n[r][m];
    for (let k = r + 1; k < m; k++) s -= n[r][k] * x[k];
    x[r] = s / n[r][r];
  }
  return x;
}
