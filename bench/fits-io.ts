/**
 * Benchmark: read and write of a 4088 x 4088 float32 FITS image (67 MB), ours against astropy
 * (Debian's /usr/bin/python3, astropy.io.fits getdata and writeto) in the same run.
 *
 *   node --import tsx bench/fits-io.ts [--runs 5] [--size 4088]
 *
 * Each measurement runs in a fresh child process, so peak memory (VmHWM, the high-water RSS)
 * belongs to that one operation; the RSS before the operation is reported too, since Node and
 * Python start at different sizes (for writes it includes the image being written). Times are medians over the runs; the ratio is ours / astropy (below 1 is
 * faster). astropy's default getdata maps the file lazily and returns big-endian values, so it
 * is also measured with memmap=False (all values in memory, still big-endian) and with a
 * conversion to native order, which is what ours returns.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFits, readImage, writeFits } from '../src/fits/index.ts';

const PYTHON = '/usr/bin/python3';
const SELF = fileURLToPath(import.meta.url);

interface Sample {
  ms: number;
  /** Peak RSS of the process, MB. */
  peakMB: number;
  /** RSS just before the operation, MB. */
  beforeMB: number;
}

function rssMB(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

/**
 * Peak RSS of this process in MB: VmHWM from /proc (Linux), which starts afresh at exec, unlike
 * getrusage's maxrss, which a child inherits from the process that spawned it.
 */
function peakMB(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}

/** A deterministic image: smooth sky plus pseudo-random noise. */
function makeImage(size: number): Float32Array {
  const data = new Float32Array(size * size);
  let s = 12345;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    data[i] = 1000 + (i % size) * 0.01 + (s / 0x80000000) * 20;
  }
  return data;
}

async function child(op: string, path: string, size: number): Promise<void> {
  let before: number;
  let t0: bigint;
  if (op === 'make') {
    await writeFits(path, [{ data: makeImage(size), shape: [size, size] }]);
    process.stdout.write('{}');
    return;
  }
  if (op === 'read') {
    before = rssMB();
    t0 = process.hrtime.bigint();
    const image = readImage((await readFits(path)).hdus[0]);
    if (image.data.length !== size * size) throw new Error('wrong size');
  } else {
    const data = makeImage(size);
    before = rssMB();
    t0 = process.hrtime.bigint();
    await writeFits(path, [{ data, shape: [size, size] }]);
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stdout.write(JSON.stringify({ ms, peakMB: peakMB(), beforeMB: before }));
}

const PY = `
import sys, time, resource, os
import numpy as np
from astropy.io import fits
op, path, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
def status(key):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
def rss():
    return status('VmRSS:')
if op == 'write':
    data = np.random.default_rng(1).random((size, size), dtype=np.float32)
    data *= 20
    data += 1000 + np.arange(size, dtype=np.float32) * np.float32(0.01)
before = rss()
t0 = time.perf_counter()
if op == 'read':
    d = fits.getdata(path)
    assert d.size == size * size
elif op == 'read-nomemmap':
    d = fits.getdata(path, memmap=False)
    assert d.size == size * size
elif op == 'read-native':
    d = fits.getdata(path, memmap=False).astype(np.float32)
    assert d.size == size * size and d.dtype.isnative
else:
    fits.writeto(path, data, overwrite=True)
ms = (time.perf_counter() - t0) * 1000
peak = status('VmHWM:') or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print('{"ms": %f, "peakMB": %f, "beforeMB": %f}' % (ms, peak, before))
`;

function measure(cmd: string, args: string[]): Sample {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Sample;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const opt = (name: string, fallback: number) => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : fallback;
  };
  const size = opt('--size', 4088);
  if (argv[0] === '--child') return child(argv[1], argv[2], size);
  const runs = opt('--runs', 5);

  const dir = mkdtempSync(join(tmpdir(), 'rapid-fits-bench-'));
  try {
    const input = join(dir, 'input.fits');
    const node = (op: string, file: string) =>
      measure(process.execPath, ['--import', 'tsx', SELF, '--child', op, file, '--size', String(size)]);
    node('make', input); // in a child, so this process stays small
    // Writes go to a new file, deleted right after: replacing a 67 MB file first frees its
    // pages, and piles of dirty pages trigger writeback; either would swamp the write itself.
    const written = (tool: string, run: (path: string) => Sample): Sample => {
      const path = join(dir, `${tool}.fits`);
      try {
        return run(path);
      } finally {
        rmSync(path, { force: true });
      }
    };
    const py = (op: string, file: string) => measure(PYTHON, ['-c', PY, op, file, String(size)]);

    const cases: { op: string; tool: string; run: () => Sample }[] = [
      { op: 'read', tool: 'ours (readFits + readImage)', run: () => node('read', input) },
      { op: 'read', tool: 'astropy getdata (memmap, lazy)', run: () => py('read', input) },
      { op: 'read', tool: 'astropy getdata(memmap=False)', run: () => py('read-nomemmap', input) },
      { op: 'read', tool: 'astropy memmap=False, native order', run: () => py('read-native', input) },
      { op: 'write', tool: 'ours (writeFits)', run: () => written('ours', (p) => node('write', p)) },
      { op: 'write', tool: 'astropy writeto', run: () => written('astropy', (p) => py('write', p)) },
    ];
    const samples = cases.map(() => [] as Sample[]);
    // Interleave the tools so that drift (page cache, CPU frequency) affects all alike.
    for (let r = 0; r < runs; r++) {
      cases.forEach((c, i) => {
        samples[i].push(c.run());
      });
    }

    const mb = (size * size * 4) / 2 ** 20;
    console.log(
      `FITS I/O: ${size} x ${size} float32 (${mb.toFixed(1)} MB of pixels), median of ${runs} runs`,
    );
    const rows = [['op', 'tool', 'median ms', 'min ms', 'ours/astropy', 'peak RSS MB', 'RSS before MB']];
    cases.forEach((c, i) => {
      const med = median(samples[i].map((s) => s.ms));
      const ours = cases.findIndex((x) => x.op === c.op);
      const ratio = i === ours ? '' : (median(samples[ours].map((s) => s.ms)) / med).toFixed(2);
      rows.push([
        c.op,
        c.tool,
        med.toFixed(1),
        Math.min(...samples[i].map((s) => s.ms)).toFixed(1),
        ratio,
        median(samples[i].map((s) => s.peakMB)).toFixed(0),
        median(samples[i].map((s) => s.beforeMB)).toFixed(0),
      ]);
    });
    const widths = rows[0].map((_, j) => Math.max(...rows.map((r) => r[j].length)));
    for (const r of rows)
      console.log(r.map((c, j) => (j < 2 ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join('  '));
    console.log(
      "ours/astropy: median time of ours divided by that tool's; peak RSS includes the interpreter.",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
