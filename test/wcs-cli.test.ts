/**
 * `rapid wcs pix2sky` and `rapid wcs sky2pix` through the built command (npm run build first;
 * `npm test` does it).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { Header } from '../src/fits/header.ts';
import { rapid, TEST_DATA } from './support/cli.ts';
import { separation, WCS_DATA } from './support/wcs.ts';

const IRAC = join(WCS_DATA, 'irac_sip.hdr');
const tmp = mkdtempSync(join(tmpdir(), 'rapid-wcs-cli-'));

/** xy2sky -d -n 13 irac_sip.hdr 1 1 */
const IRAC_FIRST_PIXEL = { ra: 6.1350087201896, dec: -2.1298201993961 };

function json(stdout: string): Record<string, number> {
  return JSON.parse(stdout) as Record<string, number>;
}

describe('rapid wcs pix2sky', () => {
  test('--json prints exactly {"ra": deg, "dec": deg} at full precision; 0-based by default', () => {
    const r = rapid(['wcs', 'pix2sky', IRAC, '0', '0', '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\{"ra": -?[\d.e+-]+, "dec": -?[\d.e+-]+\}\n$/);
    const p = json(r.stdout);
    assert.deepEqual(Object.keys(p), ['ra', 'dec']);
    assert.ok(separation(p.ra, p.dec, IRAC_FIRST_PIXEL.ra, IRAC_FIRST_PIXEL.dec) < 1e-12);
    // Informational line on stderr, not stdout.
    assert.match(r.stderr, /HDU 0 \(RA---TAN-SIP\); 0-based pixels/);
  });

  test('--one-based: the first pixel is (1, 1)', () => {
    const a = rapid(['wcs', 'pix2sky', IRAC, '1', '1', '--one-based', '--json']);
    const b = rapid(['wcs', 'pix2sky', IRAC, '0', '0', '--json']);
    assert.equal(a.status, 0, a.stderr);
    assert.deepEqual(json(a.stdout), json(b.stdout));
  });

  test('plain output is one human line with sexagesimal too', () => {
    const r = rapid(['wcs', 'pix2sky', IRAC, '0', '0']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'RA 6.1350087202 Dec -2.1298201994 deg  (00:24:32.4021 -02:07:47.353)\n');
  });

  test('a FITS file, gzipped too; a header text with one card per line', () => {
    const sip = join(WCS_DATA, 'sip.fits');
    const plain = json(rapid(['wcs', 'pix2sky', sip, '10', '20', '--json']).stdout);
    const gz = join(tmp, 'sip.fits.gz');
    writeFileSync(gz, gzipSync(readFileSync(sip)));
    const r = rapid(['wcs', 'pix2sky', gz, '10', '20', '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(json(r.stdout), plain);
    const text = readFileSync(IRAC, 'latin1').match(/.{80}/g)!.join('\n');
    const lines = join(tmp, 'irac.head');
    writeFileSync(lines, text);
    const l = rapid(['wcs', 'pix2sky', lines, '0', '0', '--json']);
    assert.equal(l.status, 0, l.stderr);
    assert.deepEqual(json(l.stdout), json(rapid(['wcs', 'pix2sky', IRAC, '0', '0', '--json']).stdout));
  });

  test('a real TPV image (DECam): the documented centre', () => {
    const file = join(TEST_DATA, 'real/decam-sfft/input_data/DEC-OBS04a.mini.fits');
    const r = rapid(['wcs', 'pix2sky', file, '128.9', '127.7', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const p = json(r.stdout);
    assert.ok(separation(p.ra, p.dec, 318.108, -66.016) < 0.001);
  });

  test('without --hdu the first HDU with a celestial WCS is used; --hdu picks one', () => {
    const primary = new Header();
    primary.set('SIMPLE', true);
    primary.set('BITPIX', 8);
    primary.set('NAXIS', 0);
    primary.set('EXTEND', true);
    const ext = Header.fromText(readFileSync(IRAC, 'latin1'));
    const image = new Header();
    image.set('XTENSION', 'IMAGE');
    image.set('BITPIX', 8);
    image.set('NAXIS', 0);
    image.set('PCOUNT', 0);
    image.set('GCOUNT', 1);
    image.set('EXTNAME', 'SCI');
    for (const c of ext.cards)
      if (c.value !== undefined && !/^(SIMPLE|BITPIX|NAXIS\d*|EXTEND)$/.test(c.key))
        image.set(c.key, c.value);
    const file = join(tmp, 'two.fits');
    writeFileSync(file, Buffer.concat([primary.toBytes(), image.toBytes()]));
    const r = rapid(['wcs', 'pix2sky', file, '0', '0', '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /HDU 1/);
    const p = json(r.stdout);
    assert.ok(separation(p.ra, p.dec, IRAC_FIRST_PIXEL.ra, IRAC_FIRST_PIXEL.dec) < 1e-12);
    assert.equal(rapid(['wcs', 'pix2sky', file, '0', '0', '--hdu', 'SCI', '--json']).stdout, r.stdout);
    const none = rapid(['wcs', 'pix2sky', file, '0', '0', '--hdu', '0']);
    assert.equal(none.status, 65);
    assert.match(none.stderr, /no celestial WCS/);
    assert.equal(rapid(['wcs', 'pix2sky', file, '0', '0', '--hdu', '5']).status, 65);
  });
});

describe('rapid wcs sky2pix', () => {
  test('--json prints exactly {"x": px, "y": px}; round trip with pix2sky', () => {
    const sky = json(rapid(['wcs', 'pix2sky', IRAC, '100.25', '-3.5', '--json']).stdout);
    const r = rapid(['wcs', 'sky2pix', IRAC, String(sky.ra), String(sky.dec), '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\{"x": -?[\d.e+-]+, "y": -?[\d.e+-]+\}\n$/);
    const p = json(r.stdout);
    assert.deepEqual(Object.keys(p), ['x', 'y']);
    assert.ok(Math.abs(p.x - 100.25) < 1e-9 && Math.abs(p.y + 3.5) < 1e-9);
    const one = json(
      rapid(['wcs', 'sky2pix', IRAC, String(sky.ra), String(sky.dec), '--json', '--one-based']).stdout,
    );
    assert.ok(Math.abs(one.x - 101.25) < 1e-9 && Math.abs(one.y + 2.5) < 1e-9);
  });

  test('sexagesimal input; plain output; a note on stderr when off the image', () => {
    const r = rapid(['wcs', 'sky2pix', IRAC, '00:24:32.402', '--', '-02:07:47.35']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^x -?\d+\.\d{6} y -?\d+\.\d{6} {2}\(0-based pixels\)\n$/);
    const off = rapid(['wcs', 'sky2pix', IRAC, '6.5', '-2']);
    assert.equal(off.status, 0, off.stderr);
    assert.match(off.stderr, /outside the 256 × 256 image/);
  });
});

describe('rapid wcs errors', () => {
  test('missing file: exit 66', () => {
    const r = rapid(['wcs', 'pix2sky', join(tmp, 'nope.fits'), '0', '0']);
    assert.equal(r.status, 66);
    assert.match(r.stderr, /no such file/);
    assert.equal(r.stdout, '');
    assert.equal(rapid(['wcs', 'pix2sky', join(tmp, 'nope.hdr'), '0', '0']).status, 66);
  });

  test('no celestial WCS or positions off the projection: exit 65; bad numbers: usage, 64; one line each', () => {
    const noWcs = rapid(['wcs', 'pix2sky', join(TEST_DATA, 'real/sep-ntt/image.fits'), '1', '1']);
    assert.equal(noWcs.status, 65);
    assert.match(noWcs.stderr, /no HDU has a celestial WCS/);
    const bad = rapid(['wcs', 'pix2sky', IRAC, 'abc', '0']);
    assert.equal(bad.status, 64);
    assert.match(bad.stderr, /x must be a number, got 'abc'/);
    assert.equal(rapid(['wcs', 'sky2pix', IRAC, '10', '95']).status, 64);
    const far = rapid(['wcs', 'pix2sky', join(WCS_DATA, '1904-66_SIN.hdr'), '5000', '5000']);
    assert.equal(far.status, 65);
    assert.match(far.stderr, /outside the domain of the SIN projection/);
    const back = rapid(['wcs', 'sky2pix', join(WCS_DATA, '1904-66_TAN.hdr'), '180', '60']);
    assert.equal(back.status, 65);
    assert.equal(back.stdout, '');
    const garbage = join(tmp, 'garbage.fits');
    writeFileSync(garbage, Buffer.from([0, 1, 2, 3, 255, 254]));
    assert.equal(rapid(['wcs', 'pix2sky', garbage, '0', '0']).status, 65);
  });

  test('usage errors: exit 64', () => {
    assert.equal(rapid(['wcs', 'pix2sky', IRAC, '0']).status, 64);
    assert.equal(rapid(['wcs', 'pix2sky', IRAC, '0', '0', '--bogus']).status, 64);
  });
});
