/**
 * Benchmark: pixel → sky for every pixel of a 4088 × 4088 Roman-like TAN-SIP image (16.7 million
 * points, SIP order 5), ours against astropy's all_pix2world (Debian's /usr/bin/python3) on the
 * same header and grid in the same run.
 *
 *   node --import tsx bench/wcs-pix2sky.ts [--runs 5] [--size 4088] [--order 5] [--seed 7]
 *
 * Ours is timed twice: `pixelGridToSky` (the whole image as a grid: per-row SIP polynomials) and
 * `pixelToSky` on explicit x, y arrays (the general path, the same input astropy gets). Each side
 * runs in its own child process so that its peak memory (VmHWM, the high-water RSS) is its own;
 * the RSS before the first transform is reported too, since Node and Python start at different
 * sizes. Times are medians over the runs; the ratio is ours / astropy (below 1 is faster). The
 * results of both are compared over the whole grid (largest separation, degrees).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Header } from '../src/fits/header.ts';
import { Wcs } from '../src/wcs/index.ts';
import { romanHeader } from '../test/support/wcs.ts';

const PYTHON = '/usr/bin/python3';
const SELF = fileURLToPath(import.meta.url);

function peakMB(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

interface Timing {
  /** Peak RSS after the grid runs, before the x, y arrays exist (MB). */
  peakGridMB?: number;
  grid?: number[];
  arrays?: number[];
  ms?: number[];
  beforeMB: number;
  peakMB: number;
}

/** Our side, in a child process: times, then the grid result written for comparison. */
function ours(headerPath: string, size: number, runs: number, out: string): void {
  const wcs = Wcs.fromHeader(Header.fromText(readFileSync(headerPath, 'latin1')));
  const n = size * size;
  const result = { ra: new Float64Array(n), dec: new Float64Array(n) };
  const beforeMB = process.memoryUsage().rss / 2 ** 20;
  const grid: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    wcs.pixelGridToSky(size, size, { out: result });
    grid.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const peakGridMB = peakMB();
  writeFileSync(`${out}.ra`, result.ra);
  writeFileSync(`${out}.dec`, result.dec);
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let j = 0; j < size; j++) {
    for (let i = 0; i < size; i++) {
      x[j * size + i] = i;
      y[j * size + i] = j;
    }
  }
  const arrays: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    wcs.pixelToSky(x, y, { out: result });
    arrays.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const timing: Timing = { grid, arrays, beforeMB, peakGridMB, peakMB: peakMB() };
  process.stdout.write(JSON.stringify(timing));
}

const ASTROPY = `
import json, re, sys, time, warnings
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
warnings.simplefilter('ignore')
path, size, runs, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def rss(field):
    return int(re.search(field + r':\\s+(\\d+) kB', open('/proc/self/status').read()).group(1)) / 1024
w = WCS(fits.getheader(path))
y, x = np.mgrid[0:size, 0:size]
x = x.ravel().astype(np.float64)
y = y.ravel().astype(np.float64)
before = rss('VmRSS')
ms = []
for r in range(runs):
    t0 = time.perf_counter()
    ra, dec = w.all_pix2world(x, y, 0)
    ms.append((time.perf_counter() - t0) * 1000)
np.asarray(ra, '<f8').tofile(out + '.ra')
np.asarray(dec, '<f8').tofile(out + '.dec')
print(json.dumps({'ms': ms, 'beforeMB': before, 'peakMB': rss('VmHWM')}))
`;

function maxSeparation(a: string, b: string): { max: number; invalid: number } {
  const read = (p: string) => {
    const buf = readFileSync(p);
    return new Float64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8);
  };
  const ra1 = read(`${a}.ra`);
  const de1 = read(`${a}.dec`);
  const ra2 = read(`${b}.ra`);
  const de2 = read(`${b}.dec`);
  const d2r = Math.PI / 180;
  let max = 0;
  let invalid = 0;
  for (let i = 0; i < ra1.length; i++) {
    const c1 = Math.cos(de1[i] * d2r);
    const c2 = Math.cos(de2[i] * d2r);
    const dx = c1 * Math.cos(ra1[i] * d2r) - c2 * Math.cos(ra2[i] * d2r);
    const dy = c1 * Math.sin(ra1[i] * d2r) - c2 * Math.sin(ra2[i] * d2r);
    const dz = Math.sin(de1[i] * d2r) - Math.sin(de2[i] * d2r);
    const chord = Math.sqrt(dx * dx + dy * dy + dz * dz);
    if (Number.isNaN(chord)) invalid++;
    else if (chord > max) max = chord;
  }
  return { max: (2 * Math.asin(max / 2)) / d2r, invalid };
}

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

function main(): void {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    ours(args[1], Number(args[2]), Number(args[3]), args[4]);
    return;
  }
  const runs = option(args, '--runs', 5);
  const size = option(args, '--size', 4088);
  const order = option(args, '--order', 5);
  const seed = option(args, '--seed', 7);
  const dir = mkdtempSync(join(tmpdir(), 'rapid-bench-wcs-'));
  try {
    const header = romanHeader(seed, { order, inverse: true });
    header.set('NAXIS1', size);
    header.set('NAXIS2', size);
    const headerPath = join(dir, 'roman.fits');
    writeFileSync(headerPath, header.toBytes());
    console.log(
      `pixel → sky, ${size} × ${size} = ${((size * size) / 1e6).toFixed(1)} M pixels, TAN-SIP order ${order}, ${runs} runs`,
    );

    const node = spawnSync(
      process.execPath,
      ['--import', 'tsx', SELF, '--child', headerPath, String(size), String(runs), join(dir, 'ours')],
      {
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      },
    );
    if (node.status !== 0) throw new Error(`our child failed: ${node.stderr}`);
    const us = JSON.parse(node.stdout) as Timing;
    const gridMs = median(us.grid ?? []);
    const arraysMs = median(us.arrays ?? []);
    console.log(
      `ours    pixelGridToSky  median ${gridMs.toFixed(0)} ms  (runs: ${us.grid?.map((t) => t.toFixed(0)).join(', ')})`,
    );
    console.log(
      `ours    pixelToSky      median ${arraysMs.toFixed(0)} ms  (runs: ${us.arrays?.map((t) => t.toFixed(0)).join(', ')})`,
    );
    console.log(
      `ours    memory: ${us.beforeMB.toFixed(0)} MB before; peak ${us.peakGridMB?.toFixed(0)} MB with the grid path, ` +
        `${us.peakMB.toFixed(0)} MB once the x, y arrays exist (output ${((size * size * 16) / 2 ** 20).toFixed(0)} MB, inputs as much again)`,
    );

    const py = spawnSync(
      PYTHON,
      ['-c', ASTROPY, headerPath, String(size), String(runs), join(dir, 'astropy')],
      {
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      },
    );
    if (py.status !== 0) {
      console.log(
        `astropy: not measured (${PYTHON} with astropy failed: ${py.stderr.trim().split('\n').pop()})`,
      );
      return;
    }
    const them = JSON.parse(py.stdout) as Timing;
    const astropyMs = median(them.ms ?? []);
    console.log(
      `astropy all_pix2world   median ${astropyMs.toFixed(0)} ms  (runs: ${them.ms?.map((t) => t.toFixed(0)).join(', ')})`,
    );
    console.log(`astropy memory: ${them.beforeMB.toFixed(0)} MB before, peak ${them.peakMB.toFixed(0)} MB`);
    console.log(
      `ratio ours / astropy: grid ${(gridMs / astropyMs).toFixed(3)}, arrays ${(arraysMs / astropyMs).toFixed(3)}`,
    );
    const diff = maxSeparation(join(dir, 'ours'), join(dir, 'astropy'));
    console.log(
      `largest difference ours − astropy over all ${size * size} pixels: ${diff.max.toExponential(2)} deg` +
        (diff.invalid ? ` (${diff.invalid} pixels NaN in one of them)` : ''),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
