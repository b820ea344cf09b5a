/**
 * Real data: ZTF's alert cutouts (test/data/real/ztf-alerts). Each candidate's science and
 * template cutouts are subtracted as a user would (`--aligned`, a Gaussian PSF of the
 * candidate's FWHM for both, no flux ratio given), and the result compared with the candidate
 * record (position, sign, PSF magnitude) and with ZTF's own ZOGY difference cutout.
 *
 * These are postage stamps: few or no stars, a transient often on its host's nucleus, the
 * template's PSF unknown (it is broader than the candidate's FWHM in most). What the pipeline
 * must do without stars is measured here on images it was not written for.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gaussianKernel } from '../src/image/convolve.ts';
import { psfFromImage } from '../src/image/psf/index.ts';
import { robustSigma } from '../src/image/stats.ts';
import type { VettedSource } from '../src/pipeline/diffcat.ts';
import { loadImage } from '../src/pipeline/load.ts';
import { subtract } from '../src/pipeline/subtract.ts';
import { TEST_DATA } from './support/cli.ts';

const Z = join(TEST_DATA, 'real/ztf-alerts');

interface Candidate {
  isdiffpos: string;
  magpsf: number;
  sigmapsf: number;
  fwhm: number;
  rb: number;
  magzpsci?: number;
}

interface Outcome {
  candid: string;
  rb: number;
  found: boolean;
  scorr: number;
  /** The same by SFFT (cross-convolution, decorrelated), run beside ZOGY. */
  sfftFound: boolean;
  sfftScore: number;
  sfftDmag: number;
  sfftDmagSigma: number;
  sfftNote: string;
  /** Our PSF magnitude in the difference (with ZTF's science zero point) minus ZTF's magpsf. */
  dmag: number;
  dmagSigma: number;
  /** Correlation of our difference with ZTF's (ZTF's negative candidates' cutouts are flipped). */
  correlation: number;
  /** Robust σ of our difference over ZTF's, away from the candidate. */
  noiseRatio: number;
  method: string;
  note: string;
}

async function run(candid: string, c: Candidate): Promise<Outcome> {
  const load = (kind: string) => loadImage(join(Z, 'cutouts', `${candid}_cutout${kind}.fits`));
  const sci = await load('Science');
  const tpl = await load('Template');
  const zdiff = await load('Difference');
  const { width: w, height: h } = sci.image;
  const sign = c.isdiffpos === 't' || c.isdiffpos === '1' ? 1 : -1;
  // The candidate: the centre of a full 63×63 cutout; on cutouts cut by the CCD's edge, the
  // extremum of ZTF's own difference (shown with the candidate positive).
  let cx = 31;
  let cy = 31;
  if (w !== 63 || h !== 63) {
    let best = Number.NEGATIVE_INFINITY;
    zdiff.image.data.forEach((v, i) => {
      if (v > best) {
        best = v;
        cx = i % w;
        cy = Math.floor(i / w);
      }
    });
  }
  // Artefact candidates have FWHM of 70 px: a 2.5-px PSF stands in.
  const fwhm = c.fwhm > 0 && c.fwhm < 20 ? c.fwhm : 2.5;
  const k = gaussianKernel(fwhm, Math.ceil(2 * fwhm) + 2);
  const psf = psfFromImage(k.data, k.width, k.height);
  const r = await subtract(
    { image: sci.image, header: sci.header, psf },
    { image: tpl.image, header: tpl.header, psf },
    { aligned: true, method: 'both' },
  );
  const at = (sources: VettedSource[]) =>
    sources
      .filter((s) => Math.hypot(s.x - cx, s.y - cy) <= 2 && s.sign === sign)
      .sort((a, b) => Math.abs(b.scorrPeak) - Math.abs(a.scorrPeak))[0];
  const best = at(r.sources);
  const sfftBest = at(r.sfft?.sources ?? []);
  const zp = c.magzpsci;
  const dmagOf = (s: VettedSource | undefined) => {
    const flux = s?.psf ? Math.abs(s.psf.flux) : Number.NaN;
    return {
      dmag: zp !== undefined && s ? zp - 2.5 * Math.log10(flux) - c.magpsf : Number.NaN,
      dmagSigma: s?.psf ? Math.hypot(c.sigmapsf, 1.0857 * (s.psf.fluxErr / flux)) : Number.NaN,
    };
  };
  const { dmag, dmagSigma } = dmagOf(best);
  const sfftMag = dmagOf(sfftBest);
  // Pixel agreement with ZTF's difference, and the noise ratio away from the candidate.
  const a: number[] = [];
  const b: number[] = [];
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let i = 0; i < w * h; i++) {
    const u = r.zogy!.difference[i];
    const v = sign * zdiff.image.data[i];
    if (!Number.isFinite(u) || !Number.isFinite(v)) continue;
    a.push(u);
    b.push(v);
    if (Math.hypot((i % w) - cx, Math.floor(i / w) - cy) > 8) {
      ours.push(u);
      theirs.push(v);
    }
  }
  return {
    candid,
    rb: c.rb,
    found: best !== undefined,
    scorr: best?.scorrPeak ?? Number.NaN,
    sfftFound: sfftBest !== undefined,
    sfftScore: sfftBest?.scorrPeak ?? Number.NaN,
    sfftDmag: sfftMag.dmag,
    sfftDmagSigma: sfftMag.dmagSigma,
    sfftNote:
      r.sfft?.error ??
      `flux ratio ${r.sfft?.result?.fluxRatio.toFixed(3)}, ${r.sfft?.sources.length} sources`,
    dmag,
    dmagSigma,
    correlation: pearson(a, b),
    noiseRatio: robustSigma(ours) / robustSigma(theirs),
    method: String(r.qa.fluxRatioMethod),
    note: r.warnings.join('; '),
  };
}

const mag = (d: number, e: number) => (Number.isFinite(d) ? `${d.toFixed(2)} ± ${e.toFixed(2)}` : '—');

function pearson(a: number[], b: number[]): number {
  const n = a.length;
  const ma = a.reduce((s, v) => s + v, 0) / n;
  const mb = b.reduce((s, v) => s + v, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

describe('ZTF alert cutouts (real)', () => {
  test('every candidate is subtracted without a flux ratio; real ones found at their position with their sign', async () => {
    const candidates: Record<string, Candidate> = JSON.parse(
      readFileSync(join(Z, 'candidates.json'), 'utf8'),
    );
    const outcomes: Outcome[] = [];
    // None may fail: a cutout without stars or shared signal is subtracted with what can be
    // measured, and what was assumed is said (warnings, fluxRatioMethod).
    for (const [candid, c] of Object.entries(candidates)) outcomes.push(await run(candid, c));
    outcomes.sort((p, q) => q.rb - p.rb);
    for (const o of outcomes) {
      console.error(
        `# ${o.candid} rb ${o.rb.toFixed(2)}: ZOGY ${o.found ? `found, Scorr ${o.scorr.toFixed(1)}` : 'missed'}, Δmag ${mag(o.dmag, o.dmagSigma)}; SFFT ${o.sfftFound ? `found, S/N ${o.sfftScore.toFixed(1)}` : 'missed'}, Δmag ${mag(o.sfftDmag, o.sfftDmagSigma)} (${o.sfftNote}); r(D, ZTF's D) ${o.correlation.toFixed(3)}; noise ratio ${o.noiseRatio.toFixed(2)}; flux ratio ${o.method}${o.note ? `; ${o.note}` : ''}`,
      );
    }
    const real = outcomes.filter((o) => o.rb >= 0.5);
    const found = real.filter((o) => o.found);
    const sfftFound = real.filter((o) => o.sfftFound);
    const either = real.filter((o) => o.found || o.sfftFound);
    const within = (d: number[][]) => d.filter(([m, e]) => Number.isFinite(m) && Math.abs(m) <= 3 * e).length;
    const mags = found.filter((o) => Number.isFinite(o.dmag)).map((o) => [o.dmag, o.dmagSigma]);
    const sfftMags = sfftFound
      .filter((o) => Number.isFinite(o.sfftDmag))
      .map((o) => [o.sfftDmag, o.sfftDmagSigma]);
    const corr = real.map((o) => o.correlation).sort((p, q) => p - q);
    console.error(
      `# rb ≥ 0.5: ZOGY found ${found.length} of ${real.length}, SFFT ${sfftFound.length}, either ${either.length}; magnitudes within 3σ of ZTF's: ZOGY ${within(mags)} of ${mags.length}, SFFT ${within(sfftMags)} of ${sfftMags.length}; correlation with ZTF's difference median ${corr[corr.length >> 1].toFixed(3)}`,
    );
    assert.equal(real.length, 7);
    // Floors that today's code holds (ZOGY 4 of 7 with the flux ratio from the pixels, 1
    // before; SFFT 5, among them the nuclear transient whose ring residual hides it from ZOGY
    // with Gaussian PSFs and the variable star alone on its stamp; together 6). The misses are
    // reported above, with their reasons in the notes.
    assert.ok(found.length >= 4, `ZOGY found ${found.length} of 7`);
    assert.ok(sfftFound.length >= 5, `SFFT found ${sfftFound.length} of 7`);
    assert.ok(either.length >= 6, `found by either method ${either.length} of 7`);
    // SFFT's kernel fit needs no PSF to be right: on postage stamps it keeps to a few
    // sources, not the dozens a fit ringing at the stamp's edges would give.
    for (const o of outcomes) {
      const m = /(\d+) sources/.exec(o.sfftNote);
      if (m) assert.ok(Number(m[1]) <= 12, `${o.candid}: SFFT ${o.sfftNote}`);
    }
    // Our difference and ZTF's (both ZOGY) agree where the candidate is found.
    for (const o of found) assert.ok(o.correlation > 0.5, `${o.candid}: correlation ${o.correlation}`);
  });
});
