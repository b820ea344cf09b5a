/**
 * Source extraction benchmark: `rapid extract` against `source-extractor` on one simulated
 * 4088² Roman SCA (F158), with the same settings (Debian's default.sex, default.conv, a
 * RAPID-like column list, apertures 2/3/4/6/10/14 px). Each run is its own process, the two tools
 * alternating, so that their peak memory is their own and both see the same machine load.
 * Prints the median wall time of each, the ratio, peak memory, and the catalogs' agreement.
 *
 *   node --import tsx bench/extract.ts [--runs 3] [--size 4088] [--keep DIR]
 *
 * With --keep, the image, configuration and catalogs stay in DIR (and an image already there is
 * used again), for profiling the same input.
 *
 * Ours runs as `node bin/rapid.js extract` (the built dist/, as users run it) when dist/ is
 * built, else in-process under tsx (then its time includes no Node start-up). With dist/, it
 * also runs runExtract from dist/pipeline/extract.js alone: the same work without loading the other
 * commands' modules, which `rapid` imports at start-up (≈ 0.25 s). Extraction uses the idle cores
 * (RAPID_WORKERS overrides); on a busy machine both tools' times move with the load.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const CONF = '/usr/share/source-extractor';
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PARAMS = [
  'NUMBER',
  'X_IMAGE',
  'Y_IMAGE',
  'XWIN_IMAGE',
  'YWIN_IMAGE',
  'ALPHA_J2000',
  'DELTA_J2000',
  'X2_IMAGE',
  'Y2_IMAGE',
  'XY_IMAGE',
  'A_IMAGE',
  'B_IMAGE',
  'THETA_IMAGE',
  'FLUX_APER(6)',
  'FLUXERR_APER(6)',
  'FLUX_AUTO',
  'FLUXERR_AUTO',
  'MAG_AUTO',
  'KRON_RADIUS',
  'FLUX_ISO',
  'FLUX_MAX',
  'FLUX_RADIUS',
  'FWHM_IMAGE',
  'ELONGATION',
  'CLASS_STAR',
  'FLAGS',
];
const SETTINGS = [
  ['FILTER_NAME', `${CONF}/default.conv`],
  ['STARNNW_NAME', `${CONF}/default.nnw`],
  ['PHOT_APERTURES', '2,3,4,6,10,14'],
];

interface Run {
  seconds: number;
  maxRssMB: number;
}

/** Wall time and peak memory of a command, through GNU time. */
function timed(cmd: string, argv: string[], cwd: string): Run {
  const p = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...argv], { cwd, encoding: 'utf8' });
  if (p.status !== 0) throw new Error(`${cmd} failed: ${p.stderr}`);
  const last = p.stderr.trim().split('\n').pop()!.split(' ');
  return { seconds: Number(last[0]), maxRssMB: Number(last[1]) / 1024 };
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function rows(path: string): number[][] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.trim().split(/\s+/).map(Number));
}

if (args[0] === '--child') {
  // In-process run (no dist/): time the whole command, not Node's start-up.
  const { runExtract } = await import('../src/pipeline/extract.ts');
  const [, image, config, params, out] = args;
  const t0 = performance.now();
  await runExtract(image, { config, params, out, set: SETTINGS.map(([k, v]) => `${k}=${v}`) });
  process.stdout.write(JSON.stringify({ seconds: (performance.now() - t0) / 1000 }));
} else {
  const runs = opt('runs', 3);
  const size = opt('size', 4088);
  const haveSe = spawnSync('sh', ['-c', 'command -v source-extractor']).status === 0;
  const haveTime = existsSync('/usr/bin/time');
  if (!haveSe || !haveTime) {
    console.log(
      `bench/extract: needs source-extractor and /usr/bin/time (apt-get install source-extractor time); skipped`,
    );
    process.exit(0);
  }
  const k = args.indexOf('--keep');
  const keep = k >= 0 ? args[k + 1] : undefined;
  if (keep) mkdirSync(keep, { recursive: true });
  const dir = keep ?? mkdtempSync(join(tmpdir(), 'rapid-bench-extract-'));
  try {
    const image = join(dir, 'sca.fits');
    if (!existsSync(image)) {
      const { simulateSurvey } = await import('../src/sim/simulate.ts');
      const { readFits, readImage, writeFits } = await import('../src/fits/index.ts');
      const s = await simulateSurvey(join(dir, 'sim'), {
        epochs: 1,
        size,
        filters: ['F158'],
        psfVariation: 0,
        seed: 5,
      });
      const fits = await readFits(join(dir, 'sim', s.images[0].file));
      const px = readImage(fits.hdu(1));
      await writeFits(image, [{ data: px.data, shape: px.shape, header: fits.hdus[0].header }]);
    }
    writeFileSync(join(dir, 'bench.param'), `${PARAMS.join('\n')}\n`);
    const dist = existsSync(join(ROOT, 'dist/cli/main.js'));
    const se: Run[] = [];
    const ours: Run[] = [];
    const lean: Run[] = [];
    // The same work without loading the other commands' modules (the CLI imports them all).
    const leanScript = `import(${JSON.stringify(join(ROOT, 'dist/pipeline/extract.js'))}).then((m) => m.runExtract(${JSON.stringify(image)}, { config: ${JSON.stringify(`${CONF}/default.sex`)}, params: 'bench.param', out: 'lean.cat', set: ${JSON.stringify(SETTINGS.map(([k, v]) => `${k}=${v}`))} }))`;
    for (let r = 0; r < runs; r++) {
      se.push(
        timed(
          'source-extractor',
          [
            image,
            '-c',
            `${CONF}/default.sex`,
            '-PARAMETERS_NAME',
            'bench.param',
            '-CATALOG_NAME',
            'se.cat',
            '-VERBOSE_TYPE',
            'QUIET',
            ...SETTINGS.flatMap(([k, v]) => [`-${k}`, v]),
          ],
          dir,
        ),
      );
      if (dist) {
        ours.push(
          timed(
            process.execPath,
            [
              join(ROOT, 'bin/rapid.js'),
              'extract',
              image,
              '--config',
              `${CONF}/default.sex`,
              '--params',
              'bench.param',
              '--out',
              'ours.cat',
              ...SETTINGS.flatMap(([k, v]) => ['--set', `${k}=${v}`]),
            ],
            dir,
          ),
        );
        lean.push(timed(process.execPath, ['-e', leanScript], dir));
      } else {
        const self = fileURLToPath(import.meta.url);
        const p = spawnSync(
          '/usr/bin/time',
          [
            '-f',
            '%e %M',
            process.execPath,
            '--import',
            'tsx',
            self,
            '--child',
            image,
            `${CONF}/default.sex`,
            'bench.param',
            'ours.cat',
          ],
          { cwd: dir, encoding: 'utf8' },
        );
        if (p.status !== 0) throw new Error(p.stderr);
        const last = p.stderr.trim().split('\n').pop()!.split(' ');
        ours.push({ seconds: JSON.parse(p.stdout).seconds, maxRssMB: Number(last[1]) / 1024 });
      }
      console.error(
        `run ${r + 1}: source-extractor ${se[r].seconds.toFixed(2)} s ${se[r].maxRssMB.toFixed(0)} MB; rapid extract ${ours[r].seconds.toFixed(2)} s ${ours[r].maxRssMB.toFixed(0)} MB`,
      );
    }
    const a = rows(join(dir, 'se.cat'));
    const b = rows(join(dir, 'ours.cat'));
    const mse = median(se.map((r) => r.seconds));
    const mours = median(ours.map((r) => r.seconds));
    console.log(
      `extract one ${size}² simulated SCA (F158; ${a.length} vs ${b.length} sources), ${runs} runs each on ${availableParallelism()} cores`,
    );
    console.log(
      `  source-extractor  median ${mse.toFixed(2)} s, peak memory ${Math.max(...se.map((r) => r.maxRssMB)).toFixed(0)} MB`,
    );
    console.log(
      `  rapid extract     median ${mours.toFixed(2)} s, peak memory ${Math.max(...ours.map((r) => r.maxRssMB)).toFixed(0)} MB${dist ? '' : ' (in-process under tsx: build dist/ for end-to-end figures)'}`,
    );
    console.log(`  ratio rapid/source-extractor ${(mours / mse).toFixed(2)} (goal ≤ 1)`);
    if (lean.length) {
      const mlean = median(lean.map((r) => r.seconds));
      console.log(
        `  runExtract alone median ${mlean.toFixed(2)} s (the command without loading the other commands' modules), ratio ${(mlean / mse).toFixed(2)}`,
      );
    }
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}
