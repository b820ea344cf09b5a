/**
 * Does the subtraction's time follow the size of the PSF stamps it is given (issue 16)? One
 * simulated 2048² pair (Moffat β = 2.5 PSFs, FWHM 2.5 and 2.2 px), subtracted with `subtract`
 * given the same true PSFs as stamps of 25, 101 and 301 px (pixel-integrated, unit sum, as a
 * user's files hold them), each run in its own process (its peak memory its own), the sizes
 * taking turns; medians of --runs runs. Prints the per-step times, the effective stamp the PSF
 * was read to, and the time ratio of the largest stamp to the smallest (goal ≤ 1.3).
 *
 * With --whole the stamps are used whole (no effective size: the behaviour before issue 16);
 * expect minutes per run at 101 px and far more at 301.
 *
 *   node --import tsx bench/psf-size.ts [--size 2048] [--runs 3] [--stamps 25,101,301] [--whole]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REFERENCE_PSF, readPairFile, SCIENCE_PSF, writePairFiles } from './support/pair-files.ts';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};

const SCIENCE = SCIENCE_PSF;
const REFERENCE = REFERENCE_PSF;

async function child(dir: string, n: number, side: number, whole: boolean): Promise<void> {
  const { Header } = await import('../src/fits/header.ts');
  const { psfFromImage } = await import('../src/image/psf/index.ts');
  const { subtract } = await import('../src/pipeline/subtract.ts');
  const f32 = (name: string) => readPairFile(dir, name);
  const steps: Record<string, number> = {};
  const cpuSteps: Record<string, number> = {};
  const cpuSeconds = (since?: NodeJS.CpuUsage) => {
    const u = process.cpuUsage(since);
    return (u.user + u.system) / 1e6;
  };
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let t = performance.now();
  let c = process.cpuUsage();
  const options = whole ? { size: side } : {};
  const sciencePsf = psfFromImage(f32(`psci${side}.f32`), side, side, 1, options);
  const referencePsf = psfFromImage(f32(`pref${side}.f32`), side, side, 1, options);
  steps['read-psf'] = performance.now() - t;
  cpuSteps['read-psf'] = cpuSeconds(c);
  const header = new Header();
  const image = (data: Float32Array) => ({ width: n, height: n, data });
  const r = await subtract(
    { image: image(f32('sci.f32')), header, psf: sciencePsf, gain: 1, zeroPoint: 25 },
    { image: image(f32('ref.f32')), header, psf: referencePsf, gain: 1, zeroPoint: 25 },
    { aligned: true },
    async (name, fn) => {
      t = performance.now();
      c = process.cpuUsage();
      const out = await fn();
      steps[name] = (steps[name] ?? 0) + performance.now() - t;
      cpuSteps[name] = (cpuSteps[name] ?? 0) + cpuSeconds(c);
      return out;
    },
  );
  process.stdout.write(
    JSON.stringify({
      seconds: (performance.now() - t0) / 1000,
      cpuSeconds: cpuSeconds(cpu0),
      steps: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, v / 1000])),
      cpuSteps,
      maxRssMB: process.resourceUsage().maxRSS / 1024,
      stamp: sciencePsf.size,
      enclosed: sciencePsf.enclosed ?? 1,
      sources: r.sources.length,
      fluxRatio: r.match.fluxRatio,
    }),
  );
  process.exit(0);
}

if (args[0] === '--child') {
  await child(args[1], Number(args[2]), Number(args[3]), args[4] === 'whole');
} else {
  const n = Number(opt('size', '2048'));
  const runs = Number(opt('runs', '3'));
  const sides = opt('stamps', '25,101,301').split(',').map(Number);
  const whole = args.includes('--whole');
  if (!sides.every((s) => Number.isInteger(s) && s >= 5 && s % 2 === 1) || !(runs >= 1)) {
    console.error('usage: psf-size.ts [--size 2048] [--runs 3] [--stamps 25,101,301] [--whole]');
    process.exit(64);
  }
  const dir = mkdtempSync(join(tmpdir(), 'rapid-bench-psf-size-'));
  console.error(`making a ${n}² pair…`);
  writePairFiles(dir, n, sides);
  const self = fileURLToPath(import.meta.url);
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
  type Run = {
    seconds: number;
    cpuSeconds: number;
    steps: Record<string, number>;
    cpuSteps: Record<string, number>;
    maxRssMB: number;
    stamp: number;
    enclosed: number;
    sources: number;
    fluxRatio: number;
  };
  const results = new Map<number, Run[]>(sides.map((s) => [s, []]));
  // The sizes take turns, so that a busy spell of the shared machine does not fall on one.
  for (let r = 0; r < runs; r++) {
    for (const side of sides) {
      const proc = spawnSync(
        process.execPath,
        ['--import', 'tsx', self, '--child', dir, String(n), String(side), whole ? 'whole' : 'cut'],
        { encoding: 'utf8', maxBuffer: 1 << 26 },
      );
      if (proc.status !== 0) throw new Error(`${side} px: ${proc.stderr}`);
      const out = JSON.parse(proc.stdout) as Run;
      results.get(side)?.push(out);
      console.error(
        `  ${side} px run ${r + 1}: ${out.seconds.toFixed(2)} s (CPU ${out.cpuSeconds.toFixed(2)} s), ${out.maxRssMB.toFixed(0)} MB, stamp ${out.stamp}`,
      );
    }
  }
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `subtract on a ${n}² pair (Moffat β 2.5, FWHM ${SCIENCE.fwhm}/${REFERENCE.fwhm} px) given PSF stamps of ${sides.join(', ')} px${whole ? ', used whole' : ''}; median of ${runs} runs on ${availableParallelism()} cores:`,
  );
  const seconds = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const side of sides) {
    const rs = results.get(side) ?? [];
    const t = median(rs.map((r) => r.seconds));
    seconds.set(side, t);
    cpu.set(side, median(rs.map((r) => r.cpuSeconds)));
    const first = rs[0];
    console.log(
      `  ${String(side).padStart(3)} px → stamp ${first.stamp} (holds ${(100 * first.enclosed).toFixed(2)}%): ${t.toFixed(2)} s, CPU ${cpu.get(side)?.toFixed(2)} s, peak ${Math.max(...rs.map((r) => r.maxRssMB)).toFixed(0)} MB, ${first.sources} sources, flux ratio ${first.fluxRatio.toFixed(4)}`,
    );
    // Per step, medians over the runs: wall time, then CPU time of all threads.
    for (const [label, key] of [
      ['steps (s)', 'steps'],
      ['CPU (s)', 'cpuSteps'],
    ] as const) {
      console.log(
        `          ${label.padEnd(9)}: ${Object.keys(first.steps)
          .map((k) => `${k} ${median(rs.map((r) => r[key][k] ?? 0)).toFixed(2)}`)
          .join(', ')}`,
      );
    }
  }
  const small = Math.min(...sides);
  const large = Math.max(...sides);
  const ratio = (m: Map<number, number>) =>
    ((m.get(large) ?? Number.NaN) / (m.get(small) ?? Number.NaN)).toFixed(2);
  // CPU time is the steadier figure on a machine shared with other jobs.
  console.log(
    `  time ratio ${large} px / ${small} px: ${ratio(seconds)} wall, ${ratio(cpu)} CPU (goal ≤ 1.3)`,
  );
  console.log(
    `  load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
}
