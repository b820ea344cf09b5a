/**
 * Simulator benchmark: one full Roman SCA (4088², F158, default sky) per run, each run in its own
 * process so its peak memory is its own. Prints the median wall time of several runs and the
 * peak resident memory. No reference tool draws Roman images here (GalSim is not packaged in
 * Debian), so the figures stand against the target: under 20 s and 1.5 GB.
 *
 *   node --import tsx bench/simulate.ts [--runs 3] [--size 4088]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};

if (args[0] === '--child') {
  const { simulateSurvey } = await import('../src/sim/simulate.ts');
  const out = args[1];
  const size = Number(args[2]);
  const t0 = performance.now();
  const s = await simulateSurvey(out, { tiles: 1, epochs: 1, size, filters: ['F158'] });
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(
    JSON.stringify({ seconds, maxRssMB: process.resourceUsage().maxRSS / 1024, objects: s.counts }),
  );
} else {
  const runs = opt('runs', 3);
  const size = opt('size', 4088);
  const self = fileURLToPath(import.meta.url);
  const results: { seconds: number; maxRssMB: number }[] = [];
  for (let r = 0; r < runs; r++) {
    const dir = mkdtempSync(join(tmpdir(), 'rapid-bench-sim-'));
    const p = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', dir, String(size)], {
      encoding: 'utf8',
    });
    rmSync(dir, { recursive: true, force: true });
    if (p.status !== 0) throw new Error(p.stderr);
    results.push(JSON.parse(p.stdout));
    console.error(`run ${r + 1}: ${results[r].seconds.toFixed(2)} s, ${results[r].maxRssMB.toFixed(0)} MB`);
  }
  const times = results.map((r) => r.seconds).sort((a, b) => a - b);
  const median = times[times.length >> 1];
  const peak = Math.max(...results.map((r) => r.maxRssMB));
  console.log(
    `simulate one ${size}² SCA (F158, written as .fits.gz with truth), ${runs} runs on ${(await import('node:os')).availableParallelism()} cores`,
  );
  console.log(
    `  median ${median.toFixed(2)} s (target < 20 s), peak memory ${peak.toFixed(0)} MB (target < 1536 MB)`,
  );
}
