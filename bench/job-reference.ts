/**
 * A reference job with N inputs (default 25) of full-size simulated SCAs (4088², F158): the
 * whole job as `rapid job run` runs it, in its own process, with per-step timings, the time per
 * input frame and peak memory. The inputs are simulated first (not timed), planned by launch
 * (a PGlite database and a folder store in a temporary folder).
 *
 *   node --import tsx bench/job-reference.ts [--inputs 25] [--size 4088] [--keep DIR]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planLastEpoch, runJobProcess, simulateEpochs, stepSeconds } from './support/jobs.ts';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const inputs = Number(opt('inputs', '25'));
const size = Number(opt('size', '4088'));
const keep = args.includes('--keep') ? opt('keep', '') : '';

const dir = keep || (await mkdtemp(join(tmpdir(), 'rapid-bench-ref-')));
try {
  const sim = join(dir, 'sim');
  // One more epoch than inputs: the last is the science image the reference is planned for.
  const summary = await simulateEpochs(sim, inputs + 1, size);
  const { reference } = await planLastEpoch(dir, sim, summary, inputs);
  const { result: res, wallSeconds } = runJobProcess(reference.manifestUri);
  const out = {
    inputs: res.qa.nInputs,
    size,
    grid: `${res.qa.width}×${res.qa.height}`,
    seconds: Number(res.elapsedSeconds.toFixed(1)),
    wallSeconds: Number(wallSeconds.toFixed(1)),
    secondsPerInput: Number((res.elapsedSeconds / Number(res.qa.nInputs)).toFixed(2)),
    steps: stepSeconds(res),
    peakRssMB: Math.round(res.peakRssBytes / 2 ** 20),
    cov5percent: res.qa.cov5percent,
  };
  console.log(JSON.stringify(out));
} finally {
  if (!keep) await rm(dir, { recursive: true, force: true });
}
