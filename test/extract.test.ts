/**
 * Source extraction (src/image/extract): each stage on synthetic images with known answers.
 * The cross-checks against SourceExtractor's own catalogs are in extract-reference.test.ts, the
 * command in extract-cli.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { interpolateMesh, interpolateMeshThreaded, measureBackgroundMesh } from '../src/image/background.ts';
import { heapPush } from '../src/image/extract/analyse.ts';
import { circleOverlap, ellipseFrame, ellipseOverlap } from '../src/image/extract/aperture.ts';
import {
  asciiHeader,
  COLUMNS,
  ConfigError,
  DEFAULT_CONFIG,
  type ExtractOptions,
  extractSources,
  extractSourcesParallel,
  Flag,
  formatAsciiCatalog,
  formatC,
  measurementsFor,
  meshBackgroundAt,
  type PlaneInput,
  PsfFlag,
  parseAsciiCatalog,
  parseConv,
  parseNnw,
  parseParams,
  parseSexConfig,
  type Source,
  selectColumns,
  tableColumns,
} from '../src/image/extract/index.ts';
import { segmentImage } from '../src/image/extract/lutz.ts';
import { StampPsf } from '../src/image/extract/psfstamp.ts';
import { edgeFraction } from '../src/image/extract/windowed.ts';
import type { Image } from '../src/image/image.ts';
import { MaskBit } from '../src/image/image.ts';
import type { PsfModel } from '../src/image/psf/model.ts';
import { sharedFloat32 } from '../src/image/workers.ts';

// ---------------------------------------------------------------------------------------------
// Helpers

/** Deterministic standard normal deviates (Box–Muller on a small LCG). */
function gaussianNoise(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** Pixel-integrated elliptical Gaussian of total `flux` at (x0, y0), added to `data`. */
function addGaussian(
  data: Float32Array,
  width: number,
  height: number,
  x0: number,
  y0: number,
  flux: number,
  sx: number,
  sy = sx,
  angle = 0,
): void {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const r = Math.ceil(6 * Math.max(sx, sy));
  const n = 5;
  for (let y = Math.max(0, Math.floor(y0) - r); y <= Math.min(height - 1, Math.ceil(y0) + r); y++) {
    for (let x = Math.max(0, Math.floor(x0) - r); x <= Math.min(width - 1, Math.ceil(x0) + r); x++) {
      let acc = 0;
      for (let j = 0; j < n; j++) {
        for (let i = 0; i < n; i++) {
          const dx = x - 0.5 + (i + 0.5) / n - x0;
          const dy = y - 0.5 + (j + 0.5) / n - y0;
          const u = c * dx + s * dy;
          const v = -s * dx + c * dy;
          acc += Math.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2));
        }
      }
      data[y * width + x] += (flux * acc) / (n * n * 2 * Math.PI * sx * sy);
    }
  }
}

function noiseImage(width: number, height: number, sigma: number, seed = 1): Float32Array {
  const g = gaussianNoise(seed);
  return Float32Array.from({ length: width * height }, () => sigma * g());
}

function plane(
  data: Float32Array,
  width: number,
  height: number,
  noise: number | Float32Array,
  extra: Partial<PlaneInput> = {},
): PlaneInput {
  return { image: { width, height, data }, noise, ...extra };
}

function nearest(sources: readonly Source[], x: number, y: number): { s: Source; d: number } {
  let best = sources[0];
  let bd = Number.POSITIVE_INFINITY;
  for (const s of sources) {
    const d = Math.hypot(s.x - x, s.y - y);
    if (d < bd) {
      bd = d;
      best = s;
    }
  }
  return { s: best, d: bd };
}

/** A Gaussian PSF model, pixel-integrated, for PSF-fit tests. */
class GaussianPsf implements PsfModel {
  readonly size: number;
  constructor(
    private readonly sigma: number,
    half = 7,
  ) {
    this.size = 2 * half + 1;
  }
  fwhm(): number {
    return 2.3548 * this.sigma;
  }
  stamp(x: number, y: number, out = new Float32Array(this.size * this.size)): Float32Array {
    out.fill(0);
    const half = (this.size - 1) / 2;
    const tmp = new Float32Array(this.size * this.size);
    addGaussian(tmp, this.size, this.size, half + x - Math.round(x), half + y - Math.round(y), 1, this.sigma);
    let sum = 0;
    for (const v of tmp) sum += v;
    for (let i = 0; i < tmp.length; i++) out[i] = tmp[i] / sum;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------

describe('configuration files', () => {
  test('.sex: keys and values, comments, lists; defaults as source-extractor -dd', () => {
    const c = parseSexConfig(
      [
        '# a comment',
        'DETECT_MINAREA   5      # min area',
        'DETECT_THRESH    2.5',
        'ANALYSIS_THRESH  2.5',
        'PHOT_APERTURES   2,3, 4 ,6,10,14',
        'PHOT_AUTOPARAMS  2.5, 3.5',
        'PHOT_FLUXFRAC    0.5 0.9',
        'DEBLEND_NTHRESH  32',
        'BACK_SIZE        128,64',
        'CLEAN            N',
        'MASK_TYPE        blank',
        'FILTER_THRESH',
        'VERBOSE_TYPE QUIET',
        'NTHREADS 4',
        'MEMORY_PIXSTACK 300000',
        'CHECKIMAGE_TYPE NONE',
        'WRITE_XML N',
        'XML_NAME sex.xml',
      ].join('\n'),
      'rapid.sex',
    );
    assert.equal(c.detectMinArea, 5);
    assert.equal(c.detectThresh, 2.5);
    assert.deepEqual(c.photApertures, [2, 3, 4, 6, 10, 14]);
    assert.deepEqual(c.photAutoParams, [2.5, 3.5]);
    assert.deepEqual(c.photFluxFrac, [0.5, 0.9]);
    assert.deepEqual(c.backSize, [128, 64]);
    assert.equal(c.clean, false);
    assert.equal(c.maskType, 'BLANK');
    // Untouched keys keep SourceExtractor 2.25's defaults.
    assert.equal(c.deblendMinCont, DEFAULT_CONFIG.deblendMinCont);
    assert.equal(c.gainKey, 'GAIN');
    // Overrides, as source-extractor -KEY value.
    assert.equal(parseSexConfig('DETECT_THRESH 3', 'x.sex', { DETECT_THRESH: '5' }).detectThresh, 5);
  });

  test('an unknown or unsupported key or value is an error that names it (exit 64)', () => {
    const cases: [string, RegExp][] = [
      ['DETECT_TRESH 3', /rapid\.sex:1: unknown configuration key DETECT_TRESH/],
      ['BACKPHOTO_TYPE LOCAL', /BACKPHOTO_TYPE LOCAL is not supported/],
      ['DETECT_TYPE PHOTO', /DETECT_TYPE PHOTO is not supported/],
      ['CHECKIMAGE_TYPE APERTURES', /CHECKIMAGE_TYPE APERTURES is not supported/],
      ['FILTER_THRESH 3', /FILTER_THRESH .* not supported/],
      ['DETECT_THRESH 22,30', /DETECT_THRESH in surface brightness/],
      ['CATALOG_TYPE FITS_LDAC', /CATALOG_TYPE FITS_LDAC is not supported/],
      ['DETECT_MINAREA many', /DETECT_MINAREA must be a number/],
      ['CLEAN maybe', /CLEAN must be Y or N/],
    ];
    for (const [text, message] of cases) {
      assert.throws(
        () => parseSexConfig(text, 'rapid.sex'),
        (e: unknown) => e instanceof ConfigError && e.exitCode === 64 && message.test(e.message),
        text,
      );
    }
  });

  test('.param: names, vectors NAME(n), comments; unknown columns named', () => {
    const p = parseParams(
      'NUMBER\n# X_WORLD\nFLUX_APER(6)\n  flux_radius(2)  # comment\nFLAGS\n',
      'rapid.param',
      (n) => COLUMNS.has(n),
    );
    assert.deepEqual(
      p.map((r) => [r.name, r.size]),
      [
        ['NUMBER', undefined],
        ['FLUX_APER', 6],
        ['FLUX_RADIUS', 2],
        ['FLAGS', undefined],
      ],
    );
    assert.throws(
      () => parseParams('NUMBER\nVIGNET(5,5)\n', 'rapid.param', (n) => COLUMNS.has(n)),
      (e: unknown) => e instanceof ConfigError && /rapid\.param:2/.test(e.message),
    );
    assert.throws(
      () => parseParams('NUMBER\nFLUX_GROWTH\n', 'rapid.param', (n) => COLUMNS.has(n)),
      (e: unknown) => e instanceof ConfigError && /FLUX_GROWTH is not supported/.test(e.message),
    );
    assert.throws(() => parseParams('NUMBER\nNUMBER\n', 'p', (n) => COLUMNS.has(n)), /listed twice/);
  });

  test('.conv: normalised by Σ|k| (NORM), kept as is (NONORM)', () => {
    const k = parseConv('CONV NORM\n# 3x3\n1 2 1\n2 4 2\n1 2 1\n');
    assert.equal(k.width, 3);
    assert.equal(k.height, 3);
    assert.ok(
      Math.abs(k.values.reduce((a, b) => a + b, 0) - 1) < 1e-6,
      'Math.abs(k.values.reduce((a, b) => a + b, 0) - 1) < 1e-6',
    );
    assert.equal(parseConv('CONV NONORM\n1 2\n3 4\n').values[3], 4);
    assert.throws(() => parseConv('1 2 1\n'), ConfigError);
    assert.throws(() => parseConv('CONV NORM\n1 2 1\n2 4\n'), /differ in length/);
  });

  test('.nnw: layers, scalings and weights', () => {
    const net = parseNnw('NNW\n# test\n 3 2 2 1\n\n0 0\n1 1\n\n1 0 0\n0 1 0\n\n1 1 -1\n\n0\n1\n');
    assert.deepEqual(net.layers, [2, 2, 1]);
    assert.deepEqual(net.weights[1][0], [1, 1]);
    assert.equal(net.biases[1][0], -1);
    assert.throws(() => parseNnw('XYZ\n'), ConfigError);
  });
});

describe('catalog formats', () => {
  test('printf formats as C writes them', () => {
    assert.equal(formatC('%10d', 12), '        12');
    assert.equal(formatC('%3d', 0), '  0');
    assert.equal(formatC('%11.4f', 165.14489), '   165.1449');
    assert.equal(formatC('%11.4f', -0.00001), '    -0.0000');
    assert.equal(formatC('%+11.7f', 5.25), ' +5.2500000');
    assert.equal(formatC('%+11.7f', -5.25), ' -5.2500000');
    assert.equal(formatC('%18.10e', 2.4117662184), '  2.4117662184e+00');
    assert.equal(formatC('%18.10e', -4.0335820676e-2), ' -4.0335820676e-02');
    assert.equal(formatC('%15.7e', 1.5e-120), ' 1.5000000e-120');
    assert.equal(formatC('%12.7g', 4709.64), '     4709.64');
    assert.equal(formatC('%12.7g', 1004553), '     1004553');
    assert.equal(formatC('%12.7g', 0), '           0');
    assert.equal(formatC('%12.7g', 12345678), '1.234568e+07');
    assert.equal(formatC('%12.7g', 0.000012345), '  1.2345e-05');
    assert.equal(formatC('%12.7g', 0.00012345), '  0.00012345');
    assert.equal(formatC('%12.7g', 9999999.6), '       1e+07');
    assert.equal(formatC('%10.4g', 99.5), '      99.5');
    assert.equal(formatC('%8.4f', 99), ' 99.0000');
    // Exact ties round to even, as C (toFixed would round them up).
    assert.equal(formatC('%5.2f', 2.125), ' 2.12');
    assert.equal(formatC('%5.2f', 2.375), ' 2.38');
    assert.equal(formatC('%4.0f', 2.5), '   2');
    assert.equal(formatC('%12.7g', Number.NaN), '         nan');
  });

  test("ASCII_HEAD: SourceExtractor's header layout, vectors numbered by their first column", () => {
    const params = parseParams(
      'NUMBER\nX_IMAGE\nFLUX_APER(3)\nFLUX_RADIUS(2)\nKRON_RADIUS\nFLAGS\n',
      'p',
      (n) => COLUMNS.has(n),
    );
    const cols = selectColumns(params, { aper: 3, fluxfrac: 2 });
    const head = asciiHeader(cols).split('\n');
    assert.equal(head[0], `#   1 NUMBER                 ${'Running object number'.padEnd(58)}`);
    assert.equal(head[1], `#   2 X_IMAGE                ${'Object position along x'.padEnd(58)} [pixel]`);
    const start = (n: number, name: string) => `#${String(n).padStart(4)} ${name.padEnd(22)} `;
    assert.equal(head[2].slice(0, 29), start(3, 'FLUX_APER'));
    assert.equal(head[3].slice(0, 29), start(6, 'FLUX_RADIUS'));
    assert.equal(head[4].slice(0, 29), start(8, 'KRON_RADIUS'));
    assert.equal(head[5].slice(0, 29), start(9, 'FLAGS'));
    // A vector asked for beyond what is measured is written as zeros (with a warning).
    const warnings: string[] = [];
    const wide = selectColumns(
      parseParams('FLUX_APER(4)\n', 'p', (n) => COLUMNS.has(n)),
      { aper: 2, fluxfrac: 1 },
      warnings,
    );
    assert.equal(wide[0].available, 2);
    assert.match(warnings[0], /FLUX_APER\(4\)/);
  });

  test('catalog round trip: write, read back by name; the FITS columns carry vectors and units', () => {
    const w = 64;
    const data = noiseImage(w, w, 1, 3);
    addGaussian(data, w, w, 20.3, 30.7, 3000, 1.5);
    addGaussian(data, w, w, 44.1, 12.2, 2000, 1.2);
    const r = extractSources(plane(data, w, w, 1), { config: { photApertures: [3, 6] } });
    assert.equal(r.sources.length, 2);
    const cols = selectColumns(
      parseParams('NUMBER\nX_IMAGE\nY_IMAGE\nFLUX_APER(2)\nMAG_APER(2)\nFLAGS\n', 'p', (n) => COLUMNS.has(n)),
      {
        aper: 2,
        fluxfrac: 1,
      },
    );
    const text = formatAsciiCatalog(cols, r.sources, { zeropoint: 25 });
    const back = parseAsciiCatalog(text);
    assert.deepEqual(
      back.columns.map((c) => [c.name, c.index, c.size]),
      [
        ['NUMBER', 0, 1],
        ['X_IMAGE', 1, 1],
        ['Y_IMAGE', 2, 1],
        ['FLUX_APER', 3, 2],
        ['MAG_APER', 5, 2],
        ['FLAGS', 7, 1],
      ],
    );
    assert.equal(back.columns[1].unit, 'pixel');
    // 1-based pixel coordinates in the catalog.
    const xs = back.get('X_IMAGE');
    assert.ok(Math.abs(xs[0] - (r.sources[0].x + 1)) < 1e-3, 'Math.abs(xs[0] - (r.sources[0].x + 1)) < 1e-3');
    const mag = back.get('MAG_APER', 1)[0];
    assert.ok(
      Math.abs(mag - (25 - 2.5 * Math.log10(r.sources[0].fluxAper[1].flux))) < 1e-3,
      'Math.abs(mag - (25 - 2.5 * Math.log10(r.sources[0].fluxAper[1].flux))) < 1e-3',
    );
    const t = tableColumns(cols, r.sources, { zeropoint: 25 });
    const aper = t.find((c) => c.name === 'FLUX_APER')!;
    assert.equal(aper.format, '2E');
    assert.equal(aper.unit, 'count');
    assert.equal(aper.data.length, 4);
    assert.equal(t.find((c) => c.name === 'NUMBER')!.format, 'J');
  });

  test('measurementsFor: only what the columns need', () => {
    assert.deepEqual(measurementsFor(['NUMBER', 'FLUX_APER']), {
      aper: true,
      auto: false,
      petro: false,
      growth: false,
      windowed: false,
    });
    assert.deepEqual(measurementsFor(['XWIN_IMAGE', 'FLUX_RADIUS', 'MAG_PETRO']), {
      aper: false,
      auto: false,
      petro: true,
      growth: true,
      windowed: true,
    });
  });
});

describe('apertures: exact pixel overlap', () => {
  test('circle overlaps sum to πr² and each lies in [0, 1]', () => {
    for (const [cx, cy, r] of [
      [0.3, -0.2, 2.5],
      [0, 0, 0.4],
      [0.5, 0.5, 7.3],
      [0.11, 0.37, 1],
    ]) {
      let sum = 0;
      for (let y = -10; y <= 10; y++) {
        for (let x = -10; x <= 10; x++) {
          const a = circleOverlap(x - cx, y - cy, r);
          assert.ok(a >= 0 && a <= 1, 'a >= 0 && a <= 1');
          sum += a;
        }
      }
      assert.ok(Math.abs(sum - Math.PI * r * r) < 1e-9, `r=${r}: ${sum} vs ${Math.PI * r * r}`);
    }
    // A circle inside one pixel, and a pixel inside a circle.
    assert.ok(
      Math.abs(circleOverlap(0, 0, 0.3) - Math.PI * 0.09) < 1e-12,
      'Math.abs(circleOverlap(0, 0, 0.3) - Math.PI * 0.09) < 1e-12',
    );
    assert.equal(circleOverlap(0, 0, 1), 1);
    // Half a pixel: the circle's edge through the pixel's centre is nearly straight for a big circle.
    assert.ok(
      Math.abs(circleOverlap(1000, 0, 1000) - 0.5) < 1e-3,
      'Math.abs(circleOverlap(1000, 0, 1000) - 0.5) < 1e-3',
    );
  });

  test('ellipse overlaps sum to π·a·b', () => {
    // cxx dx² + cyy dy² + cxy dx dy ≤ R² for a rotated ellipse with a = 4, b = 1.5.
    const a = 4;
    const b = 1.5;
    const th = 0.6;
    const c = Math.cos(th);
    const s = Math.sin(th);
    const cxx = (c * c) / (a * a) + (s * s) / (b * b);
    const cyy = (s * s) / (a * a) + (c * c) / (b * b);
    const cxy = 2 * c * s * (1 / (a * a) - 1 / (b * b));
    const f = ellipseFrame(cxx, cyy, cxy, 1)!;
    let sum = 0;
    for (let y = -8; y <= 8; y++) for (let x = -8; x <= 8; x++) sum += ellipseOverlap(x - 0.2, y + 0.1, f);
    assert.ok(Math.abs(sum - Math.PI * a * b) < 1e-9, `${sum}`);
    assert.equal(ellipseFrame(-1, 1, 0, 1), undefined);
  });

  test('straight-edge fraction (windowed edge pixels) against the exact overlap', () => {
    let worst = 0;
    for (let k = 0; k < 200; k++) {
      const dx = -6 + ((k * 0.37) % 12);
      const dy = -6 + ((k * 0.73) % 12);
      const r2 = dx * dx + dy * dy;
      worst = Math.max(worst, Math.abs(edgeFraction(5, dx, dy, r2) - circleOverlap(dx, dy, 5)));
    }
    assert.ok(worst < 0.05, `worst ${worst}`);
  });

  test('aperture flux of a flat image is the area; errors are √(σ²·area + flux/gain)', () => {
    const w = 41;
    const data = new Float32Array(w * w).fill(0);
    addGaussian(data, w, w, 20.3, 20.6, 10000, 1.2);
    const r = extractSources(plane(data, w, w, 2, { gain: 4 }), { config: { photApertures: [10, 30] } });
    assert.equal(r.sources.length, 1);
    const s = r.sources[0];
    const big = s.fluxAper[1];
    assert.ok(Math.abs(big.flux / 10000 - 1) < 1e-4, `${big.flux}`);
    const area = Math.PI * 15 * 15;
    assert.ok(Math.abs(big.error - Math.sqrt(4 * area + big.flux / 4)) < 1e-3 * big.error, `${big.error}`);
  });
});

describe('background subtraction by rows on the pool', () => {
  test('is bit for bit image − interpolateMesh, and meshBackgroundAt is the map at a pixel', async () => {
    for (const [w, h, mesh] of [
      [300, 200, 32],
      [64, 100, 64],
      [130, 40, 128],
    ]) {
      const data = noiseImage(w, h, 5, w);
      for (let i = 0; i < data.length; i++) data[i] += 100 + 0.05 * (i % w) - 0.02 * Math.floor(i / w);
      const m = measureBackgroundMesh({ width: w, height: h, data }, { meshSize: mesh, filterSize: 3 });
      const level = interpolateMesh(m, m.level, w, h);
      const out = sharedFloat32(w * h);
      out.set(data);
      await interpolateMeshThreaded(m, m.level, w, h, out, { subtract: true });
      const at = meshBackgroundAt(m);
      for (let i = 0; i < out.length; i++) {
        if (out[i] !== Math.fround(data[i] - level[i]))
          assert.fail(`pixel ${i}: ${out[i]} vs ${data[i] - level[i]}`);
      }
      for (const [x, y] of [
        [0, 0],
        [w - 1, h - 1],
        [17, 33 % h],
        [w >> 1, h >> 1],
      ]) {
        assert.equal(at(x, y), level[y * w + x]);
      }
    }
  });
});

describe('detection', () => {
  test('Lutz segmentation: 8-connected components, minimum area, every pixel once', () => {
    const w = 97;
    const h = 61;
    const g = gaussianNoise(11);
    const filt = Float32Array.from({ length: w * h }, () => g());
    const comps = segmentImage(filt, w, h, 0.8, undefined, 1);
    // Flood fill as the reference.
    const label = new Int32Array(w * h).fill(-1);
    let n = 0;
    for (let p = 0; p < w * h; p++) {
      if (!(filt[p] > 0.8) || label[p] >= 0) continue;
      const stack = [p];
      label[p] = n;
      while (stack.length) {
        const q = stack.pop()!;
        const x = q % w;
        const y = (q - x) / w;
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const xx = x + dx;
            const yy = y + dy;
            if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
            const r = yy * w + xx;
            if (filt[r] > 0.8 && label[r] < 0) {
              label[r] = n;
              stack.push(r);
            }
          }
        }
      }
      n++;
    }
    assert.equal(comps.length, n);
    const seen = new Uint8Array(w * h);
    for (const c of comps) {
      const l = label[c.pixels[0]];
      for (const p of c.pixels) {
        assert.equal(label[p], l);
        assert.equal(seen[p], 0);
        seen[p] = 1;
      }
    }
    // Minimum area drops the small ones.
    const big = segmentImage(filt, w, h, 0.8, undefined, 5);
    assert.equal(big.length, comps.filter((c) => c.pixels.length >= 5).length);
    // Diagonal neighbours join (8-connectivity).
    const d = new Float32Array(9);
    d[0] = 1;
    d[4] = 1;
    d[8] = 1;
    assert.equal(segmentImage(d, 3, 3, 0.5, undefined, 1).length, 1);
  });

  test('thresholds in σ of the noise; a per-pixel noise map raises the threshold where it is high', () => {
    const w = 80;
    const h = 40;
    const data = noiseImage(w, h, 1, 5);
    addGaussian(data, w, h, 20, 20, 150, 1.5);
    addGaussian(data, w, h, 60, 20, 150, 1.5);
    const flat = extractSources(plane(data, w, h, 1), { config: { detectThresh: 3, analysisThresh: 3 } });
    assert.equal(flat.sources.length, 2);
    // Ten times the noise on the right half: the right source is below 3σ there.
    const sigma = Float32Array.from({ length: w * h }, (_, i) => (i % w >= 40 ? 10 : 1));
    const mapped = extractSources(plane(data, w, h, sigma), {
      config: { detectThresh: 3, analysisThresh: 3 },
    });
    assert.equal(mapped.sources.length, 1);
    assert.ok(mapped.sources[0].x < 40, 'mapped.sources[0].x < 40');
    // ABSOLUTE thresholds are in image units.
    const abs = extractSources(plane(data, w, h, 1), {
      config: { threshType: 'ABSOLUTE', detectThresh: 30, analysisThresh: 30 },
    });
    assert.equal(abs.sources.length, 0);
  });

  test('deblending splits two close sources (MERGED); DEBLEND_MINCONT 1 or NTHRESH 1 keeps one', () => {
    const w = 60;
    const data = noiseImage(w, w, 1, 7);
    addGaussian(data, w, w, 26, 30, 5000, 1.6);
    addGaussian(data, w, w, 33, 30, 3000, 1.6);
    const r = extractSources(plane(data, w, w, 1));
    assert.equal(r.sources.length, 2);
    for (const s of r.sources) assert.ok(s.flags & Flag.MERGED, 's.flags & Flag.MERGED');
    const a = nearest(r.sources, 26, 30);
    const b = nearest(r.sources, 33, 30);
    assert.ok(a.d < 0.7 && b.d < 0.7, `${a.d} ${b.d}`);
    assert.ok(a.s.fluxIso.flux > b.s.fluxIso.flux, 'a.s.fluxIso.flux > b.s.fluxIso.flux');
    assert.equal(extractSources(plane(data, w, w, 1), { config: { deblendMinCont: 1 } }).sources.length, 1);
    const one = extractSources(plane(data, w, w, 1), { config: { deblendNThresh: 1 } });
    assert.equal(one.sources.length, 1);
    assert.equal(one.sources[0].flags & Flag.MERGED, 0);
  });

  test('cleaning removes a spurious detection in the wing of a bright source', () => {
    const w = 80;
    const data = new Float32Array(w * w);
    // A bright star, and a faint bump beyond its isophote, where the cleaning model's wings
    // (a Moffat profile with β = CLEAN_PARAM) outshine the bump.
    addGaussian(data, w, w, 40, 40, 2e5, 2.0);
    addGaussian(data, w, w, 52, 40.3, 25, 0.9);
    const config = { filter: false, deblendNThresh: 1 };
    const kept = extractSources(plane(data, w, w, 1), { config: { ...config, clean: false } });
    const cleaned = extractSources(plane(data, w, w, 1), { config: { ...config, clean: true } });
    assert.equal(kept.sources.length, 2);
    assert.equal(cleaned.sources.length, 1);
    assert.ok(Math.abs(cleaned.sources[0].x - 40) < 0.01, 'the star survives');
    // A steeper cleaning profile (larger CLEAN_PARAM) spares the bump.
    assert.equal(
      extractSources(plane(data, w, w, 1), { config: { ...config, clean: true, cleanParam: 3 } }).sources
        .length,
      2,
    );
  });

  test("SourceExtractor's cleaning-threshold heap: the (n+1)-th value is dropped", () => {
    // As examineiso: fill with n values, sort at the (n+1)-th (which is lost), then push.
    const run = (values: number[], n: number) => {
      const heap = new Float32Array(n);
      let h = n;
      for (const v of values) {
        if (h > 0) heap[n - h] = v;
        else if (h < 0) heapPush(heap, n, v);
        else heap.sort();
        h--;
      }
      return heap[0];
    };
    // Six values: the sixth (9) is never counted, so the 5th largest is 1, not 2.
    assert.equal(run([1, 2, 3, 4, 5, 9], 5), 1);
    // Eight values: the 5th largest of all but the sixth (8, 7, 5, 4, 3).
    assert.equal(run([1, 2, 3, 4, 5, 6, 7, 8], 5), 3);
    // Exactly n values: the heap is never sorted and holds the first value.
    assert.equal(run([4, 1, 2, 3, 5], 5), 4);
  });
});

describe('measurement', () => {
  test('barycentre, second moments, ellipse and FWHM of an elliptical Gaussian', () => {
    const w = 64;
    const data = new Float32Array(w * w);
    const sx = 3;
    const sy = 1.5;
    const th = Math.PI / 6;
    addGaussian(data, w, w, 31.3, 32.6, 1e5, sx, sy, th);
    const r = extractSources(plane(data, w, w, 1), {
      config: { filter: false, detectThresh: 5, analysisThresh: 5 },
    });
    assert.equal(r.sources.length, 1);
    const s = r.sources[0];
    assert.ok(Math.abs(s.x - 31.3) < 0.01 && Math.abs(s.y - 32.6) < 0.01, `${s.x} ${s.y}`);
    assert.ok(Math.abs(s.win.x - 31.3) < 0.002 && Math.abs(s.win.y - 32.6) < 0.002, `${s.win.x} ${s.win.y}`);
    // Moments within the isophote are a little smaller than the Gaussian's; the angle is right.
    assert.ok(Math.abs(s.theta - 30) < 0.5, `theta ${s.theta}`);
    assert.ok(s.a > 0.85 * sx && s.a < sx && s.b > 0.85 * sy && s.b < sy * 1.05, `${s.a} ${s.b}`);
    assert.ok(Math.abs(s.a / s.b - sx / sy) < 0.2, 'Math.abs(s.a / s.b - sx / sy) < 0.2');
    // Windowed flux of a Gaussian through a matched Gaussian window ≈ half the flux … and FLUX_AUTO ≈ all of it.
    assert.ok(Math.abs(s.fluxAuto.flux / 1e5 - 1) < 0.03, `${s.fluxAuto.flux}`);
    assert.ok(Math.abs(s.fluxRadius[0] - 1.1774 * Math.sqrt(sx * sy)) < 0.3, `${s.fluxRadius[0]}`);
    // A round Gaussian's FWHM.
    const round = new Float32Array(w * w);
    addGaussian(round, w, w, 30.5, 30.2, 1e5, 2);
    const f = extractSources(plane(round, w, w, 1), {
      config: { filter: false, detectThresh: 5, analysisThresh: 5 },
    }).sources[0];
    assert.ok(Math.abs(f.fwhm - 2.3548 * 2) < 0.35, `fwhm ${f.fwhm}`);
  });

  test('flags: truncated at the edge, apertures beyond the image, saturated', () => {
    const w = 64;
    const data = noiseImage(w, w, 1, 9);
    addGaussian(data, w, w, 0.8, 30, 4000, 1.5);
    addGaussian(data, w, w, 8, 50, 4000, 1.5);
    addGaussian(data, w, w, 40, 30, 200000, 1.5);
    const r = extractSources(plane(data, w, w, 1, { background: 100, saturation: 10000 }), {
      config: { photApertures: [20] },
    });
    const edge = nearest(r.sources, 0.8, 30).s;
    assert.ok(edge.flags & Flag.TRUNCATED, 'edge.flags & Flag.TRUNCATED');
    assert.ok(edge.flags & Flag.APERTURE_INCOMPLETE, 'edge.flags & Flag.APERTURE_INCOMPLETE');
    const near = nearest(r.sources, 8, 50).s;
    assert.ok(near.flags & Flag.APERTURE_INCOMPLETE, 'near.flags & Flag.APERTURE_INCOMPLETE');
    assert.equal(near.flags & Flag.TRUNCATED, 0);
    const bright = nearest(r.sources, 40, 30).s;
    assert.ok(bright.flags & Flag.SATURATED, 'bright.flags & Flag.SATURATED');
    assert.equal(bright.flags & Flag.APERTURE_INCOMPLETE, 0);
  });

  test('neighbours: masked (CORRECT mirrors them, BLANK zeroes them), CROWDED when they cover > 10%', () => {
    const w = 80;
    const data = noiseImage(w, w, 1, 13);
    addGaussian(data, w, w, 35, 40, 8000, 1.5);
    addGaussian(data, w, w, 42, 40, 80000, 1.5);
    const opts = (maskType: 'NONE' | 'BLANK' | 'CORRECT'): ExtractOptions => ({
      config: { maskType, photApertures: [16] },
    });
    const none = nearest(extractSources(plane(data, w, w, 1), opts('NONE')).sources, 35, 40).s;
    const corr = nearest(extractSources(plane(data, w, w, 1), opts('CORRECT')).sources, 35, 40).s;
    const blank = nearest(extractSources(plane(data, w, w, 1), opts('BLANK')).sources, 35, 40).s;
    // Without masking the bright neighbour's light enters the aperture.
    assert.ok(none.fluxAper[0].flux > 2 * 8000, `${none.fluxAper[0].flux}`);
    assert.ok(Math.abs(corr.fluxAper[0].flux / 8000 - 1) < 0.1, `${corr.fluxAper[0].flux}`);
    assert.ok(
      blank.fluxAper[0].flux < corr.fluxAper[0].flux,
      'blank.fluxAper[0].flux < corr.fluxAper[0].flux',
    );
    assert.ok(corr.flags & Flag.CROWDED, 'corr.flags & Flag.CROWDED');
    assert.equal(none.flags & Flag.CROWDED, 0);
  });

  test('pixels without data (NaN or masked) are not detected and do not count', () => {
    const w = 50;
    const data = noiseImage(w, w, 1, 17);
    addGaussian(data, w, w, 25, 25, 5000, 1.5);
    const mask = new Uint8Array(w * w);
    for (let x = 0; x < w; x++) {
      data[10 * w + x] = Number.NaN;
      mask[40 * w + x] = MaskBit.COSMIC_RAY;
      data[40 * w + x] = 1e6;
    }
    const img: Image = { width: w, height: w, data, mask };
    const r = extractSources({ image: img, noise: 1 }, { config: { photApertures: [6] } });
    assert.equal(r.sources.length, 1);
    assert.ok(
      Number.isFinite(r.sources[0].fluxAper[0].flux),
      'Number.isFinite(r.sources[0].fluxAper[0].flux)',
    );
    // An aperture over masked pixels takes their mirror images.
    const b = noiseImage(w, w, 1, 19);
    addGaussian(b, w, w, 25, 25, 5000, 1.5);
    const bm = new Uint8Array(w * w);
    bm[25 * w + 27] = MaskBit.BAD;
    b[25 * w + 27] = 1e6;
    const s = extractSources(
      { image: { width: w, height: w, data: b, mask: bm }, noise: 1 },
      { config: { photApertures: [8] } },
    ).sources[0];
    assert.ok(Math.abs(s.fluxAper[0].flux / 5000 - 1) < 0.05, `${s.fluxAper[0].flux}`);
  });

  test('dual-image mode: detection on one image, measurement on another', () => {
    const w = 60;
    const det = noiseImage(w, w, 1, 21);
    addGaussian(det, w, w, 20, 30, 3000, 1.5);
    addGaussian(det, w, w, 40, 30, 3000, 1.5);
    // The measurement image holds the first source ten times brighter and not the second.
    const meas = noiseImage(w, w, 2, 23);
    addGaussian(meas, w, w, 20, 30, 30000, 1.5);
    const r = extractSources(plane(det, w, w, 1), { config: { photApertures: [10] } }, plane(meas, w, w, 2));
    assert.equal(r.sources.length, 2);
    const a = nearest(r.sources, 20, 30).s;
    const b = nearest(r.sources, 40, 30).s;
    assert.ok(Math.abs(a.fluxAper[0].flux / 30000 - 1) < 0.05, `${a.fluxAper[0].flux}`);
    assert.ok(Math.abs(b.fluxAper[0].flux) < 200, `${b.fluxAper[0].flux}`);
    // Errors from the measurement image's noise.
    assert.ok(
      Math.abs(a.fluxAper[0].error - 2 * Math.sqrt(Math.PI * 25)) < 0.5,
      'Math.abs(a.fluxAper[0].error - 2 * Math.sqrt(Math.PI * 25)) < 0.5',
    );
  });

  test('both signs: sources fainter than the reference (negative) with sign −1', () => {
    const w = 60;
    const data = noiseImage(w, w, 1, 29);
    addGaussian(data, w, w, 15, 30, 2000, 1.5);
    addGaussian(data, w, w, 45, 30, -2500, 1.5);
    const pos = extractSources(plane(data, w, w, 1));
    assert.equal(pos.sources.length, 1);
    const both = extractSources(plane(data, w, w, 1), { negative: true, config: { photApertures: [10] } });
    assert.equal(both.sources.length, 2);
    const neg = both.sources.find((s) => s.sign === -1)!;
    assert.ok(Math.abs(neg.x - 45) < 0.1, 'Math.abs(neg.x - 45) < 0.1');
    assert.ok(Math.abs(neg.fluxAper[0].flux / 2500 - 1) < 0.1, 'measured on −image: a positive flux');
    assert.deepEqual(
      both.sources.map((s) => s.number),
      [1, 2],
    );
  });

  test('Scorr-like detection in σ units (noise 1) with its own threshold, measured on a difference image', () => {
    const w = 64;
    const scorr = noiseImage(w, w, 1, 31);
    addGaussian(scorr, w, w, 30, 30, 60, 1.2); // a 6σ-ish peak after filtering
    const diff = noiseImage(w, w, 5, 37);
    addGaussian(diff, w, w, 30, 30, 900, 1.2);
    const r = extractSources(
      plane(scorr, w, w, 1),
      { config: { filter: false, detectThresh: 3, analysisThresh: 3, detectMinArea: 3 } },
      plane(diff, w, w, 5),
    );
    const s = nearest(r.sources, 30, 30);
    assert.ok(s.d < 0.5, 's.d < 0.5');
    assert.ok(Math.abs(s.s.fluxAuto.flux - 900) < 150, `${s.s.fluxAuto.flux}`);
  });

  test('PSF-fit photometry: exact on a noiseless star, unbiased with noise, position fit converges', () => {
    const w = 64;
    const psf = new GaussianPsf(1.1);
    const clean = new Float32Array(w * w);
    addGaussian(clean, w, w, 30.3, 31.8, 20000, 1.1);
    const exact = extractSources(plane(clean, w, w, 1), { psf }).sources[0];
    assert.ok(exact.psf, 'exact.psf');
    assert.ok(Math.abs(exact.psf!.flux / 20000 - 1) < 2e-3, `${exact.psf!.flux}`);
    assert.equal(exact.psf!.flag, 0);
    const ratios: number[] = [];
    for (let k = 0; k < 40; k++) {
      const data = noiseImage(w, w, 3, 100 + k);
      const x0 = 30 + ((k * 0.37) % 1);
      const y0 = 31 + ((k * 0.61) % 1);
      addGaussian(data, w, w, x0, y0, 3000, 1.1);
      const s = extractSources(plane(data, w, w, 3, { gain: 1 }), {
        psf,
        psfFit: { fitPosition: k % 2 === 1 },
      }).sources[0];
      ratios.push(s.psf!.flux / 3000);
      if (k % 2 === 1)
        assert.ok(
          Math.hypot(s.psf!.x - x0, s.psf!.y - y0) < 0.1,
          'Math.hypot(s.psf!.x - x0, s.psf!.y - y0) < 0.1',
        );
    }
    const mean = ratios.reduce((a, b) => a + b, 0) / ratios.length;
    assert.ok(Math.abs(mean - 1) < 0.01, `mean ratio ${mean}`);
    // Near the edge the stamp is truncated and says so.
    const edge = new Float32Array(w * w);
    addGaussian(edge, w, w, 2.2, 30, 20000, 1.1);
    const e = extractSources(plane(edge, w, w, 1), { psf }).sources[0];
    assert.ok(e.psf!.flag & PsfFlag.TRUNCATED, 'e.psf!.flag & PsfFlag.TRUNCATED');
    assert.ok(Math.abs(e.psf!.flux / 20000 - 1) < 0.01, 'Math.abs(e.psf!.flux / 20000 - 1) < 0.01');
  });

  test('a PSF stamp model (--psf): normalised, shifted by Lanczos-3', () => {
    const size = 21;
    const stamp = new Float32Array(size * size);
    addGaussian(stamp, size, size, 10, 10, 7, 2.0);
    const m = new StampPsf(stamp, size);
    const s = m.stamp(5.3, 7.8);
    assert.ok(
      Math.abs(s.reduce((a, b) => a + b, 0) - 1) < 1e-6,
      'Math.abs(s.reduce((a, b) => a + b, 0) - 1) < 1e-6',
    );
    const ref = new Float32Array(size * size);
    addGaussian(ref, size, size, 10.3, 9.8, 1, 2.0);
    let worst = 0;
    for (let i = 0; i < s.length; i++) worst = Math.max(worst, Math.abs(s[i] - ref[i]));
    assert.ok(worst < 1e-2 * Math.max(...ref), `worst ${worst}`);
    assert.ok(Math.abs(m.fwhm() - 2.3548 * 2) < 0.2, 'Math.abs(m.fwhm() - 2.3548 * 2) < 0.2');
    assert.throws(() => new StampPsf(new Float32Array(16), 4), /odd/);
  });

  test('sky positions through a WCS', () => {
    const w = 40;
    const data = noiseImage(w, w, 1, 41);
    addGaussian(data, w, w, 20, 15, 3000, 1.5);
    const wcs = { pixelToSky: (x: number, y: number) => ({ ra: 10 + x * 1e-4, dec: -5 + y * 1e-4 }) };
    const s = extractSources(plane(data, w, w, 1), { wcs }).sources[0];
    assert.ok(
      Math.abs(s.sky!.ra - (10 + s.x * 1e-4)) < 1e-12,
      'Math.abs(s.sky!.ra - (10 + s.x * 1e-4)) < 1e-12',
    );
    assert.ok(
      Math.abs(s.skyWin!.dec - (-5 + s.win.y * 1e-4)) < 1e-12,
      'Math.abs(s.skyWin!.dec - (-5 + s.win.y * 1e-4)) < 1e-12',
    );
  });

  test('the measurement threads give the same catalog as one thread', async () => {
    const w = 128;
    const data = noiseImage(w, w, 1, 43);
    const g = gaussianNoise(47);
    for (let k = 0; k < 40; k++)
      addGaussian(
        data,
        w,
        w,
        5 + (Math.abs(g() * 40) % 118),
        5 + (Math.abs(g() * 40) % 118),
        500 + 300 * Math.abs(g()),
        1.3,
      );
    const opts: ExtractOptions = { config: { photApertures: [3, 6] }, negative: true };
    const one = extractSources(plane(data, w, w, 1), opts);
    const two = await extractSourcesParallel(plane(data, w, w, 1), { ...opts, threads: 2 });
    assert.equal(two.sources.length, one.sources.length);
    assert.deepEqual(two.sources, one.sources);
  });

  test('bad input: wrong sizes are programming errors', () => {
    const w = 10;
    assert.throws(() => extractSources(plane(new Float32Array(99), w, w, 1)), RangeError);
    assert.throws(() => extractSources(plane(new Float32Array(100), w, w, 0)), RangeError);
    assert.throws(
      () =>
        extractSources(plane(new Float32Array(100), w, w, 1), {}, plane(new Float32Array(121), 11, 11, 1)),
      RangeError,
    );
  });
});
