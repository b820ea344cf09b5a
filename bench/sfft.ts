/**
 * SFFT beside ZOGY (issue 19): one simulated pair (default 4088², a Roman SCA; Moffat PSFs of
 * FWHM 2.5 and 2.2 px; 200 transients) subtracted with `method: 'zogy'` and `method: 'sfft'`
 * (cross-convolution, kernel half-width 9, orders 0: RAPID's configuration), each run in its
 * own process (its peak memory its own), the methods taking turns; medians of --runs runs.
 * Prints the per-step times, the SFFT step against ZOGY's, the peak memory, and each method's
 * transients found. RAPID quotes 110–296 s and 16 GB for SFFT per 4088² image on 4 vCPU (the
 * Python sfft package, which is not a Debian package and cannot run here); the goal is ≤ 20 s
 * and ≤ 4 GB.
 *
 *   node --import tsx bench/sfft.ts [--size 4088] [--runs 3] [--half-width 9]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readPairFile, writePairFiles } from './support/pair-files.ts';

/** The PSF stamps' side. */
const PSF_SIDE = 25;

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};

interface Run {
  seconds: number;
  steps: Record<string, number>;
  maxRssMB: number;
  sources: number;
  found: number;
  fluxRatio: number;
}

async function child(dir: string, n: number, method: 'zogy' | 'sfft', halfWidth: number): Promise<void> {
  const { Header } = await import('../src/fits/header.ts');
  const { psfFromImage } = await import('../src/image/psf/index.ts');
  const { subtract } = await import('../src/pipeline/subtract.ts');
  const f32 = (name: string) => readPairFile(dir, name);
  const truth = JSON.parse(readFileSync(join(dir, 'transients.json'), 'utf8')) as { x: number; y: number }[];
  const side = Math.round(Math.sqrt(f32(`psci${PSF_SIDE}.f32`).length));
  const psf = (name: string) => psfFromImage(f32(name), side, side);
  const steps: Record<string, number> = {};
  const header = new Header();
  const image = (data: Float32Array) => ({ width: n, height: n, data });
  const t0 = performance.now();
  const r = await subtract(
    { image: image(f32('sci.f32')), header, psf: psf(`psci${PSF_SIDE}.f32`), gain: 1, zeroPoint: 25 },
    { image: image(f32('ref.f32')), header, psf: psf(`pref${PSF_SIDE}.f32`), gain: 1, zeroPoint: 25 },
    {
      aligned: true,
      method,
      sfft: { mode: 'cross', convolve: 'auto', halfWidth, kernelOrder: 0, backgroundOrder: 0 },
    },
    async (name, fn) => {
      const t = performance.now();
      const out = await fn();
      steps[name] = (steps[name] ?? 0) + (performance.now() - t) / 1000;
      return out;
    },
  );
  const sources = method === 'sfft' ? (r.sfft?.sources ?? []) : r.sources;
  const found = truth.filter((t) => sources.some((s) => s.sign > 0 && Math.hypot(s.x - t.x, s.y - t.y) <= 2));
  const out: Run = {
    seconds: (performance.now() - t0) / 1000,
    steps,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    sources: sources.length,
    found: found.length,
    fluxRatio: method === 'sfft' ? (r.sfft?.result?.fluxRatio ?? Number.NaN) : r.match.fluxRatio,
  };
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
}

if (args[0] === '--child') {
  await child(args[1], Number(args[2]), args[3] as 'zogy' | 'sfft', Number(args[4]));
} else {
  const n = Number(opt('size', '4088'));
  const runs = Number(opt('runs', '3'));
  const halfWidth = Number(opt('half-width', '9'));
  if (!(n >= 256) || !(runs >= 1) || !Number.isInteger(halfWidth)) {
    console.error('usage: sfft.ts [--size 4088] [--runs 3] [--half-width 9]');
    process.exit(64);
  }
  const dir = mkdtempSync(join(tmpdir(), 'rapid-bench-sfft-'));
  console.error(`making a ${n}² pair…`);
  const transients = writePairFiles(dir, n, [PSF_SIDE]);
  writeFileSync(join(dir, 'transients.json'), JSON.stringify(transients.map((t) => ({ x: t.x, y: t.y }))));
  const self = fileURLToPath(import.meta.url);
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
  const methods = ['zogy', 'sfft'] as const;
  const results = new Map<string, Run[]>(methods.map((m) => [m, []]));
  for (let r = 0; r < runs; r++) {
    for (const m of methods) {
      const proc = spawnSync(
        process.execPath,
        ['--import', 'tsx', self, '--child', dir, String(n), m, String(halfWidth)],
        {
          encoding: 'utf8',
          maxBuffer: 1 << 26,
        },
      );
      if (proc.status !== 0) throw new Error(`${m}: ${proc.stderr}`);
      const out = JSON.parse(proc.stdout) as Run;
      results.get(m)?.push(out);
      console.error(
        `  ${m} run ${r + 1}: ${out.seconds.toFixed(2)} s (its own step ${(out.steps[m] ?? 0).toFixed(2)} s), ${out.maxRssMB.toFixed(0)} MB`,
      );
    }
  }
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `ZOGY and SFFT (cross-convolution, half-width ${halfWidth}) on a ${n}² pair with ${200} transients; median of ${runs} runs on ${availableParallelism()} cores:`,
  );
  for (const m of methods) {
    const rs = results.get(m) ?? [];
    const first = rs[0];
    console.log(
      `  ${m.toUpperCase()}: ${median(rs.map((r) => r.seconds)).toFixed(2)} s in all, peak ${Math.max(...rs.map((r) => r.maxRssMB)).toFixed(0)} MB; ${first.sources} sources, ${first.found} of ${200} transients found, flux ratio ${first.fluxRatio.toFixed(4)}`,
    );
    console.log(
      `        steps (s): ${Object.keys(first.steps)
        .map((k) => `${k} ${median(rs.map((r) => r.steps[k] ?? 0)).toFixed(2)}`)
        .join(', ')}`,
    );
  }
  const step = (m: string) => median((results.get(m) ?? []).map((r) => r.steps[m] ?? Number.NaN));
  console.log(
    `  SFFT's step / ZOGY's step: ${(step('sfft') / step('zogy')).toFixed(2)} (SFFT ${step('sfft').toFixed(2)} s; goal ≤ 20 s on 4088², RAPID 110–296 s)`,
  );
  console.log(
    `  load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
}
