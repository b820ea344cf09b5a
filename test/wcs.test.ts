/**
 * The WCS module on its own: header reading, conventions, round trips, local geometry,
 * footprint, header writing. Cross-checks with wcstools and astropy are in wcs-reference.test.ts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Header } from '../src/fits/header.ts';
import { BadInputError, ExitCode } from '../src/util/errors.ts';
import { Wcs, type WcsParameters } from '../src/wcs/index.ts';
import { evaluatePair, Poly2 } from '../src/wcs/polynomial.ts';
import {
  comparePixels,
  compareSky,
  REFERENCE_HEADERS,
  ROMAN_SCALE,
  ROMAN_SIZE,
  random,
  readHeaderFile,
  romanHeader,
  samplePixels,
  separation,
  WCS_DATA,
} from './support/wcs.ts';

const reference = (name: string) => readHeaderFile(join(WCS_DATA, name));

/** A header from cards given as [key, value] pairs. */
function header(cards: [string, string | number | boolean][]): Header {
  const h = new Header();
  for (const [k, v] of cards) h.set(k, v);
  return h;
}

const SIMPLE_TAN: [string, string | number][] = [
  ['NAXIS', 2],
  ['NAXIS1', 100],
  ['NAXIS2', 80],
  ['CTYPE1', 'RA---TAN'],
  ['CTYPE2', 'DEC--TAN'],
  ['CRPIX1', 50.5],
  ['CRPIX2', 40.5],
  ['CRVAL1', 150],
  ['CRVAL2', 2.2],
  ['CD1_1', -2.8e-4],
  ['CD1_2', 0],
  ['CD2_1', 0],
  ['CD2_2', 2.8e-4],
];

function withCards(
  base: [string, string | number | boolean][],
  changes: Record<string, string | number | undefined>,
) {
  const h = header(base);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) h.delete(k);
    else h.set(k, v);
  }
  return h;
}

function maxSkyDifference(a: Wcs, b: Wcs, width: number, height: number): number {
  const pts = samplePixels(width, height, 100);
  return compareSky(a.pixelToSky(pts.x, pts.y), b.pixelToSky(pts.x, pts.y)).max;
}

function expectBadInput(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof BadInputError, `expected BadInputError, got ${err}`);
    assert.equal(err.exitCode, ExitCode.BAD_INPUT);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('polynomials', () => {
  const rng = random(5);
  const poly = (order: number) => Poly2.from(order, () => rng() - 0.5);

  test('Horner evaluation equals the explicit sum, derivatives and swap too', () => {
    const p = poly(4);
    const explicit = (u: number, v: number) => {
      let s = 0;
      for (let i = 0; i <= 4; i++) for (let j = 0; j <= 4 - i; j++) s += p.get(i, j) * u ** i * v ** j;
      return s;
    };
    for (const [u, v] of [
      [0.3, -0.7],
      [1.5, 2],
      [-2, 0.1],
    ]) {
      assert.ok(Math.abs(p.at(u, v) - explicit(u, v)) < 1e-12);
      const h = 1e-6;
      assert.ok(
        Math.abs(p.derivativeU().at(u, v) - (explicit(u + h, v) - explicit(u - h, v)) / (2 * h)) < 1e-6,
      );
      assert.ok(
        Math.abs(p.derivativeV().at(u, v) - (explicit(u, v + h) - explicit(u, v - h)) / (2 * h)) < 1e-6,
      );
      assert.ok(Math.abs(p.swapped().at(v, u) - p.at(u, v)) < 1e-12);
      const row = new Float64Array(5);
      p.alongU(v, row);
      assert.ok(Math.abs(row.reduce((s, c, k) => s + c * u ** k, 0) - p.at(u, v)) < 1e-12);
    }
  });

  test('the unrolled pair evaluation (order ≤ 5) and the loops (order > 5) agree with Poly2.at', () => {
    for (const order of [0, 1, 2, 3, 5, 7]) {
      const a = poly(order);
      const b = poly(order === 7 ? 2 : order);
      const n = 50;
      const u = Float64Array.from({ length: n }, () => 4 * rng() - 2);
      const v = Float64Array.from({ length: n }, () => 4 * rng() - 2);
      const outA = new Float64Array(n);
      const outB = new Float64Array(n);
      evaluatePair(a, b, u, v, outA, outB, n, false);
      for (let i = 0; i < n; i++) {
        assert.equal(outA[i], a.at(u[i], v[i]), `order ${order}`);
        assert.equal(outB[i], b.at(u[i], v[i]), `order ${order}`);
      }
      evaluatePair(a, b, u, v, outA, outB, n, true);
      for (let i = 0; i < n; i++) assert.equal(outA[i], u[i] + a.at(u[i], v[i]));
    }
  });
});

describe('reading headers', () => {
  test('every reference header gives a WCS of the expected kind', () => {
    const kinds: Record<string, [string, boolean, boolean, boolean]> = {
      '1904-66_TAN.hdr': ['TAN', false, false, false],
      '1904-66_SIN.hdr': ['SIN', false, false, false],
      '1904-66_ZPN.hdr': ['ZPN', false, false, false],
      'irac_sip.hdr': ['TAN', true, true, false],
      'siponly.hdr': ['TAN', true, true, false],
      'tpvonly.hdr': ['TAN', false, false, true],
      'sip.fits': ['TAN', true, true, false],
      'sip2.fits': ['TAN', true, false, false],
    };
    for (const name of REFERENCE_HEADERS) {
      const w = Wcs.fromHeader(reference(name));
      const [code, sip, inverse, tpv] = kinds[name];
      assert.equal(w.projection.code, code, name);
      assert.equal(w.sip !== undefined, sip, name);
      assert.equal(w.sip?.hasInverse ?? false, inverse, name);
      assert.equal(w.tpv !== undefined, tpv, name);
      assert.deepEqual(w.axes, ['RA', 'DEC']);
    }
  });

  test('known positions (wcstools xy2sky, 13 decimals) without running the tools', () => {
    // xy2sky -d -n 13 irac_sip.hdr 1 1 128 128 256.5 3.25 (1-based pixels)
    const w = Wcs.fromHeader(reference('irac_sip.hdr'));
    const expected = [
      [1, 1, 6.1350087201896, -2.1298201993961],
      [128, 128, 6.1550134761905, -2.0723079888894],
      [256.5, 3.25, 6.0982450160067, -2.0515769544322],
    ];
    for (const [x, y, ra, dec] of expected) {
      const p = w.pixelToSky(x, y, { origin: 1 });
      assert.ok(separation(p.ra, p.dec, ra, dec) < 1e-12, `${x},${y}: ${p.ra} ${p.dec}`);
    }
  });

  test('0-based by default, 1-based on request; CRPIX (1-based) maps to CRVAL', () => {
    const w = Wcs.fromHeader(reference('siponly.hdr'));
    const a = w.pixelToSky(10, 20);
    const b = w.pixelToSky(11, 21, { origin: 1 });
    assert.deepEqual(a, b);
    const p = w.skyToPixel(a.ra, a.dec, { origin: 1 });
    assert.ok(Math.abs(p.x - 11) < 1e-9 && Math.abs(p.y - 21) < 1e-9);
    const c = w.pixelToSky(w.crpix[0], w.crpix[1], { origin: 1 });
    assert.ok(separation(c.ra, c.dec, w.crval[0], w.crval[1]) < 1e-13);
    assert.throws(() => w.pixelToSky(0, 0, { origin: 2 as 0 }), RangeError);
  });

  test('CD, PC with CDELT, and CDELT with CROTA2 describe the same transform', () => {
    const rho = 23.5;
    const c = Math.cos((rho * Math.PI) / 180);
    const s = Math.sin((rho * Math.PI) / 180);
    const [d1, d2] = [-2.8e-4, 3.1e-4];
    const base = SIMPLE_TAN.filter(([k]) => !k.startsWith('CD'));
    const cd = withCards(base, { CD1_1: d1 * c, CD1_2: -d2 * s, CD2_1: d1 * s, CD2_2: d2 * c });
    const pc = withCards(base, {
      CDELT1: d1,
      CDELT2: d2,
      PC1_1: c,
      PC1_2: (-d2 / d1) * s,
      PC2_1: (d1 / d2) * s,
      PC2_2: c,
    });
    const crota = withCards(base, { CDELT1: d1, CDELT2: d2, CROTA2: rho });
    const w = Wcs.fromHeader(cd);
    assert.ok(maxSkyDifference(w, Wcs.fromHeader(pc), 100, 80) < 1e-12);
    assert.ok(maxSkyDifference(w, Wcs.fromHeader(crota), 100, 80) < 1e-12);
    // Precedence as in wcslib: PC over CD (with a warning), CD over CROTA2.
    const warnings: string[] = [];
    const both = withCards(base, {
      CD1_1: 1,
      CD1_2: 0,
      CD2_1: 0,
      CD2_2: 1,
      CDELT1: d1,
      CDELT2: d2,
      CROTA2: 0,
    });
    both.set('PC1_1', c);
    both.set('PC1_2', (-d2 / d1) * s);
    both.set('PC2_1', (d1 / d2) * s);
    both.set('PC2_2', c);
    assert.ok(maxSkyDifference(w, Wcs.fromHeader(both, { warn: (m) => warnings.push(m) }), 100, 80) < 1e-12);
    assert.match(warnings.join('\n'), /both PCi_j and CDi_j/);
    const cdAndCrota = withCards(SIMPLE_TAN, { CROTA2: 40, CDELT1: 1, CDELT2: 1 });
    assert.ok(
      maxSkyDifference(Wcs.fromHeader(header(SIMPLE_TAN)), Wcs.fromHeader(cdAndCrota), 100, 80) < 1e-15,
    );
  });

  test('CUNIT in arcsec scales CRVAL and CD', () => {
    const deg = Wcs.fromHeader(header(SIMPLE_TAN));
    const arcsec = withCards(SIMPLE_TAN, {
      CUNIT1: 'arcsec',
      CUNIT2: 'arcsec',
      CRVAL1: 150 * 3600,
      CRVAL2: 2.2 * 3600,
      CD1_1: -2.8e-4 * 3600,
      CD2_2: 2.8e-4 * 3600,
    });
    assert.ok(maxSkyDifference(deg, Wcs.fromHeader(arcsec), 100, 80) < 1e-12);
    expectBadInput(
      () => Wcs.fromHeader(withCards(SIMPLE_TAN, { CUNIT1: 'Hz' })),
      /CUNIT1 = 'Hz' is not an angle unit/,
    );
  });

  test('LONPOLE defaults to 180°, and to 0° when CRVAL2 is +90°', () => {
    const w = Wcs.fromHeader(header(SIMPLE_TAN));
    assert.equal(w.lonpole, 180);
    assert.equal(w.latpole, 90);
    assert.ok(maxSkyDifference(w, Wcs.fromHeader(withCards(SIMPLE_TAN, { LONPOLE: 180 })), 100, 80) === 0);
    const pole = Wcs.fromHeader(withCards(SIMPLE_TAN, { CRVAL2: 90 }));
    assert.equal(pole.lonpole, 0);
    const explicit = Wcs.fromHeader(withCards(SIMPLE_TAN, { CRVAL2: 90, LONPOLE: 0 }));
    assert.ok(maxSkyDifference(pole, explicit, 100, 80) === 0);
    // A different LONPOLE rotates the sky about the reference point.
    const turned = Wcs.fromHeader(withCards(SIMPLE_TAN, { LONPOLE: 170 }));
    assert.ok(maxSkyDifference(w, turned, 100, 80) > 1e-3);
  });

  test('latitude on axis 1 gives the same transform as the usual order', () => {
    const swapped = withCards(SIMPLE_TAN, {
      CTYPE1: 'DEC--TAN',
      CTYPE2: 'RA---TAN',
      CRVAL1: 2.2,
      CRVAL2: 150,
      CD1_1: 0,
      CD1_2: 2.8e-4,
      CD2_1: -2.8e-4,
      CD2_2: 0,
    });
    // World axis 1 (DEC) = 2.8e-4·v and axis 2 (RA) = −2.8e-4·u: the plain header's transform.
    assert.ok(maxSkyDifference(Wcs.fromHeader(header(SIMPLE_TAN)), Wcs.fromHeader(swapped), 100, 80) < 1e-13);
  });

  test('galactic axes are read (longitude/latitude in that frame)', () => {
    const w = Wcs.fromHeader(withCards(SIMPLE_TAN, { CTYPE1: 'GLON-TAN', CTYPE2: 'GLAT-TAN' }));
    assert.deepEqual(w.axes, ['GLON', 'GLAT']);
    assert.equal(w.toHeader().get('CTYPE1'), 'GLON-TAN');
  });

  test('PV cards on a plain TAN are ignored with a warning; TPV without PV cards is TAN', () => {
    const warnings: string[] = [];
    const pv = withCards(SIMPLE_TAN, { PV1_1: 1, PV2_1: 1, PV1_5: 0.01, PV2_7: 0.02 });
    const w = Wcs.fromHeader(pv, { warn: (m) => warnings.push(m) });
    assert.equal(maxSkyDifference(w, Wcs.fromHeader(header(SIMPLE_TAN)), 100, 80), 0);
    assert.match(warnings.join('\n'), /PVi_m cards ignored/);
    warnings.length = 0;
    const tpv = Wcs.fromHeader(withCards(SIMPLE_TAN, { CTYPE1: 'RA---TPV', CTYPE2: 'DEC--TPV' }), {
      warn: (m) => warnings.push(m),
    });
    assert.equal(tpv.tpv, undefined);
    assert.match(warnings.join('\n'), /no PV1_k\/PV2_k/);
  });

  test('SIP coefficients without the -SIP suffix are applied with a warning (as astropy)', () => {
    const warnings: string[] = [];
    const sip = { A_ORDER: 2, B_ORDER: 2, A_2_0: 1e-5, B_0_2: -2e-5 };
    const plain = Wcs.fromHeader(withCards(SIMPLE_TAN, sip), { warn: (m) => warnings.push(m) });
    const suffixed = Wcs.fromHeader(
      withCards(SIMPLE_TAN, { ...sip, CTYPE1: 'RA---TAN-SIP', CTYPE2: 'DEC--TAN-SIP' }),
    );
    assert.equal(maxSkyDifference(plain, suffixed, 100, 80), 0);
    assert.match(warnings.join('\n'), /no -SIP suffix/);
    assert.ok(maxSkyDifference(plain, Wcs.fromHeader(header(SIMPLE_TAN)), 100, 80) > 1e-6);
  });

  test('missing or unusable WCS is a BadInputError (exit 65) with a clear message', () => {
    expectBadInput(() => Wcs.fromHeader(new Header()), /no celestial WCS: the header has no CTYPE1/);
    expectBadInput(
      () => Wcs.fromHeader(withCards(SIMPLE_TAN, { CTYPE1: 'LINEAR', CTYPE2: 'LINEAR' })),
      /not a longitude\/latitude pair/,
    );
    expectBadInput(
      () => Wcs.fromHeader(withCards(SIMPLE_TAN, { CTYPE1: 'RA---CAR', CTYPE2: 'DEC--CAR' })),
      /projection 'CAR' .* not supported/,
    );
    expectBadInput(
      () => Wcs.fromHeader(withCards(SIMPLE_TAN, { CTYPE2: 'DEC--SIN' })),
      /different projections/,
    );
    expectBadInput(
      () => Wcs.fromHeader(withCards(SIMPLE_TAN, { CTYPE2: 'GLAT-TAN' })),
      /same coordinate system/,
    );
    expectBadInput(() => Wcs.fromHeader(withCards(SIMPLE_TAN, { CRPIX1: undefined })), /CRPIX1 is missing/);
    expectBadInput(() => Wcs.fromHeader(withCards(SIMPLE_TAN, { CD1_1: 0, CD2_1: 0 })), /singular/);
    expectBadInput(
      () =>
        Wcs.fromHeader(
          withCards(SIMPLE_TAN, { CD1_1: undefined, CD1_2: undefined, CD2_1: undefined, CD2_2: undefined }),
        ),
      /has no scale/,
    );
    expectBadInput(
      () => Wcs.fromHeader(withCards(SIMPLE_TAN, { CTYPE1: 'RA---ZPN', CTYPE2: 'DEC--ZPN' })),
      /ZPN/,
    );
    expectBadInput(() => Wcs.fromHeader(withCards(SIMPLE_TAN, { A_ORDER: 2 })), /B_ORDER/);
    expectBadInput(() => Wcs.fromHeader(withCards(SIMPLE_TAN, { CRVAL2: 95 })), /outside ±90/);
    expectBadInput(
      () => Wcs.fromHeader(withCards(SIMPLE_TAN, { CTYPE1: 'RA---TAN-TNX', CTYPE2: 'DEC--TAN-TNX' })),
      /suffix '-TNX'/,
    );
  });
});

describe('transforms', () => {
  test('pixel → sky → pixel within 1e-6 px on every reference header (whole image, corners included)', () => {
    for (const name of REFERENCE_HEADERS) {
      const w = Wcs.fromHeader(reference(name));
      const pts = samplePixels(w.width ?? 256, w.height ?? 256, 500);
      const sky = w.pixelToSky(pts.x, pts.y);
      const back = w.skyToPixel(sky.ra, sky.dec);
      const r = comparePixels(back, pts);
      assert.equal(r.mismatchedValidity, 0, name);
      assert.ok(r.compared > 0, name);
      assert.ok(r.max < 1e-6, `${name}: ${r.max} px`);
    }
  });

  test('Roman-like TAN-SIP (order 3–5, with and without AP/BP, poles included): round trip within 1e-6 px', (t) => {
    let worst = 0;
    for (let seed = 1; seed <= 24; seed++) {
      const order = 3 + (seed % 3);
      const dec = seed === 23 ? 89.99 : seed === 24 ? -89.95 : undefined;
      const w = Wcs.fromHeader(romanHeader(seed, { order, inverse: seed % 2 === 0, dec }));
      const pts = samplePixels(ROMAN_SIZE, ROMAN_SIZE, 300, seed);
      const sky = w.pixelToSky(pts.x, pts.y);
      const r = comparePixels(w.skyToPixel(sky.ra, sky.dec), pts);
      assert.equal(r.mismatchedValidity, 0);
      assert.equal(r.compared, pts.x.length);
      assert.ok(r.max < 1e-6, `seed ${seed}: ${r.max} px`);
      worst = Math.max(worst, r.max);
      // and sky → pixel → sky
      const pix = w.skyToPixel(sky.ra, sky.dec);
      const again = w.pixelToSky(pix.x, pix.y);
      assert.ok(compareSky(again, sky).max < 1e-6 * (ROMAN_SCALE / 3600));
    }
    t.diagnostic(`worst round trip over 24 Roman-like headers: ${worst.toExponential(2)} px`);
  });

  test('AP/BP: the polynomial mode uses them as written, the default iterates to the exact inverse', () => {
    const w = Wcs.fromHeader(reference('irac_sip.hdr'));
    const sky = w.pixelToSky(10, 250);
    const exact = w.skyToPixel(sky.ra, sky.dec);
    const poly = w.skyToPixel(sky.ra, sky.dec, { sipInverse: 'polynomial' });
    assert.ok(Math.hypot(exact.x - 10, exact.y - 250) < 1e-9);
    // irac_sip's AP/BP are a rough fit: about 10⁻² px off at the edge.
    assert.ok(Math.hypot(poly.x - 10, poly.y - 250) > 1e-4);
    assert.ok(Math.hypot(poly.x - 10, poly.y - 250) < 0.05);
    // Without AP/BP the polynomial mode falls back to iterating.
    const noInverse = Wcs.fromHeader(reference('sip2.fits'));
    const s2 = noInverse.pixelToSky(3, 7);
    assert.deepEqual(
      noInverse.skyToPixel(s2.ra, s2.dec, { sipInverse: 'polynomial' }),
      noInverse.skyToPixel(s2.ra, s2.dec),
    );
  });

  test('siponly and tpvonly describe the same distortion', () => {
    const a = Wcs.fromHeader(reference('siponly.hdr'));
    const b = Wcs.fromHeader(reference('tpvonly.hdr'));
    assert.ok(maxSkyDifference(a, b, 2048, 4096) < 1e-7);
  });

  test('arrays and scalars agree; out arrays are filled; lengths are checked', () => {
    const w = Wcs.fromHeader(romanHeader(3, { order: 5 }));
    const pts = samplePixels(ROMAN_SIZE, ROMAN_SIZE, 20);
    const out = { ra: new Float64Array(pts.x.length), dec: new Float64Array(pts.x.length) };
    const res = w.pixelToSky(pts.x, pts.y, { out });
    assert.equal(res, out);
    for (let i = 0; i < pts.x.length; i++) {
      const p = w.pixelToSky(pts.x[i], pts.y[i]);
      assert.equal(p.ra, out.ra[i]);
      assert.equal(p.dec, out.dec[i]);
    }
    assert.throws(() => w.pixelToSky(new Float64Array(2), new Float64Array(3)), RangeError);
    assert.throws(() => w.pixelToSky(new Float64Array(9000), new Float64Array(9000), { out }), RangeError);
    // Output into the input arrays: each block is read before it is written.
    const xs = Float64Array.from(pts.x);
    const ys = Float64Array.from(pts.y);
    w.pixelToSky(xs, ys, { out: { ra: xs, dec: ys } });
    assert.deepEqual(xs, out.ra);
    assert.deepEqual(ys, out.dec);
    // More points than one internal block.
    const big = samplePixels(ROMAN_SIZE, ROMAN_SIZE, 10000, 9);
    const sky = w.pixelToSky(big.x, big.y);
    const k = 9876;
    assert.deepEqual(w.pixelToSky(big.x[k], big.y[k]), { ra: sky.ra[k], dec: sky.dec[k] });
  });

  test('pixelGridToSky equals pixelToSky on every pixel (SIP order 5 and order 7)', () => {
    for (const order of [5, 7]) {
      const h = romanHeader(11, { order: Math.min(order, 5) });
      if (order === 7) {
        h.set('A_ORDER', 7);
        h.set('A_7_0', 1e-26);
        h.set('B_ORDER', 7);
        h.set('B_0_7', -1e-26);
      }
      const w = Wcs.fromHeader(h);
      const [W, H] = [97, 61];
      const grid = w.pixelGridToSky(W, H);
      const list = w.pixelToSky(
        Float64Array.from({ length: W * H }, (_, k) => k % W),
        Float64Array.from({ length: W * H }, (_, k) => Math.floor(k / W)),
      );
      assert.ok(compareSky(grid, list).max < 1e-12, `order ${order}`);
    }
  });

  test('outside the projection: NaN, never a wrong position', () => {
    const sin = Wcs.fromHeader(reference('1904-66_SIN.hdr'));
    // 20 degrees per 300 px beyond the horizon of the orthographic projection.
    const far = sin.pixelToSky(5000, 5000);
    assert.ok(Number.isNaN(far.ra) && Number.isNaN(far.dec));
    const tan = Wcs.fromHeader(header(SIMPLE_TAN));
    const anti = tan.skyToPixel(330, -2.2);
    assert.ok(Number.isNaN(anti.x) && Number.isNaN(anti.y));
    assert.ok(Number.isNaN(tan.skyToPixel(150, 91).x));
    assert.ok(Number.isNaN(tan.pixelToSky(Number.NaN, 3).ra));
  });

  test('slant SIN, ZPN with a constant term, TPV with radial terms: round trips', () => {
    const cases: [string, Record<string, string | number>][] = [
      ['slant SIN', { CTYPE1: 'RA---SIN', CTYPE2: 'DEC--SIN', PV2_1: 0.2, PV2_2: -0.1 }],
      ['ZPN', { CTYPE1: 'RA---ZPN', CTYPE2: 'DEC--ZPN', PV2_0: 0.001, PV2_1: 1, PV2_3: -0.2 }],
      [
        'TPV r',
        {
          CTYPE1: 'RA---TPV',
          CTYPE2: 'DEC--TPV',
          PV1_1: 1,
          PV2_1: 1,
          PV1_3: 0.002,
          PV2_11: 0.5,
          PV1_4: 0.03,
        },
      ],
    ];
    for (const [name, cards] of cases) {
      const w = Wcs.fromHeader(withCards(SIMPLE_TAN, { ...cards, CD1_1: -0.01, CD2_2: 0.01 }));
      const pts = samplePixels(100, 80, 200);
      const sky = w.pixelToSky(pts.x, pts.y);
      const r = comparePixels(w.skyToPixel(sky.ra, sky.dec), pts);
      // ZPN with PV2_0 > 0 leaves a hole round the centre of the plane (R < PV2_0): NaN there.
      const holes = sky.ra.filter(Number.isNaN).length;
      assert.equal(r.mismatchedValidity, holes, name);
      assert.ok(r.compared > 100, name);
      assert.ok(r.max < 1e-8, `${name}: ${r.max}`);
    }
  });
});

describe('local geometry', () => {
  test('Roman-like: 0.11″/px at the reference pixel, negative determinant (east left)', () => {
    const w = Wcs.fromHeader(romanHeader(5, { order: 4 }));
    const x = w.crpix[0] - 1;
    const y = w.crpix[1] - 1;
    assert.ok(Math.abs(w.pixelScale(x, y) - ROMAN_SCALE) < 1e-9);
    const j = w.jacobian(x, y);
    assert.ok(j.determinant < 0);
    const area = w.pixelArea(x, y);
    assert.ok(Math.abs(area.arcsec2 - ROMAN_SCALE ** 2) < 1e-10);
    assert.ok(Math.abs(area.sr - area.deg2 * (Math.PI / 180) ** 2) < 1e-30);
    // The default position is the image centre.
    assert.equal(w.pixelScale(), w.pixelScale((ROMAN_SIZE - 1) / 2, (ROMAN_SIZE - 1) / 2));
  });

  test('TAN pixel area follows the gnomonic law dΩ = dx dy / (1 + R²)^(3/2)', () => {
    const cd = 0.01; // degrees: a large field so that the effect is large
    const w = Wcs.fromHeader(withCards(SIMPLE_TAN, { CD1_1: -cd, CD2_2: cd }));
    for (const [x, y] of [
      [49.5, 39.5],
      [400, 39.5],
      [-300, 700],
    ]) {
      const r = Math.hypot(x + 1 - 50.5, y + 1 - 40.5) * cd * (Math.PI / 180);
      const expected = (cd * cd) / (1 + r * r) ** 1.5;
      const got = w.pixelArea(x, y).deg2;
      assert.ok(Math.abs(got / expected - 1) < 1e-9, `${x},${y}: ${got} vs ${expected}`);
    }
  });

  test('Jacobian: ξ grows east, η north', () => {
    // CD1_1 < 0: x to the right is west; CD2_2 > 0: y up is north.
    const j = Wcs.fromHeader(header(SIMPLE_TAN)).jacobian(49.5, 39.5);
    assert.ok(Math.abs(j.dXiDx + 2.8e-4) < 1e-12);
    assert.ok(Math.abs(j.dEtaDy - 2.8e-4) < 1e-12);
    assert.ok(Math.abs(j.dXiDy) < 1e-12 && Math.abs(j.dEtaDx) < 1e-12);
  });
});

describe('footprint and contains', () => {
  const w = Wcs.fromHeader(romanHeader(8, { order: 3, inverse: true }));
  const n = ROMAN_SIZE;

  test('corners, outer edges and centre', () => {
    const f = w.footprint();
    const expect = (p: { ra: number; dec: number }, x: number, y: number) =>
      assert.deepEqual(p, w.pixelToSky(x, y));
    expect(f.corners[0], 0, 0);
    expect(f.corners[1], 0, n - 1);
    expect(f.corners[2], n - 1, n - 1);
    expect(f.corners[3], n - 1, 0);
    expect(f.edges[0], -0.5, -0.5);
    expect(f.edges[2], n - 0.5, n - 0.5);
    expect(f.centre, (n - 1) / 2, (n - 1) / 2);
    // 4088 × 0.11″ ≈ 7.5′ on a side, ≈ 10.6′ along the diagonal.
    const diagonal = separation(f.edges[0].ra, f.edges[0].dec, f.edges[2].ra, f.edges[2].dec) * 60;
    assert.ok(Math.abs(diagonal - (n * ROMAN_SCALE * Math.SQRT2) / 60) < 0.1, `${diagonal}′`);
  });

  test('contains: inside the outer pixel edges only', () => {
    const f = w.footprint();
    assert.ok(w.contains(f.centre.ra, f.centre.dec));
    for (const c of f.corners) assert.ok(w.contains(c.ra, c.dec));
    const at = (x: number, y: number) => w.pixelToSky(x, y);
    assert.ok(w.contains(at(-0.49, 2000).ra, at(-0.49, 2000).dec));
    assert.ok(!w.contains(at(-0.51, 2000).ra, at(-0.51, 2000).dec));
    assert.ok(!w.contains(at(2000, n - 0.49).ra, at(2000, n - 0.49).dec));
    assert.ok(!w.contains(at(6000, 6000).ra, at(6000, 6000).dec));
    // The antipode and a point a quarter of the sky away.
    assert.ok(!w.contains((f.centre.ra + 180) % 360, -f.centre.dec));
    assert.ok(!w.contains((f.centre.ra + 90) % 360, 0));
    // A smaller image size given explicitly.
    assert.ok(!w.contains(f.centre.ra, f.centre.dec, 1000, 1000));
    assert.throws(() => Wcs.fromHeader(reference('sip.fits')).footprint(), /image size unknown/);
  });
});

describe('writing headers', () => {
  test('toHeader round trip reproduces the transform (every reference header, Roman with AP/BP)', () => {
    const cases: [string, Header][] = REFERENCE_HEADERS.map((n) => [n, reference(n)]);
    cases.push(['roman', romanHeader(12, { order: 5, inverse: true })]);
    for (const [name, h] of cases) {
      const w = Wcs.fromHeader(h);
      const written = w.toHeader();
      // Through text too: what a file would hold.
      const again = Wcs.fromHeader(Header.fromText(written.toString()));
      const width = w.width ?? 256;
      const height = w.height ?? 256;
      const pts = samplePixels(width, height, 200);
      const d = compareSky(w.pixelToSky(pts.x, pts.y), again.pixelToSky(pts.x, pts.y));
      assert.equal(d.mismatchedValidity, 0, name);
      assert.ok(d.max < 1e-12, `${name}: ${d.max} deg`);
      const sky = w.pixelToSky(pts.x, pts.y);
      const p = comparePixels(
        w.skyToPixel(sky.ra, sky.dec, { sipInverse: 'polynomial' }),
        again.skyToPixel(sky.ra, sky.dec, { sipInverse: 'polynomial' }),
      );
      assert.ok(p.max < 1e-9, `${name}: ${p.max} px`);
      assert.equal(again.sip?.hasInverse, w.sip?.hasInverse);
      assert.equal(again.projection.code, w.projection.code);
    }
  });

  test('writeToHeader replaces the old WCS keywords and keeps the rest', () => {
    const h = reference('1904-66_SIN.hdr');
    const w = Wcs.fromHeader(h);
    const target = header([
      ['OBJECT', 'M31'],
      ['CTYPE1', 'RA---TAN-SIP'],
      ['CDELT1', 5],
      ['PC1_2', 0.5],
      ['CROTA2', 12],
      ['A_ORDER', 3],
      ['A_DMAX', 1.5],
      ['PV1_4', 0.2],
    ]);
    w.writeToHeader(target);
    const keys = target.keys();
    assert.equal(target.get('OBJECT'), 'M31');
    for (const gone of ['CDELT1', 'PC1_2', 'CROTA2', 'A_ORDER', 'A_DMAX', 'PV1_4'])
      assert.ok(!keys.includes(gone), gone);
    assert.equal(target.get('CTYPE1'), 'RA---SIN');
    assert.equal(target.get('WCSAXES'), 2);
    assert.equal(maxSkyDifference(w, Wcs.fromHeader(target), 192, 192), 0);
  });

  test('a WCS built from parameters', () => {
    const p: WcsParameters = {
      axes: ['RA', 'DEC'],
      projection: 'TAN',
      crpix: [50.5, 40.5],
      crval: [150, 2.2],
      cd: [-2.8e-4, 0, 0, 2.8e-4],
    };
    assert.equal(maxSkyDifference(new Wcs(p), Wcs.fromHeader(header(SIMPLE_TAN)), 100, 80), 0);
    assert.throws(() => new Wcs({ ...p, cd: [0, 0, 0, 0] }), RangeError);
  });
});
