import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readFits, readImage, writeFits } from '../src/fits/index.ts';
import { rapid } from './support/cli.ts';
import { apertureFlux, cameraSip, renderStars, type Star, tanWcs } from './support/starfield.ts';

const CENTRE = { ra: 10.2, dec: -43.1 };
const STARS: Star[] = [
  { ra: CENTRE.ra, dec: CENTRE.dec, flux: 30000 },
  { ra: CENTRE.ra + 4 / 3600, dec: CENTRE.dec - 3 / 3600, flux: 20000 },
  { ra: CENTRE.ra - 4 / 3600, dec: CENTRE.dec + 3 / 3600, flux: 25000 },
];

async function writeInputs(dir: string, n: number): Promise<string[]> {
  const paths: string[] = [];
  let s = 9;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  for (let i = 0; i < n; i++) {
    const gain = 1 + 0.1 * i;
    const wcs = tanWcs({
      ...CENTRE,
      crpix: [64.5 + 3.3 * i, 64.5 - 2.1 * i],
      scale: 0.11,
      rotation: 2 * i,
      sip: cameraSip(),
    });
    const data = renderStars(
      wcs,
      128,
      128,
      STARS.map((x) => ({ ...x, flux: x.flux * gain })),
      0.4,
      50 * gain,
    );
    for (let k = 0; k < data.length; k++)
      data[k] += 2 * Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());
    const header = wcs.toHeader();
    header.set('ZPTMAG', 26 + 2.5 * Math.log10(gain), 'AB mag of 1 count');
    const path = join(dir, `in${i}.fits`);
    await writeFits(path, [{ data, shape: [128, 128], header }]);
    paths.push(path);
  }
  return paths;
}

test('rapid coadd --grid writes the reference, coverage, uncertainty and QA', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rapid-coadd-cli-'));
  try {
    const inputs = await writeInputs(dir, 5);
    const target = tanWcs({ ...CENTRE, crpix: [75.5, 75.5], scale: 0.11 });
    const grid = join(dir, 'grid.fits');
    await writeFits(grid, [
      { data: new Float32Array(150 * 150), shape: [150, 150], header: target.toHeader() },
    ]);
    const out = join(dir, 'ref');
    const r = rapid(['coadd', '--grid', grid, '--out', out, '--json', ...inputs]);
    assert.equal(r.status, 0, r.stderr);
    const qa = JSON.parse(r.stdout);
    assert.equal(qa.nInputs, 5);
    assert.equal(qa.zeroPoint, 26);
    assert.ok(qa.cov5percent > 20);
    for (const f of ['refimage.fits', 'refimage_cov.fits', 'refimage_unc.fits', 'refimage_qa.json'])
      assert.ok(existsSync(join(out, f)), f);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'refimage_qa.json'), 'utf8')).nInputs, 5);
    const img = readImage((await readFits(join(out, 'refimage.fits'))).firstImage());
    const flux = apertureFlux(
      { width: 150, height: 150, data: img.data as Float32Array },
      target,
      STARS[0].ra,
      STARS[0].dec,
      10,
    );
    assert.ok(Math.abs(flux / STARS[0].flux - 1) < 0.01, `flux ${flux}`);
    const cov = readImage((await readFits(join(out, 'refimage_cov.fits'))).firstImage());
    assert.equal(Number(cov.data[75 * 150 + 75]), 5);
    // The temporary frame store is gone.
    assert.deepEqual(
      (await import('node:fs')).readdirSync(out).filter((f) => f.startsWith('.coadd-')),
      [],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rapid coadd: usage, missing input, no overlap', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rapid-coadd-cli-'));
  try {
    const inputs = await writeInputs(dir, 1);
    const out = join(dir, 'ref');
    assert.equal(rapid(['coadd', '--out', out, ...inputs]).status, 64);
    assert.equal(rapid(['coadd', '--tile', '5', '--grid', inputs[0], '--out', out, ...inputs]).status, 64);
    assert.equal(
      rapid(['coadd', '--grid', inputs[0], '--out', out, '--combine', 'mean', ...inputs]).status,
      64,
    );
    assert.equal(rapid(['coadd', '--grid', inputs[0], '--out', out, join(dir, 'nope.fits')]).status, 66);
    const far = join(dir, 'far.fits');
    const farWcs = tanWcs({ ra: CENTRE.ra + 5, dec: CENTRE.dec, crpix: [32.5, 32.5], scale: 0.11 });
    await writeFits(far, [{ data: new Float32Array(64 * 64), shape: [64, 64], header: farWcs.toHeader() }]);
    const r = rapid(['coadd', '--grid', far, '--out', out, ...inputs]);
    assert.equal(r.status, 65);
    assert.match(r.stderr, /overlap/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rapid coadd leaves saturated input pixels out: the other inputs fill them, or the coverage says none could', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rapid-coadd-sat-'));
  try {
    // Three inputs on the target's own grid; a pixel clipped at SATURATE in all of them, and one
    // clipped in the first input only.
    const wcs = tanWcs({ ...CENTRE, crpix: [64.5, 64.5], scale: 0.11 });
    const inputs: string[] = [];
    for (let i = 0; i < 3; i++) {
      const data = new Float32Array(128 * 128);
      for (let k = 0; k < data.length; k++) data[k] = 50 + ((k * 7919 + i * 104729) % 13) - 6;
      data[40 * 128 + 40] = 5000;
      if (i === 0) data[90 * 128 + 90] = 5000;
      const header = wcs.toHeader();
      header.set('ZPTMAG', 26);
      header.set('SATURATE', 5000);
      const path = join(dir, `in${i}.fits`);
      await writeFits(path, [{ data, shape: [128, 128], header }]);
      inputs.push(path);
    }
    const grid = join(dir, 'grid.fits');
    await writeFits(grid, [{ data: new Float32Array(128 * 128), shape: [128, 128], header: wcs.toHeader() }]);
    const out = join(dir, 'ref');
    const r = rapid(['coadd', '--grid', grid, '--out', out, ...inputs]);
    assert.equal(r.status, 0, r.stderr);
    const img = readImage((await readFits(join(out, 'refimage.fits'))).firstImage()).data as Float32Array;
    const cov = readImage((await readFits(join(out, 'refimage_cov.fits'))).firstImage()).data;
    assert.equal(cov[40 * 128 + 40], 0);
    assert.ok(Number.isNaN(img[40 * 128 + 40]));
    assert.equal(cov[90 * 128 + 90], 2);
    assert.ok(Math.abs(img[90 * 128 + 90]) < 20, `${img[90 * 128 + 90]} (background-subtracted)`);
    assert.equal(cov[20 * 128 + 20], 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
