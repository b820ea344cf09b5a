/**
 * `rapid extract`: SourceExtractor configurations in, ASCII_HEAD and FITS catalogs out, clear
 * errors with their exit codes (64 configuration not supported, 65 bad input, 66 missing file).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Header } from '../src/fits/header.ts';
import { readFits, readImage, readTable, writeFits } from '../src/fits/index.ts';
import { parseAsciiCatalog } from '../src/image/extract/index.ts';
import { rapid, TEST_DATA } from './support/cli.ts';
import { requireTool } from './support/tools.ts';

const NTT = join(TEST_DATA, 'real/sep-ntt');
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rapid-extract-cli-'));
  // A working copy of the NTT configuration: default.sex names default.param, default.conv and
  // writes back.fits and rms.fits check-images into the working folder.
  for (const f of ['image.fits', 'default.sex', 'default.param', 'default.conv', 'default.nnw']) {
    await copyFile(join(NTT, f), join(dir, f));
  }
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A small image with a TAN WCS and a few stars. */
async function starField(path: string, options: { wcs?: boolean; nan?: boolean } = {}): Promise<void> {
  const w = 96;
  const data = new Float32Array(w * w);
  let s = 12345;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  for (let i = 0; i < data.length; i++) {
    data[i] = options.nan
      ? Number.NaN
      : 100 + 3 * Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());
  }
  if (!options.nan) {
    for (const [x0, y0, f] of [
      [20.3, 30.1, 5000],
      [60.7, 45.2, 9000],
      [70.1, 80.6, 3000],
    ]) {
      for (let y = 0; y < w; y++) {
        for (let x = 0; x < w; x++)
          data[y * w + x] +=
            (f / (2 * Math.PI * 1.69)) * Math.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * 1.69));
      }
    }
  }
  const h = new Header();
  if (options.wcs) {
    h.set('CTYPE1', 'RA---TAN');
    h.set('CTYPE2', 'DEC--TAN');
    h.set('CRPIX1', 48.5);
    h.set('CRPIX2', 48.5);
    h.set('CRVAL1', 10);
    h.set('CRVAL2', -20);
    h.set('CD1_1', -0.11 / 3600);
    h.set('CD1_2', 0);
    h.set('CD2_1', 0);
    h.set('CD2_2', 0.11 / 3600);
  }
  h.set('GAIN', 2);
  await writeFits(path, [{ data, shape: [w, w], header: h }]);
}

describe('rapid extract', () => {
  test('the NTT image with its .sex and .param: SourceExtractor’s catalog, FITS table and check-images', async (t) => {
    const r = rapid(
      ['extract', 'image.fits', '--config', 'default.sex', '--out', 'ntt.cat', '--fits-out', 'ntt.fits'],
      { cwd: dir },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /65 sources/);
    const text = await readFile(join(dir, 'ntt.cat'), 'utf8');
    const ref = await readFile(join(NTT, 'image.cat'), 'utf8');
    const head = (s: string) => s.split('\n').filter((l) => l.startsWith('#'));
    assert.deepEqual(head(text), head(ref));
    const cat = parseAsciiCatalog(text);
    assert.equal(cat.rows.length, 65);
    // The FITS table: same values, vectors as vectors, units.
    const table = readTable((await readFits(join(dir, 'ntt.fits'))).hdu(1));
    assert.equal(table.nrows, 65);
    const radius = table.column('FLUX_RADIUS');
    assert.equal(radius.repeat, 3);
    assert.equal(radius.unit, 'pixel');
    assert.ok(
      Math.abs((radius.data as Float32Array)[1] - cat.get('FLUX_RADIUS', 1)[0]) < 1e-3,
      'FLUX_RADIUS(2) in both',
    );
    // default.sex asks for BACKGROUND and BACKGROUND_RMS check-images named back.fits, rms.fits.
    const back = readImage((await readFits(join(dir, 'back.fits'))).firstImage());
    const refBack = readImage((await readFits(join(NTT, 'back.fits'))).firstImage());
    assert.deepEqual(back.shape, [256, 256]);
    const b = back.data as Float32Array;
    const rb = refBack.data as Float32Array;
    assert.ok(Math.abs(b[1000] / rb[1000] - 1) < 1e-2, 'background check-image ≈ SourceExtractor’s');
    if (requireTool(t, 'fitsverify')) {
      for (const f of ['ntt.fits', 'back.fits', 'rms.fits']) {
        const v = spawnSync('fitsverify', ['-q', join(dir, f)], { encoding: 'utf8' });
        assert.match(v.stdout, /verification OK/, `${f}: ${v.stdout}`);
      }
    }
  });

  test('--measure-on (dual-image mode), --negative, sky columns from the WCS, --set', async () => {
    await starField(join(dir, 'stars.fits'), { wcs: true });
    await writeFile(
      join(dir, 'sky.param'),
      'NUMBER\nX_IMAGE\nY_IMAGE\nALPHA_J2000\nDELTA_J2000\nFLUX_APER(2)\nFLUXERR_APER(2)\nFLAGS\n',
    );
    const one = rapid(
      ['extract', 'stars.fits', '--params', 'sky.param', '--set', 'PHOT_APERTURES=6,12', '--out', 'one.cat'],
      { cwd: dir },
    );
    assert.equal(one.status, 0, one.stderr);
    const two = rapid(
      [
        'extract',
        'stars.fits',
        '--measure-on',
        'stars.fits',
        '--params',
        'sky.param',
        '--set',
        'PHOT_APERTURES=6,12',
        '--out',
        'two.cat',
      ],
      {
        cwd: dir,
      },
    );
    assert.equal(two.status, 0, two.stderr);
    assert.equal(await readFile(join(dir, 'two.cat'), 'utf8'), await readFile(join(dir, 'one.cat'), 'utf8'));
    const cat = parseAsciiCatalog(await readFile(join(dir, 'one.cat'), 'utf8'));
    assert.equal(cat.rows.length, 3);
    // Pixel (48.5, 48.5) 1-based is CRVAL; RA grows to the left.
    const x = cat.get('X_IMAGE');
    const ra = cat.get('ALPHA_J2000');
    const dec = cat.get('DELTA_J2000');
    for (let i = 0; i < 3; i++) {
      assert.ok(
        Math.abs(dec[i] - (-20 + ((cat.get('Y_IMAGE')[i] - 48.5) * 0.11) / 3600)) < 1e-6,
        'declination',
      );
      assert.ok(
        Math.abs((ra[i] - 10) * Math.cos((20 * Math.PI) / 180) + ((x[i] - 48.5) * 0.11) / 3600) < 1e-6,
        'right ascension',
      );
    }
    // Errors use the header's GAIN (2): σ² area + flux/gain.
    const neg = rapid(['extract', 'stars.fits', '--params', 'sky.param', '--negative', '--out', 'neg.cat'], {
      cwd: dir,
    });
    assert.equal(neg.status, 0, neg.stderr);
    assert.ok(
      parseAsciiCatalog(await readFile(join(dir, 'neg.cat'), 'utf8')).rows.length >= 3,
      'positive sources kept',
    );
  });

  test('--psf: FLUX_PSF from a FITS stamp', async () => {
    await starField(join(dir, 'psfstars.fits'));
    const size = 15;
    const stamp = new Float32Array(size * size);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        stamp[y * size + x] = Math.exp(-((x - 7) ** 2 + (y - 7) ** 2) / (2 * 1.69));
    await writeFits(join(dir, 'psf.fits'), [{ data: stamp, shape: [size, size] }]);
    await writeFile(
      join(dir, 'psf.param'),
      'NUMBER\nX_IMAGE\nY_IMAGE\nFLUX_PSF\nFLUXERR_PSF\nMAG_PSF\nMAGERR_PSF\nSNR_PSF\nFLUX_AUTO\n',
    );
    const r = rapid(
      ['extract', 'psfstars.fits', '--params', 'psf.param', '--psf', 'psf.fits', '--out', 'psf.cat'],
      { cwd: dir },
    );
    assert.equal(r.status, 0, r.stderr);
    const cat = parseAsciiCatalog(await readFile(join(dir, 'psf.cat'), 'utf8'));
    const f = cat.get('FLUX_PSF');
    const expected = [5000, 9000, 3000];
    const xs = cat.get('X_IMAGE');
    for (let i = 0; i < f.length; i++) {
      const want = xs[i] < 40 ? expected[0] : xs[i] < 65 ? expected[1] : expected[2];
      assert.ok(Math.abs(f[i] / want - 1) < 0.03, `FLUX_PSF ${f[i]} vs ${want}`);
      assert.ok(
        Math.abs(cat.get('SNR_PSF')[i] - f[i] / cat.get('FLUXERR_PSF')[i]) < 0.01 * cat.get('SNR_PSF')[i],
        'SNR_PSF',
      );
    }
    // Without --psf the PSF columns are a usage error.
    const no = rapid(['extract', 'psfstars.fits', '--params', 'psf.param', '--out', 'x.cat'], { cwd: dir });
    assert.equal(no.status, 64);
    assert.match(no.stderr, /FLUX_PSF.*--psf/);
  });

  test('clear errors and exit codes', async () => {
    await starField(join(dir, 'nan.fits'), { nan: true });
    await writeFile(join(dir, 'bad-key.sex'), 'DETECT_THRESH 2\nDETECT_TRESH 3\n');
    await writeFile(join(dir, 'bad-value.sex'), 'BACKPHOTO_TYPE LOCAL\n');
    await writeFile(join(dir, 'bad.param'), 'NUMBER\nVECTOR_SOMFIT\n');
    await writeFile(join(dir, 'sky.param'), 'NUMBER\nALPHA_J2000\n');
    const cases: [string[], number, RegExp][] = [
      [['extract', 'missing.fits', '--out', 'x.cat'], 66, /missing\.fits: no such file/],
      [
        ['extract', 'image.fits', '--config', 'missing.sex', '--out', 'x.cat'],
        66,
        /missing\.sex: no such file/,
      ],
      [
        ['extract', 'image.fits', '--config', 'bad-key.sex', '--out', 'x.cat'],
        64,
        /bad-key\.sex:2: unknown configuration key DETECT_TRESH/,
      ],
      [
        ['extract', 'image.fits', '--config', 'bad-value.sex', '--out', 'x.cat'],
        64,
        /BACKPHOTO_TYPE LOCAL is not supported/,
      ],
      [
        ['extract', 'image.fits', '--params', 'bad.param', '--out', 'x.cat'],
        64,
        /bad\.param:2: parameter VECTOR_SOMFIT is not supported/,
      ],
      [
        ['extract', 'image.fits', '--set', 'NOT_A_KEY=1', '--out', 'x.cat'],
        64,
        /unknown configuration key NOT_A_KEY/,
      ],
      [['extract', 'nan.fits', '--out', 'x.cat'], 65, /no valid pixels/],
      [
        ['extract', 'image.fits', '--params', 'sky.param', '--out', 'x.cat'],
        65,
        /no celestial WCS.*ALPHA_J2000/,
      ],
      [['extract', 'image.fits'], 64, /--out/],
    ];
    for (const [args, code, message] of cases) {
      const r = rapid(args, { cwd: dir });
      assert.equal(r.status, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });

  test('--list-params lists the supported columns', () => {
    const r = rapid(['extract', '--list-params']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^FLUX_APER\s+Flux vector within fixed circular aperture\(s\) \[count\]$/m);
    assert.match(r.stdout, /^SNR_PSF\s/m);
  });
});
