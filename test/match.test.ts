/** Flux ratio of matched stars: robust to sources that changed between the images. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type MatchStar, matchStars } from '../src/image/match.ts';
import { halfSampleMode } from '../src/image/stats.ts';

/** A deterministic standard normal deviate (Box–Muller on a fixed sequence). */
function normal(i: number): number {
  const u = ((i * 7919 + 13) % 10007) / 10007 + 1e-9;
  const v = ((i * 104729 + 7) % 10009) / 10009;
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

describe('flux ratio from stars', () => {
  test('the half-sample mode finds the densest value past a one-sided tail', () => {
    const core = Array.from({ length: 55 }, (_, i) => 0.01 * normal(i));
    const tail = Array.from({ length: 45 }, (_, i) => 0.1 + 0.02 * i);
    const m = halfSampleMode([...core, ...tail]);
    const sorted = [...core, ...tail].sort((a, b) => a - b);
    console.log(`# mode ${m.toFixed(4)}, median ${sorted[50].toFixed(4)} (core σ 0.01 about 0)`);
    assert.ok(Math.abs(m) < 0.005, `mode ${m}`);
    assert.ok(sorted[50] > 0.01, 'the median is pulled by the tail');
    assert.equal(halfSampleMode([3]), 3);
    assert.ok(Number.isNaN(halfSampleMode([])));
  });

  test('sources that brightened (transients on their hosts) do not pull the ratio', () => {
    const ratio = 1.2;
    const science: MatchStar[] = [];
    const reference: MatchStar[] = [];
    for (let i = 0; i < 80; i++) {
      const x = 20 + (i % 10) * 30;
      const y = 20 + Math.floor(i / 10) * 30;
      const snr = 50 + 10 * (i % 7);
      const flux = 1000 + 100 * i;
      // A third of the sources gained 10–100% of their flux in the science image.
      const changed = i % 3 === 0 ? 1.1 + 0.03 * i : 1;
      reference.push({ x, y, flux: flux * (1 + normal(2 * i) / snr), snr });
      science.push({ x, y, flux: ratio * changed * flux * (1 + normal(2 * i + 1) / snr), snr });
    }
    const m = matchStars(science, reference, { minMatches: 20 });
    const logs = science.map((s, i) => Math.log(s.flux / reference[i].flux)).sort((a, b) => a - b);
    const median = Math.exp((logs[39] + logs[40]) / 2);
    console.log(
      `# ratio ${m.fluxRatio.toFixed(4)} ± ${m.fluxRatioError.toFixed(4)}, median ${median.toFixed(4)} (truth ${ratio})`,
    );
    assert.equal(m.method, 'stars');
    assert.ok(Math.abs(m.fluxRatio / ratio - 1) < 0.005, `ratio ${m.fluxRatio}`);
    // Its error is that of the consistent stars' mean (σ ≈ 2.4% each, ~53 of them).
    assert.ok(m.fluxRatioError > 0.002 && m.fluxRatioError < 0.01, `error ${m.fluxRatioError}`);
    assert.ok(median / ratio - 1 > 0.01, 'the median would be biased');
  });
});
