import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readFits, readImage } from '../src/fits/index.ts';
import {
  estimateBackground,
  estimateBackgroundThreaded,
  interpolateMeshThreaded,
  measureBackgroundMesh,
  subtractBackground,
} from '../src/image/background.ts';
import { type Image, MaskBit } from '../src/image/image.ts';
import { sharedFloat32, WorkerPool } from '../src/image/workers.ts';
import { BadInputError } from '../src/util/errors.ts';
import { TEST_DATA } from './support/cli.ts';
import { hasPythonModule, requireTool, runPython } from './support/tools.ts';

const NTT = join(TEST_DATA, 'real/sep-ntt');

async function readPlane(path: string): Promise<Image> {
  const img = readImage((await readFits(path)).firstImage());
  return { width: img.width, height: img.height, data: Float32Array.from(img.data as ArrayLike<number>) };
}

/** Median and maximum of |ours − ref| / |ref|. */
function relativeDifference(ours: Float32Array, ref: Float32Array): { median: number; max: number } {
  const rel = Float64Array.from(ours, (v, i) => Math.abs(v - ref[i]) / Math.abs(ref[i])).sort();
  return { median: rel[rel.length >> 1], max: rel[rel.length - 1] };
}

/** Deterministic standard normal deviates (Box–Muller on a small LCG). */
function gaussianNoise(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

test('background and RMS agree with SourceExtractor on the NTT image (BACK_SIZE 64, BACK_FILTERSIZE 3)', async () => {
  const image = await readPlane(join(NTT, 'image.fits'));
  const back = await readPlane(join(NTT, 'back.fits'));
  const rms = await readPlane(join(NTT, 'rms.fits'));
  const bg = estimateBackground(image, { meshSize: 64, filterSize: 3 });
  const b = relativeDifference(bg.level, back.data);
  const r = relativeDifference(bg.rms, rms.data);
  console.error(
    `# vs back.fits: median ${b.median.toExponential(2)} max ${b.max.toExponential(2)}; vs rms.fits: median ${r.median.toExponential(2)} max ${r.max.toExponential(2)}`,
  );
  assert.ok(b.median < 1e-3 && b.max < 1e-2, `background: ${JSON.stringify(b)}`);
  assert.ok(r.median < 1e-3 && r.max < 1e-2, `rms: ${JSON.stringify(r)}`);
  assert.equal(bg.mesh.nx, 4);
  assert.equal(bg.mesh.ny, 4);
});

function syntheticField(width: number, height: number, seed = 1): Image {
  const noise = gaussianNoise(seed);
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data[y * width + x] = 100 + 0.05 * x - 0.03 * y + 5 * noise();
  }
  // A few bright stars that the clipping must see through.
  for (const [sx, sy, f] of [
    [40, 50, 5000],
    [150, 90, 20000],
    [220, 160, 8000],
  ]) {
    for (let y = Math.max(0, sy - 8); y < Math.min(height, sy + 9); y++) {
      for (let x = Math.max(0, sx - 8); x < Math.min(width, sx + 9); x++) {
        data[y * width + x] += (f / (2 * Math.PI * 4)) * Math.exp(-((x - sx) ** 2 + (y - sy) ** 2) / 8);
      }
    }
  }
  return { width, height, data };
}

test('a flat-plus-gradient field: level and RMS recovered; NaN and masked pixels ignored', () => {
  const width = 300;
  const height = 200;
  const field = syntheticField(width, height);
  const data = field.data.slice();
  const mask = new Uint8Array(width * height);
  // A block of absurd values, masked; and a block of NaN.
  for (let y = 20; y < 60; y++) {
    for (let x = 100; x < 140; x++) {
      data[y * width + x] = 1e6;
      mask[y * width + x] = MaskBit.SATURATED;
      data[(y + 120) * width + x + 100] = Number.NaN;
    }
  }
  const bg = estimateBackground({ width, height, data, mask }, { meshSize: 32, filterSize: 3 });
  assert.equal(bg.mesh.nx, 10); // 300 / 32: the last mesh is 12 pixels wide
  assert.equal(bg.mesh.ny, 7);
  let worst = 0;
  for (let y = 16; y < height - 16; y++) {
    for (let x = 16; x < width - 16; x++) {
      const truth = 100 + 0.05 * x - 0.03 * y;
      worst = Math.max(worst, Math.abs(bg.level[y * width + x] - truth));
    }
  }
  assert.ok(worst < 1.5, `background off by up to ${worst}`);
  assert.ok(Math.abs(bg.mesh.globalRms - 5) < 0.3, `global RMS ${bg.mesh.globalRms}`);
  assert.ok(Number.isFinite(bg.level[150 * width + 220]) && Number.isFinite(bg.rms[150 * width + 220]));
  const sub = subtractBackground({ width, height, data: field.data }, bg);
  assert.ok(Math.abs(sub.data[10 * width + 10]) < 25);
});

test('threaded background (meshes and splines shared among threads) equals the single-threaded one, mask and NaN included', async () => {
  const width = 300;
  const height = 203;
  const field = syntheticField(width, height);
  const data = field.data.slice();
  const mask = new Uint8Array(width * height);
  for (let k = 0; k < 2000; k++) mask[(k * 37) % data.length] = MaskBit.SATURATED;
  for (let k = 0; k < 500; k++) data[(k * 101) % data.length] = Number.NaN;
  const image = { width, height, data, mask };
  const options = { meshSize: 32, filterSize: 3 };
  const pool = new WorkerPool(3);
  try {
    const one = estimateBackground(image, options);
    const many = await estimateBackgroundThreaded(image, options, pool);
    assert.deepEqual(many.mesh.level, one.mesh.level);
    assert.deepEqual(many.mesh.rms, one.mesh.rms);
    assert.deepEqual(many.level, one.level);
    assert.deepEqual(many.rms, one.rms);
    // Subtracting in place: data − level, computed before rounding to float32.
    const inPlace = sharedFloat32(width * height);
    inPlace.set(field.data);
    await interpolateMeshThreaded(one.mesh, one.mesh.level, width, height, inPlace, { subtract: true, pool });
    let worst = 0;
    for (let k = 0; k < inPlace.length; k++)
      worst = Math.max(worst, Math.abs(inPlace[k] - Math.fround(field.data[k] - one.level[k])));
    assert.equal(worst, 0, `in-place subtraction differs by ${worst}`);
    await assert.rejects(
      interpolateMeshThreaded(one.mesh, one.mesh.level, width, height, new Float32Array(width * height)),
      /shared memory/,
    );
  } finally {
    await pool.close();
  }
});

test('a mesh with too few usable pixels is filled from its neighbours', () => {
  const width = 128;
  const height = 128;
  const noise = gaussianNoise(3);
  const data = Float32Array.from({ length: width * height }, () => 50 + noise());
  for (let y = 0; y < 64; y++)
    for (let x = 0; x < 64; x++) if ((x + y) % 4 !== 0) data[y * width + x] = Number.NaN;
  const mesh = measureBackgroundMesh({ width, height, data }, { meshSize: 64, filterSize: 1 });
  assert.equal(mesh.badMeshes, 1);
  assert.ok(Math.abs(mesh.level[0] - 50) < 0.2, `filled mesh ${mesh.level[0]}`);
});

test('all pixels masked is bad input', () => {
  const width = 64;
  const height = 64;
  const data = new Float32Array(width * height).fill(Number.NaN);
  assert.throws(() => estimateBackground({ width, height, data }), BadInputError);
  const mask = new Uint8Array(width * height).fill(MaskBit.BAD);
  assert.throws(
    () => estimateBackground({ width, height, data: new Float32Array(width * height), mask }),
    BadInputError,
  );
  assert.throws(
    () => estimateBackground({ width, height, data: new Float32Array(width * height) }, { meshSize: 0 }),
    RangeError,
  );
});

test('cross-check with sep (SourceExtractor as a library) on a field with partial meshes', (t) => {
  if (!requireTool(t, 'python3-sep', hasPythonModule('sep'))) return;
  const width = 300;
  const height = 200;
  const field = syntheticField(width, height, 7);
  const dir = mkdtempSync(join(tmpdir(), 'rapid-bkg-'));
  try {
    writeFileSync(join(dir, 'in.f32'), field.data);
    runPython(
      `import sys, numpy as np, sep
d = np.fromfile(sys.argv[1] + '/in.f32', dtype='<f4').reshape(${height}, ${width})
b = sep.Background(d, bw=32, bh=32, fw=3, fh=3)
b.back().astype('<f4').tofile(sys.argv[1] + '/back.f32'); b.rms().astype('<f4').tofile(sys.argv[1] + '/rms.f32')`,
      [dir],
    );
    const load = (name: string) => {
      const b = readFileSync(join(dir, name));
      return new Float32Array(b.buffer, b.byteOffset, b.length / 4).slice();
    };
    const bg = estimateBackground(field, { meshSize: 32, filterSize: 3 });
    const b = relativeDifference(bg.level, load('back.f32'));
    const r = relativeDifference(bg.rms, load('rms.f32'));
    console.error(
      `# vs sep: background median ${b.median.toExponential(2)} max ${b.max.toExponential(2)}; rms median ${r.median.toExponential(2)} max ${r.max.toExponential(2)}`,
    );
    // sep places mesh centres at row y/bh − 0.5 (not (y + 0.5)/bh − 0.5): a half-pixel shift in y only.
    assert.ok(b.median < 1e-3 && b.max < 1e-2, JSON.stringify(b));
    assert.ok(r.median < 1e-2 && r.max < 5e-2, JSON.stringify(r));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
