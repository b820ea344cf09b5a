/**
 * Resampling a detector-sized image onto a shifted and rotated grid: `rapid resample` against
 * SWarp on the same FITS input and target, both as child processes that read and write FITS
 * (median of runs, peak RSS of each child via /usr/bin/time), and their agreement.
 *
 *   node --import tsx bench/resample.ts [--size 4088] [--runs 3] [--kernel lanczos3|bilinear]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFits, readImage, writeFits } from '../src/fits/index.ts';
import { tanWcs } from '../test/support/starfield.ts';
import { runSwarp } from '../test/support/swarp.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];

/** Noise plus a few thousand Gaussian stars of 1.3 px FWHM (Roman-like, undersampled). */
export function syntheticFrame(n: number, seed: number, sky = 100): Float32Array {
  let s = seed >>> 0;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  const data = new Float32Array(n * n);
  for (let k = 0; k < data.length; k += 2) {
    const r = Math.sqrt(-2 * Math.log(rnd()));
    const a = 2 * Math.PI * rnd();
    data[k] = sky + 5 * r * Math.cos(a);
    if (k + 1 < data.length) data[k + 1] = sky + 5 * r * Math.sin(a);
  }
  const sigma = 1.3 / 2.3548;
  for (let i = 0; i < (n * n) / 5000; i++) {
    const x0 = 5 + rnd() * (n - 10);
    const y0 = 5 + rnd() * (n - 10);
    const f = 500 * 100 ** rnd();
    for (let y = Math.floor(y0) - 3; y <= Math.floor(y0) + 3; y++) {
      for (let x = Math.floor(x0) - 3; x <= Math.floor(x0) + 3; x++) {
        data[y * n + x] +=
          (f / (2 * Math.PI * sigma * sigma)) *
          Math.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma * sigma));
      }
    }
  }
  return data;
}

function timed(cmd: string, args: string[]): { seconds: number; maxRssMb: number } {
  const t = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], {
    encoding: 'utf8',
    cwd: ROOT,
    maxBuffer: 1 << 24,
  });
  const seconds = (performance.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return { seconds, maxRssMb: Number(r.stderr.trim().split('\n').pop()) / 1024 };
}

async function main(): Promise<void> {
  const n = Number(arg('--size', '4088'));
  const runs = Number(arg('--runs', '3'));
  const kernel = arg('--kernel', 'lanczos3');
  console.log('building dist/ …');
  spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  const dir = mkdtempSync(join(tmpdir(), 'rapid-bench-resample-'));
  try {
    const src = tanWcs({ ra: 150, dec: 2, crpix: [n / 2 + 0.5, n / 2 + 0.5], scale: 0.11, rotation: 0.3 });
    const dst = tanWcs({ ra: 150, dec: 2, crpix: [n / 2 + 6.2, n / 2 - 3.7], scale: 0.11, rotation: 20 });
    const input = join(dir, 'in.fits');
    const target = join(dir, 'target.fits');
    await writeFits(input, [{ data: syntheticFrame(n, 1), shape: [n, n], header: src.toHeader() }]);
    await writeFits(target, [{ data: new Uint8Array(n * n), shape: [n, n], header: dst.toHeader() }]);
    const out = join(dir, 'ours.fits');
    const ours: number[] = [];
    const theirs: number[] = [];
    let oursMb = 0;
    let theirsMb = 0;
    let swarpImage = '';
    for (let r = 0; r < runs; r++) {
      const o = timed(process.execPath, [
        join(ROOT, 'bin/rapid.js'),
        'resample',
        input,
        '--onto',
        target,
        '--out',
        out,
        '--kernel',
        kernel,
      ]);
      ours.push(o.seconds);
      oursMb = Math.max(oursMb, o.maxRssMb);
      const s = runSwarp([input], dir, dst.toHeader(), n, n, { RESAMPLING_TYPE: kernel.toUpperCase() });
      theirs.push(s.seconds);
      theirsMb = Math.max(theirsMb, s.maxRssKb / 1024);
      swarpImage = s.image;
    }
    const a = readImage((await readFits(out)).firstImage()).data as Float32Array;
    const b = readImage((await readFits(swarpImage)).firstImage()).data as Float32Array;
    let d2 = 0;
    let v2 = 0;
    let m = 0;
    for (let k = 0; k < a.length; k++) {
      if (!Number.isFinite(a[k]) || !Number.isFinite(b[k]) || b[k] === 0) continue;
      d2 += (a[k] - b[k]) ** 2;
      v2 += b[k] ** 2;
      m++;
    }
    const to = median(ours);
    const ts = median(theirs);
    console.log(
      `\nresample ${n}×${n} onto a rotated (20°), shifted grid, kernel ${kernel}; FITS in and out; median of ${runs} runs`,
    );
    console.log(
      `  rapid resample  ${to.toFixed(2).padStart(7)} s   peak ${oursMb.toFixed(0).padStart(5)} MB   runs ${ours.map((t) => t.toFixed(2)).join(', ')}`,
    );
    console.log(
      `  SWarp           ${ts.toFixed(2).padStart(7)} s   peak ${theirsMb.toFixed(0).padStart(5)} MB   runs ${theirs.map((t) => t.toFixed(2)).join(', ')}`,
    );
    console.log(
      `  ratio ours/SWarp ${(to / ts).toFixed(2)}; agreement: rms difference / rms value ${Math.sqrt(d2 / v2).toExponential(2)} over ${m} pixels`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.exit(0);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
