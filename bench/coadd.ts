/**
 * Reference build: co-adding N dithered detector frames onto the default tile grid
 * (`rapid coadd --tile`), against SWarp's weighted co-add of the same FITS inputs onto the
 * same grid (LANCZOS3, background subtracted, FLXSCALE to the common zero point). Both run as
 * child processes; time per input frame, peak RSS (via /usr/bin/time), ratio.
 *
 *   node --import tsx bench/coadd.ts [--size 4088] [--frames 25] [--runs 1]
 *
 * With --size below 4088 the grid shrinks in proportion (a --grid file instead of --tile),
 * for a quick look; the figures to quote come from the full size.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFits } from '../src/fits/index.ts';
import { tileGrid } from '../src/image/coadd.ts';
import { tileOf } from '../src/sky/tiles.ts';
import { Wcs } from '../src/wcs/index.ts';
import { runSwarp } from '../test/support/swarp.ts';
import { syntheticFrame } from './resample.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];

function timed(cmd: string, args: string[]): { seconds: number; maxRssMb: number; stdout: string } {
  const t = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], {
    encoding: 'utf8',
    cwd: ROOT,
    maxBuffer: 1 << 26,
  });
  const seconds = (performance.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return { seconds, maxRssMb: Number(r.stderr.trim().split('\n').pop()) / 1024, stdout: r.stdout };
}

async function main(): Promise<void> {
  const n = Number(arg('--size', '4088'));
  const frames = Number(arg('--frames', '25'));
  const runs = Number(arg('--runs', '1'));
  const nside = 512;
  const ra = 9.45;
  const dec = -44.0;
  const tile = tileOf(ra, dec, nside);
  const full = tileGrid(tile, nside);
  const shrink = n / 4088;
  const grid =
    n === 4088
      ? full
      : tileGrid(tile, nside, {
          width: Math.round(full.width * shrink),
          height: Math.round(full.height * shrink),
        });
  console.log('building dist/ …');
  spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  const dir = mkdtempSync(join(tmpdir(), 'rapid-bench-coadd-'));
  try {
    console.log(`writing ${frames} inputs of ${n}² …`);

    const inputs: string[] = [];
    let s = 11;
    const rnd = () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return (s + 0.5) / 4294967296;
    };
    for (let i = 0; i < frames; i++) {
      // Pointings spread over the tile, as a survey's visits are.
      const span = (grid.width - n) * 0.5;
      const dx = (rnd() - 0.5) * span;
      const dy = (rnd() - 0.5) * span;
      const rot = (rnd() - 0.5) * 10;
      const scale = 0.11 / 3600;
      const t = (rot * Math.PI) / 180;
      const c = grid.wcs.pixelToSky((grid.width - 1) / 2 + dx, (grid.height - 1) / 2 + dy);
      const wcs = new Wcs({
        axes: ['RA', 'DEC'],
        projection: 'TAN',
        crpix: [n / 2 + 0.5, n / 2 + 0.5],
        crval: [c.ra, c.dec],
        cd: [-scale * Math.cos(t), scale * Math.sin(t), scale * Math.sin(t), scale * Math.cos(t)],
      });
      const zp = 26.3 + (rnd() - 0.5) * 0.2;
      const header = wcs.toHeader();
      header.set('ZPTMAG', zp, 'AB mag of 1 count');
      header.set('FLXSCALE', 10 ** (0.4 * (26.3 - zp)), 'to zero point 26.3 (for SWarp)');
      const path = join(dir, `in${i}.fits`);
      await writeFits(path, [{ data: syntheticFrame(n, 100 + i), shape: [n, n], header }]);
      inputs.push(path);
    }
    const ours: number[] = [];
    const theirs: number[] = [];
    let oursMb = 0;
    let theirsMb = 0;
    let qa = '';
    const gridFile = join(dir, 'grid.fits');
    if (n !== 4088)
      await writeFits(gridFile, [
        {
          data: new Uint8Array(grid.width * grid.height),
          shape: [grid.width, grid.height],
          header: grid.wcs.toHeader(),
        },
      ]);
    for (let r = 0; r < runs; r++) {
      const out = join(dir, `ours${r}`);
      const where = n === 4088 ? ['--tile', String(tile), '--nside', String(nside)] : ['--grid', gridFile];
      const o = timed(process.execPath, [
        join(ROOT, 'bin/rapid.js'),
        'coadd',
        ...where,
        '--out',
        out,
        '--zero-point',
        '26.3',
        '--json',
        ...inputs,
      ]);
      ours.push(o.seconds);
      oursMb = Math.max(oursMb, o.maxRssMb);
      qa = o.stdout;
      rmSync(out, { recursive: true, force: true });
      const sdir = join(dir, `swarp${r}`);
      mkdirSync(sdir);
      const sw = runSwarp(inputs, sdir, grid.wcs.toHeader(), grid.width, grid.height, {
        COMBINE_TYPE: 'WEIGHTED',
        WEIGHT_TYPE: 'BACKGROUND',
        SUBTRACT_BACK: 'Y',
        FSCALE_KEYWORD: 'FLXSCALE',
        RESAMPLING_TYPE: 'LANCZOS3',
      });
      theirs.push(sw.seconds);
      theirsMb = Math.max(theirsMb, sw.maxRssKb / 1024);
      rmSync(sdir, { recursive: true, force: true });
    }
    const q = JSON.parse(qa);
    const to = median(ours);
    const ts = median(theirs);
    console.log(
      `\nco-add of ${frames} inputs of ${n}² onto ${grid.width}×${grid.height} (tile ${tile}, nside ${nside}); median of ${runs} run(s)`,
    );
    console.log(
      `  rapid coadd  ${to.toFixed(1).padStart(7)} s = ${(to / frames).toFixed(2)} s per frame   peak ${oursMb.toFixed(0).padStart(5)} MB`,
    );
    console.log(
      `  SWarp        ${ts.toFixed(1).padStart(7)} s = ${(ts / frames).toFixed(2)} s per frame   peak ${theirsMb.toFixed(0).padStart(5)} MB`,
    );
    console.log(
      `  ratio ours/SWarp ${(to / ts).toFixed(2)}; RAPID's reference build: about 11–12 s per frame`,
    );
    console.log(
      `  QA: nInputs ${q.nInputs}, cov5percent ${q.cov5percent.toFixed(1)}, FWHM ${q.fwhmArcsec.toFixed(3)}″ (${q.starsForFwhm} stars), background rms ${q.backgroundRms.toFixed(3)}, rejected ${q.rejectedValues}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.exit(0);
}

await main();
