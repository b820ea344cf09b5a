/**
 * Background and RMS maps of a detector-sized image: `rapid background` against
 * SourceExtractor (CHECKIMAGE_TYPE BACKGROUND,BACKGROUND_RMS, detection made negligible by a
 * huge threshold) on the same FITS file, both as child processes (median of runs, peak RSS via
 * /usr/bin/time), and the agreement of the maps.
 *
 *   node --import tsx bench/background.ts [--size 4088] [--runs 3]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFits, readImage, writeFits } from '../src/fits/index.ts';
import { syntheticFrame } from './resample.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CONFIG = '/usr/share/source-extractor';
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];

function timed(cmd: string, args: string[], cwd: string): { seconds: number; maxRssMb: number } {
  const t = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], {
    encoding: 'utf8',
    cwd,
    maxBuffer: 1 << 24,
  });
  const seconds = (performance.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return { seconds, maxRssMb: Number(r.stderr.trim().split('\n').pop()) / 1024 };
}

async function plane(path: string): Promise<Float32Array> {
  return Float32Array.from(readImage((await readFits(path)).firstImage()).data as ArrayLike<number>);
}

async function main(): Promise<void> {
  const n = Number(arg('--size', '4088'));
  const runs = Number(arg('--runs', '3'));
  console.log('building dist/ …');
  spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  const dir = mkdtempSync(join(tmpdir(), 'rapid-bench-background-'));
  try {
    const input = join(dir, 'in.fits');
    // A sky gradient under the stars, so that the maps have something to follow.
    const data = syntheticFrame(n, 3);
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) data[y * n + x] += (20 * x) / n + (10 * y) / n;
    await writeFits(input, [{ data, shape: [n, n] }]);
    const ours: number[] = [];
    const theirs: number[] = [];
    let oursMb = 0;
    let theirsMb = 0;
    for (let r = 0; r < runs; r++) {
      const o = timed(
        process.execPath,
        [
          join(ROOT, 'bin/rapid.js'),
          'background',
          input,
          '--out',
          join(dir, 'b.fits'),
          '--rms-out',
          join(dir, 'r.fits'),
        ],
        ROOT,
      );
      ours.push(o.seconds);
      oursMb = Math.max(oursMb, o.maxRssMb);
      const s = timed(
        'source-extractor',
        [
          input,
          '-c',
          join(CONFIG, 'default.sex'),
          '-PARAMETERS_NAME',
          join(CONFIG, 'default.param'),
          '-FILTER',
          'N',
          '-DETECT_THRESH',
          '1e10',
          '-ANALYSIS_THRESH',
          '1e10',
          '-BACK_SIZE',
          '64',
          '-BACK_FILTERSIZE',
          '3',
          '-CHECKIMAGE_TYPE',
          'BACKGROUND,BACKGROUND_RMS',
          '-CHECKIMAGE_NAME',
          `${join(dir, 'sb.fits')},${join(dir, 'sr.fits')}`,
          '-CATALOG_TYPE',
          'NONE',
          '-VERBOSE_TYPE',
          'QUIET',
        ],
        dir,
      );
      theirs.push(s.seconds);
      theirsMb = Math.max(theirsMb, s.maxRssMb);
    }
    const rel = async (a: string, b: string) => {
      const x = await plane(join(dir, a));
      const y = await plane(join(dir, b));
      const d = Float64Array.from(x, (v, k) => Math.abs(v - y[k]) / Math.abs(y[k])).sort();
      return `median ${d[d.length >> 1].toExponential(2)}, max ${d[d.length - 1].toExponential(2)}`;
    };
    const to = median(ours);
    const ts = median(theirs);
    console.log(
      `\nbackground and RMS maps of a ${n}² image (BACK_SIZE 64, BACK_FILTERSIZE 3); FITS in and out; median of ${runs} runs`,
    );
    console.log(
      `  rapid background   ${to.toFixed(2).padStart(6)} s   peak ${oursMb.toFixed(0).padStart(5)} MB`,
    );
    console.log(
      `  source-extractor   ${ts.toFixed(2).padStart(6)} s   peak ${theirsMb.toFixed(0).padStart(5)} MB`,
    );
    console.log(`  ratio ours/SourceExtractor ${(to / ts).toFixed(2)}`);
    console.log(
      `  agreement: background ${await rel('b.fits', 'sb.fits')}; RMS ${await rel('r.fits', 'sr.fits')}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.exit(0);
}

await main();
