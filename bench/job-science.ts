/**
 * A science job with its reference already built, on full-size simulated SCAs (4088², F158):
 * the whole job as `rapid job run` runs it, in its own process, with per-step timings, total
 * and peak memory; once for each reference size in --inputs (default 1, 5 and 25 frames), to
 * show that the science job's time does not grow with the reference's inputs (references are
 * built in stage 1). Medians of --runs runs of the same manifest. The images are simulated once
 * (not timed); each reference size gets its own data folder, launch and reference job.
 *
 * Goal (issue 7): ≤ 60 s and ≤ 4 GB on this 2-core machine; RAPID takes 200–480 s on 4 vCPU.
 * `--method zogy|sfft|both` sets the job's subtraction methods (default: the job's own, both);
 * issue 19's goal is both ≤ 2× ZOGY alone.
 *
 *   node --import tsx bench/job-science.ts [--inputs 1,5,25] [--runs 3] [--size 4088] [--method M] [--keep DIR]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResultRecord } from '../src/pipeline/types.ts';
import { planLastEpoch, runJobProcess, simulateEpochs, stepSeconds } from './support/jobs.ts';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const sizes = opt('inputs', '1,5,25')
  .split(',')
  .map(Number)
  .sort((a, b) => a - b);
const runs = Number(opt('runs', '3'));
const size = Number(opt('size', '4088'));
const keep = args.includes('--keep') ? opt('keep', '') : '';
const method = args.includes('--method') ? opt('method', 'both') : undefined;
if (!sizes.every((n) => Number.isInteger(n) && n >= 1 && n <= 25) || !(runs >= 1)) {
  console.error('usage: job-science.ts [--inputs 1,5,25] [--runs 3] [--size 4088] [--keep DIR]');
  process.exit(64);
}
const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const dir = keep || (await mkdtemp(join(tmpdir(), 'rapid-bench-sci-')));
try {
  const sim = join(dir, 'sim');
  const summary = await simulateEpochs(sim, sizes[sizes.length - 1] + 1, size);
  const rows: { inputs: number; seconds: number }[] = [];
  for (const n of sizes) {
    const jobs = await planLastEpoch(join(dir, `ref${n}`), sim, summary, n, method ? { method } : {});
    const ref = runJobProcess(jobs.reference.manifestUri).result;
    console.error(`# reference of ${ref.qa.nInputs} inputs built in ${ref.elapsedSeconds.toFixed(0)} s`);
    const results: ResultRecord[] = [];
    for (let r = 0; r < runs; r++) results.push(runJobProcess(jobs.science.manifestUri).result);
    const seconds = median(results.map((x) => x.elapsedSeconds));
    const typical = results.find((x) => x.elapsedSeconds === seconds) ?? results[0];
    rows.push({ inputs: n, seconds });
    console.log(
      JSON.stringify({
        referenceInputs: ref.qa.nInputs,
        method: method ?? 'both (default)',
        size,
        runs,
        seconds: Number(seconds.toFixed(1)),
        allSeconds: results.map((x) => Number(x.elapsedSeconds.toFixed(1))),
        steps: stepSeconds(typical),
        peakRssMB: Math.round(median(results.map((x) => x.peakRssBytes)) / 2 ** 20),
        sources: typical.counts.sources,
      }),
    );
  }
  const t = rows.map((r) => r.seconds);
  console.log(
    JSON.stringify({
      secondsByInputs: Object.fromEntries(rows.map((r) => [r.inputs, Number(r.seconds.toFixed(1))])),
      spread: Number((Math.max(...t) / Math.min(...t)).toFixed(3)),
    }),
  );
} finally {
  if (!keep) await rm(dir, { recursive: true, force: true });
}
