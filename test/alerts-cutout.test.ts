import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { CUTOUT_SIZE, cutout, cutStamp } from '../src/alerts/index.ts';
import { parseFits, readImage } from '../src/fits/index.ts';
import { Wcs } from '../src/wcs/index.ts';
import { parentImage, parentWcs } from './support/alerts.ts';
import { hasPythonModule, requireTool, runPython } from './support/tools.ts';

const W = 240;
const H = 200;
const HALF = (CUTOUT_SIZE - 1) / 2;

test('a stamp holds the parent pixels around the nearest pixel, NaN beyond the edges', () => {
  const image = parentImage(W, H);
  // Interior: centre pixel = floor(x + 0.5): 100.49 → 100, 80.5 → 81.
  const s = cutStamp(image, W, H, 100.49, 80.5);
  assert.equal(s.size, 63);
  assert.deepEqual([s.x0, s.y0], [100 - HALF, 81 - HALF]);
  assert.equal(s.data[HALF * 63 + HALF], image[81 * W + 100]);
  assert.ok(s.data.every((v) => Number.isFinite(v)));
  // Corner: the stamp sticks out left and below by 31 − 5 = 26 and 31 − 3 = 28 pixels.
  const c = cutStamp(image, W, H, 5.2, 2.9);
  assert.deepEqual([c.x0, c.y0], [5 - HALF, 3 - HALF]);
  for (let j = 0; j < 63; j++) {
    for (let i = 0; i < 63; i++) {
      const px = c.x0 + i;
      const py = c.y0 + j;
      const v = c.data[j * 63 + i];
      if (px < 0 || py < 0) assert.ok(Number.isNaN(v), `(${i}, ${j}) should be NaN`);
      else assert.equal(v, image[py * W + px], `(${i}, ${j})`);
    }
  }
  // Far corner, and a stamp larger than the image: NaN exactly where the image is not.
  const f = cutStamp(image, W, H, W - 1, H - 1);
  assert.equal(f.data[HALF * 63 + HALF], image[(H - 1) * W + W - 1]);
  assert.ok(Number.isNaN(f.data[HALF * 63 + HALF + 1]));
  assert.ok(Number.isNaN(f.data[(HALF + 1) * 63 + HALF]));
  const tiny = cutStamp(new Float32Array([1, 2, 3, 4, 5, 6]), 3, 2, 1, 0, 5);
  // Rows bottom to top; '.' is NaN.
  const text = Array.from(tiny.data, (v) => (Number.isNaN(v) ? '.' : String(v))).join('');
  assert.equal(text, ['.....', '.....', '.123.', '.456.', '.....'].join(''));
  assert.throws(() => cutStamp(image, W, H, 10, 10, 64), /odd/);
  assert.throws(() => cutStamp(image, W, H - 1, 10, 10), /values/);
});

test('a cutout is gzipped FITS whose WCS maps each stamp pixel to the parent pixel’s sky position', () => {
  const image = parentImage(W, H);
  const wcs = parentWcs();
  const x = 7.3;
  const y = 150.6;
  const bytes = cutout(image, W, H, x, y, wcs);
  assert.equal(bytes[0], 0x1f);
  assert.equal(bytes[1], 0x8b);
  const hdu = parseFits(bytes).hdu(0);
  const img = readImage(hdu);
  assert.deepEqual(img.shape, [63, 63]);
  assert.equal(img.bitpix, -32);
  const stampWcs = Wcs.fromHeader(img.header);
  assert.ok(stampWcs.sip, 'the SIP terms travel with the stamp');
  const x0 = 7 - HALF;
  const y0 = 151 - HALF;
  assert.equal(img.header.number('LTV1'), -x0);
  assert.equal(img.header.number('LTV2'), -y0);
  for (const [i, j] of [
    [HALF, HALF],
    [HALF + 10, HALF - 20],
    [62, 0],
  ]) {
    const a = stampWcs.pixelToSky(i, j);
    const b = wcs.pixelToSky(x0 + i, y0 + j);
    assert.ok(Math.abs(a.ra - b.ra) < 1e-10 && Math.abs(a.dec - b.dec) < 1e-10, `(${i}, ${j})`);
    const v = img.data[j * 63 + i];
    const px = x0 + i;
    if (px < 0) assert.ok(Number.isNaN(v));
    else assert.equal(v, image[(y0 + j) * W + px]);
  }
  // The source position itself: stamp position = parent position − origin.
  const s = stampWcs.pixelToSky(x - x0, y - y0);
  const p = wcs.pixelToSky(x, y);
  assert.ok(Math.abs(s.ra - p.ra) < 1e-10 && Math.abs(s.dec - p.dec) < 1e-10);
});

test('astropy reads a cutout: same pixels (NaN at the edge) and the same sky position at the centre', (t) => {
  if (!requireTool(t, 'astropy', hasPythonModule('astropy'))) return;
  const image = parentImage(W, H);
  const wcs = parentWcs();
  const x = 230.4;
  const y = 4.6;
  const bytes = cutout(image, W, H, x, y, wcs);
  const dir = mkdtempSync(join(tmpdir(), 'rapid-cutout-'));
  const path = join(dir, 'stamp.fits.gz');
  writeFileSync(path, bytes);
  const parentPath = join(dir, 'parent.hdr');
  writeFileSync(parentPath, wcs.toHeader().toString());
  const out = JSON.parse(
    runPython(
      `
import json, sys, math, warnings
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
warnings.simplefilter('ignore')
with fits.open(sys.argv[1]) as f:
    data = f[0].data.astype(float)
    w = WCS(f[0].header)
parent = WCS(fits.Header.fromstring(open(sys.argv[2]).read()))
c = w.all_pix2world([[31, 31], [0, 62]], 0)
p = parent.all_pix2world([[float(sys.argv[3]), float(sys.argv[4])]], 0)
print(json.dumps({'shape': list(data.shape), 'centre': c[0].tolist(), 'corner': c[1].tolist(),
  'parent': p[0].tolist(), 'values': [None if math.isnan(v) else v for v in data.ravel().tolist()]}))
`,
      [path, parentPath, String(Math.floor(x + 0.5)), String(Math.floor(y + 0.5))],
    ),
  );
  assert.deepEqual(out.shape, [63, 63]);
  const ours = readImage(parseFits(gunzipSync(bytes)).hdu(0)).data;
  assert.equal(out.values.length, 63 * 63);
  let nan = 0;
  out.values.forEach((v: number | null, k: number) => {
    if (v === null) {
      nan++;
      assert.ok(Number.isNaN(ours[k]), `pixel ${k}`);
    } else assert.equal(v, ours[k], `pixel ${k}`);
  });
  // x 230 + 31 > 239 and y 5 − 31 < 0: the stamp leaves the image on two sides.
  assert.equal(nan, 63 * 63 - (W - (230 - HALF)) * (5 + HALF + 1));
  // astropy's view of the stamp's centre = astropy's view of the parent pixel = ours.
  const ra = out.centre[0];
  const dec = out.centre[1];
  assert.ok(Math.abs(ra - out.parent[0]) < 1e-9 && Math.abs(dec - out.parent[1]) < 1e-9, JSON.stringify(out));
  const mine = wcs.pixelToSky(230, 5);
  assert.ok(Math.abs(ra - mine.ra) < 1e-9 && Math.abs(dec - mine.dec) < 1e-9);
  const corner = wcs.pixelToSky(230 - HALF, 5 + HALF);
  assert.ok(Math.abs(out.corner[0] - corner.ra) < 1e-9 && Math.abs(out.corner[1] - corner.dec) < 1e-9);
});
