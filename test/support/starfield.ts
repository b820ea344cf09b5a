/**
 * Synthetic star fields for the resampling and co-addition tests: TAN(-SIP) WCSs, stars drawn
 * as Gaussians on the sky and integrated over each pixel, aperture photometry, and the TPV
 * equivalent of a SIP header (for SWarp, which reads TPV but not SIP).
 */
import type { Image } from '../../src/image/image.ts';
import { Poly2, SipDistortion, TpvDistortion, Wcs } from '../../src/wcs/index.ts';

export const D2R = Math.PI / 180;

/** A TAN(-SIP) WCS: pixel scale in arcsec, rotation in degrees (north up, east left at 0). */
export function tanWcs(o: {
  ra: number;
  dec: number;
  crpix: [number, number];
  scale: number;
  rotation?: number;
  sip?: SipDistortion;
}): Wcs {
  const s = o.scale / 3600;
  const t = (o.rotation ?? 0) * D2R;
  return new Wcs({
    axes: ['RA', 'DEC'],
    projection: 'TAN',
    crpix: o.crpix,
    crval: [o.ra, o.dec],
    cd: [-s * Math.cos(t), s * Math.sin(t), s * Math.sin(t), s * Math.cos(t)],
    sip: o.sip,
  });
}

/** A camera-like SIP distortion: a few 10⁻⁶–10⁻⁹ coefficients (≈ 1 px at the corners of 256²). */
export function cameraSip(): SipDistortion {
  const terms = (c: Record<string, number>) => (p: number, q: number) => c[`${p},${q}`];
  const a = Poly2.from(3, terms({ '2,0': 2e-5, '1,1': -1.5e-5, '0,2': 1e-5, '3,0': 4e-8, '1,2': -3e-8 }));
  const b = Poly2.from(3, terms({ '2,0': -1e-5, '1,1': 2.5e-5, '0,2': 1.2e-5, '2,1': 5e-8, '0,3': -2e-8 }));
  return new SipDistortion(a, b);
}

export interface Star {
  ra: number;
  dec: number;
  flux: number;
}

/** Stars as circular Gaussians on the sky (FWHM in arcsec), integrated over each pixel by 4×4 sub-sampling, plus a flat sky per pixel. */
export function renderStars(
  wcs: Wcs,
  width: number,
  height: number,
  stars: Star[],
  fwhm: number,
  sky = 0,
): Float32Array {
  const out = new Float32Array(width * height).fill(sky);
  const sigma = fwhm / 2.3548;
  const sub = 4;
  for (const s of stars) {
    const p = wcs.skyToPixel(s.ra, s.dec);
    const area = wcs.pixelArea(p.x, p.y).arcsec2;
    const scale = Math.sqrt(area);
    const r = Math.ceil((5 * sigma) / scale) + 1;
    const x0 = Math.max(0, Math.round(p.x) - r);
    const x1 = Math.min(width - 1, Math.round(p.x) + r);
    const y0 = Math.max(0, Math.round(p.y) - r);
    const y1 = Math.min(height - 1, Math.round(p.y) + r);
    const n = (x1 - x0 + 1) * (y1 - y0 + 1) * sub * sub;
    const X = new Float64Array(n);
    const Y = new Float64Array(n);
    let k = 0;
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        for (let j = 0; j < sub; j++) {
          for (let i = 0; i < sub; i++) {
            X[k] = x - 0.5 + (i + 0.5) / sub;
            Y[k++] = y - 0.5 + (j + 0.5) / sub;
          }
        }
      }
    }
    const sky2 = wcs.pixelToSky(X, Y);
    const norm = (s.flux * area) / (2 * Math.PI * sigma * sigma * sub * sub);
    k = 0;
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        let v = 0;
        for (let q = 0; q < sub * sub; q++, k++) {
          const dx = (sky2.ra[k] - s.ra) * Math.cos(s.dec * D2R) * 3600;
          const dy = (sky2.dec[k] - s.dec) * 3600;
          v += Math.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma));
        }
        out[y * width + x] += v * norm;
      }
    }
  }
  return out;
}

/** Sum within a circle around a sky position, minus the sky level times the area. */
export function apertureFlux(
  img: Pick<Image, 'width' | 'height' | 'data'>,
  wcs: Wcs,
  ra: number,
  dec: number,
  radius: number,
  sky = 0,
): number {
  const p = wcs.skyToPixel(ra, dec);
  let s = 0;
  for (let y = Math.floor(p.y - radius); y <= Math.ceil(p.y + radius); y++) {
    for (let x = Math.floor(p.x - radius); x <= Math.ceil(p.x + radius); x++) {
      if ((x - p.x) ** 2 + (y - p.y) ** 2 > radius * radius) continue;
      s += img.data[y * img.width + x] - sky;
    }
  }
  return s;
}

/**
 * The TPV WCS equal to a TAN-SIP one (SWarp reads TPV, not SIP): a SIP polynomial of order ≤ 3
 * in pixels is a polynomial of the same order in intermediate coordinates, fitted exactly here
 * by least squares on a grid.
 */
export function sipAsTpv(wcs: Wcs, width: number, height: number): Wcs {
  const [c0, c1, c2, c3] = wcs.cd;
  const terms = (x: number, y: number) => [
    1,
    x,
    y,
    0,
    x * x,
    x * y,
    y * y,
    x * x * x,
    x * x * y,
    x * y * y,
    y * y * y,
  ];
  const used = [0, 1, 2, 4, 5, 6, 7, 8, 9, 10];
  const rows: number[][] = [];
  const targetsXi: number[] = [];
  const targetsEta: number[] = [];
  const scale = Math.max(Math.abs(c0), Math.abs(c1)) * Math.max(width, height);
  for (let y = -10; y <= height + 10; y += 8) {
    for (let x = -10; x <= width + 10; x += 8) {
      const u = x + 1 - wcs.crpix[0];
      const v = y + 1 - wcs.crpix[1];
      const du = wcs.sip!.a.at(u, v);
      const dv = wcs.sip!.b.at(u, v);
      const xi0 = (c0 * u + c1 * v) / scale;
      const eta0 = (c2 * u + c3 * v) / scale;
      rows.push([xi0, eta0]);
      targetsXi.push((c0 * (u + du) + c1 * (v + dv)) / scale);
      targetsEta.push((c2 * (u + du) + c3 * (v + dv)) / scale);
    }
  }
  const solve = (swap: boolean, rhs: number[]): number[] => {
    const n = used.length;
    const A = Array.from({ length: n }, () => new Float64Array(n + 1));
    rows.forEach(([xi, eta], r) => {
      const t = swap ? terms(eta, xi) : terms(xi, eta);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) A[i][j] += t[used[i]] * t[used[j]];
        A[i][n] += t[used[i]] * rhs[r];
      }
    });
    for (let i = 0; i < n; i++) {
      let p = i;
      for (let r = i + 1; r < n; r++) if (Math.abs(A[r][i]) > Math.abs(A[p][i])) p = r;
      [A[i], A[p]] = [A[p], A[i]];
      for (let r = 0; r < n; r++) {
        if (r === i) continue;
        const f = A[r][i] / A[i][i];
        for (let c = i; c <= n; c++) A[r][c] -= f * A[i][c];
      }
    }
    const pv = new Array(11).fill(0);
    // Undo the scaling: a term of order m in scaled coordinates is scale^(1−m) in degrees.
    const order = [0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3];
    used.forEach((k, i) => {
      pv[k] = (A[i][n] / A[i][i]) * scale ** (1 - order[k]);
    });
    return pv;
  };
  const pv1 = solve(false, targetsXi);
  const pv2 = solve(true, targetsEta);
  return new Wcs({ ...wcs.parameters, sip: undefined, tpv: new TpvDistortion(pv1, pv2) });
}
