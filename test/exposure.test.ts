/**
 * One way to read an exposure: the metadata conventions of each instrument family, and one
 * loader (BLANK, cubes, extensions) used by ingest, every command and the jobs.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Header } from '../src/fits/header.ts';
import { encodeFits, parseFits } from '../src/fits/index.ts';
import { exposureMetadata, instrumentFamily } from '../src/instrument/exposure.ts';
import { imageRecord } from '../src/ops/ingest.ts';
import { exposureImage, loadImage } from '../src/pipeline/load.ts';
import { rapid, TEST_DATA } from './support/cli.ts';
import { tempDir } from './support/fits.ts';
import { fakeImage } from './support/ops.ts';

function header(cards: Record<string, string | number>): Header {
  const h = new Header();
  for (const [k, v] of Object.entries(cards)) h.set(k, v);
  return h;
}

describe('exposure metadata by instrument family', () => {
  test('ZTF, DECam (a real header), JWST, HST, Roman and generic headers', async () => {
    const ztf = exposureMetadata(
      header({
        ORIGIN: 'Zwicky Transient Facility',
        MAGZP: 26.15,
        GAIN: 6.2,
        SATURATE: 52000,
        READNOI: 8,
        FILTER: 'ZTF_r',
        OBSMJD: 58300.25,
      }),
    );
    assert.equal(ztf.family, 'ztf');
    assert.deepEqual(
      [ztf.zeroPoint, ztf.gain, ztf.saturation, ztf.readNoise, ztf.filter, ztf.mjd],
      [26.15, 6.2, 52000, 8, 'ZTF_r', 58300.25],
    );
    assert.equal(ztf.sources.zeroPoint, 'MAGZP');

    const decamFile = await loadImage(join(TEST_DATA, 'real/decam-sfft/input_data/DEC-OBS04a.mini.fits'));
    const decam = decamFile.metadata;
    assert.equal(decam.family, 'decam');
    assert.ok(Math.abs((decam.gain ?? 0) - 3.984) < 0.001, `gain ${decam.gain}`);
    assert.equal(decam.filter, 'i');
    assert.equal(decam.exptime, 330);
    assert.ok(decam.dateObs?.startsWith('20'), `date ${decam.dateObs}`);

    // JWST: MJy/sr with a pixel of PIXAR_SR steradians; DATE-OBS and TIME-OBS apart.
    const pixar = 9.31e-14;
    const jwst = exposureMetadata(
      header({
        TELESCOP: 'JWST',
        INSTRUME: 'NIRCAM',
        BUNIT: 'MJy/sr',
        PIXAR_SR: pixar,
        EFFEXPTM: 1288.4,
        FILTER: 'F200W',
        'DATE-OBS': '2023-01-05',
        'TIME-OBS': '10:20:30.5',
      }),
    );
    assert.equal(jwst.family, 'jwst');
    assert.ok(Math.abs((jwst.zeroPoint ?? 0) - -2.5 * Math.log10((1e6 * pixar) / 3631)) < 1e-9);
    assert.equal(jwst.gain, undefined);
    assert.equal(jwst.exptime, 1288.4);
    assert.equal(jwst.dateObs, '2023-01-05T10:20:30.5');
    assert.equal(jwst.sources.date, 'DATE-OBS, TIME-OBS');

    // HST: the AB zero point from PHOTFLAM and PHOTPLAM (ACS/WFC F814W: 25.94).
    const hst = exposureMetadata(
      header({
        TELESCOP: 'HST',
        INSTRUME: 'ACS',
        PHOTFLAM: 7.0724e-20,
        PHOTPLAM: 8045.0,
        ATODGAIN: 2.0,
        FILTER1: 'CLEAR1L',
        FILTER2: 'F814W',
      }),
    );
    assert.equal(hst.family, 'hst');
    assert.ok(Math.abs((hst.zeroPoint ?? 0) - 25.94) < 0.01, `HST zero point ${hst.zeroPoint}`);
    assert.equal(hst.filter, 'F814W');
    assert.equal(hst.gain, 2);

    const roman = exposureMetadata(header({ SCA_NUM: 3, ZPTMAG: 31.3, MAGZERO: 25, GAIN: 1.8 }));
    assert.equal(roman.family, 'roman');
    assert.equal(roman.zeroPoint, 31.3);

    // Generic: any of the common cards; a gain of 0 means "unknown".
    const generic = exposureMetadata(header({ MAGZERO: 27.5, EGAIN: 0, GAIN: 0 }));
    assert.equal(generic.family, 'generic');
    assert.equal(generic.zeroPoint, 27.5);
    assert.equal(generic.gain, undefined);
    assert.equal(instrumentFamily(header({ INSTRUME: 'DECam' })), 'decam');
  });

  test('ingest and the commands read the same zero point and gain from one file', async () => {
    // A file with only the cards that used to be read differently (MAGZP, EGAIN).
    const bytes = fakeImage({ ra: 10, dec: 5, date: '2028-09-01T00:00:00' });
    const fits = parseFits(bytes);
    const h = fits.hdus[0].header;
    h.delete('ZPTMAG');
    h.delete('GAIN');
    h.set('MAGZP', 27.25);
    h.set('EGAIN', 2.5);
    const edited = encodeFits([{ data: exposureImage(fits).image.data, shape: [64, 64], header: h }]);
    const record = await imageRecord('mem://x.fits', edited);
    const loaded = exposureImage(parseFits(edited));
    assert.equal(record.zeroPoint, 27.25);
    assert.equal(record.gain, 2.5);
    assert.equal(loaded.metadata.zeroPoint, record.zeroPoint);
    assert.equal(loaded.metadata.gain, record.gain);
  });
});

describe('one loader', () => {
  test('integer BLANK pixels are NaN, a cube of one plane is an image, others are refused (65)', async (t) => {
    const dir = tempDir(t);
    const data = new Int16Array(16 * 16).map((_, i) => (i % 17 === 0 ? -32768 : 100 + (i % 7)));
    const blank = join(dir, 'blank.fits');
    writeFileSync(blank, encodeFits([{ data, shape: [16, 16], bitpix: 16, blank: -32768 }]));
    const img = await loadImage(blank);
    const nan = Array.from(img.image.data).filter(Number.isNaN).length;
    assert.equal(nan, Array.from(data).filter((v) => v === -32768).length);

    const cube1 = join(dir, 'cube1.fits');
    writeFileSync(cube1, encodeFits([{ data: new Float32Array(16 * 16).fill(3), shape: [16, 16, 1] }]));
    assert.equal((await loadImage(cube1)).image.width, 16);
    const cube2 = join(dir, 'cube2.fits');
    writeFileSync(cube2, encodeFits([{ data: new Float32Array(16 * 16 * 2).fill(3), shape: [16, 16, 2] }]));
    await assert.rejects(loadImage(cube2), /a cube \(16×16×2\)/);
    const allBlank = join(dir, 'allblank.fits');
    writeFileSync(
      allBlank,
      encodeFits([{ data: new Int16Array(64).fill(-32768), shape: [8, 8], bitpix: 16, blank: -32768 }]),
    );
    await assert.rejects(loadImage(allBlank), /no valid pixels/);
    // Every command reads it the same way: the cube and the all-BLANK image exit 65 for each.
    for (const file of [cube2, allBlank]) {
      for (const args of [
        ['background', file, '--out', join(dir, 'b.fits')],
        ['extract', file, '--out', join(dir, 'c.txt')],
        ['psf', file, '--out', join(dir, 'p.fits')],
      ]) {
        const r = rapid(args);
        assert.equal(r.status, 65, `${args.join(' ')}: ${r.stderr}`);
      }
    }
  });
});
