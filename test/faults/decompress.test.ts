/**
 * Issue 17, case 4: decompression under limits. Gzip bombs (a few MB of gzip holding GB of
 * zeros) are refused with one line and exit 65 while the process stays small: a header that
 * promises more than the cap, a gzip of zeros that is not FITS, data going on past what the
 * header promises, a .fz tile that inflates past its ZTILE size. A legit 4088² float32 image
 * still reads. The bombs are concatenated gzip members of one compressed block of zeros, so
 * building them costs a fraction of a second and no memory.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Header } from '../../src/fits/header.ts';
import {
  encodeFits,
  parseFits,
  readFits,
  readFitsBytes,
  readImage,
  verifyBytes,
} from '../../src/fits/index.ts';
import { BadInputError } from '../../src/util/errors.ts';
import { tempDir } from '../support/fits.ts';
import { testEnv } from '../support/ops.ts';

const BIN = fileURLToPath(new URL('../../bin/rapid.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MB = 1024 * 1024;
/** What a refused bomb may cost: the command alone is about 50-90 MB. */
const BOUNDED = 300 * MB;

/** The child writes its peak resident set (resourceUsage().maxRSS, KB) to $RAPID_TEST_RSS as it exits. */
const RSS_HOOK = `data:text/javascript,${encodeURIComponent(
  "import{writeFileSync}from'node:fs';process.on('exit',()=>{if(process.env.RAPID_TEST_RSS)writeFileSync(process.env.RAPID_TEST_RSS,String(process.resourceUsage().maxRSS))})",
)}`;

interface Run {
  status: number;
  stdout: string;
  stderr: string;
  /** Peak resident set, bytes (Infinity when the process died before saying). */
  rss: number;
  seconds: number;
}

let runs = 0;

/** Run the built `rapid` and measure its peak memory. */
function rapid(dir: string, args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const rssFile = join(dir, `rss-${runs++}`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', RSS_HOOK, BIN, ...args], {
    encoding: 'utf8',
    cwd: ROOT,
    env: { ...process.env, ...env, RAPID_TEST_RSS: rssFile },
    maxBuffer: 1 << 26,
    timeout: 120_000,
  });
  let rss = Number.POSITIVE_INFINITY;
  try {
    rss = Number(readFileSync(rssFile, 'utf8')) * 1024;
  } catch {}
  return {
    status: r.status ?? -1,
    stdout: r.stdout,
    stderr: r.stderr,
    rss,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Standard error is one line: `rapid: ` and the message. */
function oneLine(r: Run, pattern: RegExp): void {
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one line expected:\n${r.stderr}`);
  assert.match(lines[0], /^rapid: /);
  assert.match(lines[0], pattern);
}

function bounded(r: Run, what: string, limit = BOUNDED): void {
  assert.ok(r.rss < limit, `${what}: peak memory ${(r.rss / MB).toFixed(0)} MB (limit ${limit / MB} MB)`);
}

const CHUNK = 64 * MB;
let zeroMember: Buffer | undefined;

/** Gzip members holding `n` zero bytes: 64 MiB of zeros compress to 64 KB, repeated. */
function zeros(n: number): Buffer[] {
  zeroMember ??= gzipSync(Buffer.alloc(CHUNK), { level: 9 });
  const out: Buffer[] = [];
  for (let left = n; left > 0; left -= CHUNK)
    out.push(left >= CHUNK ? zeroMember : gzipSync(Buffer.alloc(left)));
  return out;
}

/** The cards extract and ingest need: a TAN WCS, date, filter, exposure. */
function cards(h = new Header()): Header {
  return h
    .set('CTYPE1', 'RA---TAN')
    .set('CTYPE2', 'DEC--TAN')
    .set('CRPIX1', 1)
    .set('CRPIX2', 1)
    .set('CRVAL1', 10)
    .set('CRVAL2', 0)
    .set('CD1_1', -3e-5)
    .set('CD1_2', 0)
    .set('CD2_1', 0)
    .set('CD2_2', 3e-5)
    .set('DATE-OBS', '2028-09-07T00:00:00')
    .set('FILTER', 'H158')
    .set('EXPTIME', 100)
    .set('ZPTMAG', 31.3)
    .set('GAIN', 1);
}

/** A primary header of a naxis1 × naxis2 float32 image with those cards. */
function header(naxis1: number, naxis2: number): Header {
  const h = new Header()
    .set('SIMPLE', true)
    .set('BITPIX', -32)
    .set('NAXIS', 2)
    .set('NAXIS1', naxis1)
    .set('NAXIS2', naxis2);
  return cards(h);
}

const BIG = 23170; // 23170² float32 = 2,147,395,600 bytes: just under 2 GiB

/** The case of the issue: a 2 MB .fits.gz of a 23170² float32 header and its zeros. */
function bigBomb(dir: string): string {
  const path = join(dir, 'big.fits.gz');
  const n = BIG * BIG * 4;
  const h = header(BIG, BIG);
  writeFileSync(path, Buffer.concat([gzipSync(h.toBytes()), ...zeros(n + ((2880 - (n % 2880)) % 2880))]));
  return path;
}

describe('gzip bombs (issue 17, case 4)', () => {
  it('a 2 MB .fits.gz promising a 23170² float32 image: fits info and extract refuse it before inflating (65)', (t) => {
    const dir = tempDir(t);
    const bomb = bigBomb(dir);
    assert.ok(readFileSync(bomb).length < 3 * MB);
    const expected =
      /big\.fits\.gz, HDU 0: the header \(BITPIX = -32, NAXISn = 23170 x 23170\) promises 2147395600 bytes of data.*limit \(RAPID_MAX_DECOMPRESSED_BYTES\)/;
    const info = rapid(dir, ['fits', 'info', bomb]);
    assert.equal(info.status, 65, info.stderr);
    oneLine(info, expected);
    bounded(info, 'fits info');
    const extract = rapid(dir, ['extract', bomb, '--out', join(dir, 'cat.txt')]);
    assert.equal(extract.status, 65, extract.stderr);
    oneLine(extract, expected);
    bounded(extract, 'extract');
    // With a cap above it, fits info streams through it keeping only the header.
    const raised = rapid(dir, ['fits', 'info', bomb, '--json'], { RAPID_MAX_DECOMPRESSED_BYTES: '3G' });
    assert.equal(raised.status, 0, raised.stderr);
    assert.deepEqual(JSON.parse(raised.stdout).hdus[0].shape, [BIG, BIG]);
    bounded(raised, 'fits info, 3 GB cap');
  });

  it('ingest skips it as unreadable (65) and registers nothing', async (t) => {
    const env = await testEnv(t, 'pglite');
    if (!env) return;
    try {
      const bomb = bigBomb(env.dir);
      const r = rapid(env.dir, ['ingest', bomb, ...env.args]);
      assert.equal(r.status, 65, r.stderr);
      const summary = JSON.parse(r.stdout);
      assert.deepEqual([summary.files, summary.inserted, summary.unreadable.length], [1, 0, 1]);
      assert.match(summary.unreadable[0].error, /promises 2147395600 bytes of data/);
      assert.equal(summary.unreadable[0].error.split('\n').length, 1);
      assert.match(r.stderr, /skipped .*big\.fits\.gz: .*HDU 0: the header .* promises 2147395600 bytes/);
      // PGlite alone takes about 0.9 GB; inflating the bomb took 4.6 GB.
      bounded(r, 'ingest', 1536 * MB);
    } finally {
      await env.cleanup();
    }
  });

  it('a gzip of zeros without a FITS header is refused at once (65, not a FITS file)', (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'zeros.fits.gz');
    writeFileSync(path, Buffer.concat(zeros(2 ** 30)));
    const info = rapid(dir, ['fits', 'info', path]);
    assert.equal(info.status, 65, info.stderr);
    oneLine(info, /zeros\.fits\.gz: not a FITS file/);
    bounded(info, 'fits info');
    // In memory too, without inflating it.
    const bytes = readFileSync(path);
    const before = process.memoryUsage().rss;
    assert.throws(() => parseFits(bytes, { file: 'zeros.fits.gz' }), /zeros\.fits\.gz: not a FITS file/);
    assert.ok(process.memoryUsage().rss - before < 200 * MB);
  });

  it('a 100×100 header followed by 5 GB of zeros: refused once the output passes what the header promises (65)', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'huge.fits.gz');
    const h = header(100, 100);
    writeFileSync(path, Buffer.concat([gzipSync(h.toBytes()), ...zeros(5 * 2 ** 30)]));
    const expected =
      /huge\.fits\.gz: the gzip data go on past the 43200 bytes its FITS headers describe \(more than 1048576 bytes further\)/;
    for (const args of [
      ['fits', 'info', path],
      ['extract', path, '--out', join(dir, 'cat.txt')],
    ]) {
      const r = rapid(dir, args);
      assert.equal(r.status, 65, `${args[0]}: ${r.stderr}`);
      oneLine(r, expected);
      bounded(r, args[0]);
    }
    const verify = rapid(dir, ['fits', 'verify', path]);
    assert.equal(verify.status, 65, verify.stderr);
    assert.match(verify.stdout, /problem: .*go on past the 43200 bytes/);
    bounded(verify, 'fits verify');
    await assert.rejects(
      readFitsBytes(readFileSync(path), { file: 'huge.fits.gz' }),
      (e: unknown) => e instanceof BadInputError && /go on past the 43200 bytes/.test(e.message),
    );
  });

  it('RAPID_MAX_DECOMPRESSED_BYTES sets the cap (K, M, G suffixes); a value that is not a size is a usage error (64)', (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'small.fits.gz');
    const data = new Float32Array(100 * 100).fill(1);
    writeFileSync(path, gzipSync(encodeFits([{ data, shape: [100, 100], header: cards() }])));
    assert.equal(rapid(dir, ['fits', 'info', path]).status, 0);
    const capped = rapid(dir, ['fits', 'info', path], { RAPID_MAX_DECOMPRESSED_BYTES: '20K' });
    assert.equal(capped.status, 65, capped.stderr);
    oneLine(
      capped,
      /small\.fits\.gz, HDU 0: .*promises 40000 bytes of data, .*past 20480 bytes decompressed/,
    );
    const bad = rapid(dir, ['fits', 'info', path], { RAPID_MAX_DECOMPRESSED_BYTES: 'lots' });
    assert.equal(bad.status, 64, bad.stderr);
    oneLine(bad, /RAPID_MAX_DECOMPRESSED_BYTES = 'lots' is not a size in bytes/);
  });

  it('a legit 4088² float32 .fits.gz (67 MB) still reads in full', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'sca.fits.gz');
    const n = 4088;
    const data = new Float32Array(n * n);
    for (let i = 0; i < data.length; i++) data[i] = (i % 4099) * 0.25;
    writeFileSync(
      path,
      gzipSync(
        encodeFits([
          { data: [], shape: [], header: cards() },
          { data, shape: [n, n], name: 'SCI' },
        ]),
        { level: 1 },
      ),
    );
    const fits = await readFits(path);
    const img = readImage(fits.hdu('SCI'));
    assert.deepEqual(img.shape, [n, n]);
    assert.equal(img.data[n * n - 1], data[n * n - 1]);
    assert.equal(img.data[12345], data[12345]);
    const info = rapid(dir, ['fits', 'info', path, '--json']);
    assert.equal(info.status, 0, info.stderr);
    assert.deepEqual(JSON.parse(info.stdout).hdus[1].shape, [n, n]);
    const verify = rapid(dir, ['fits', 'verify', path]);
    assert.equal(verify.status, 0, verify.stderr);
    // Headers only: asking for the data is a bug of the caller, not silently zeros.
    const headers = await readFits(path, { headersOnly: true });
    assert.deepEqual(headers.hdu('SCI').shape, [n, n]);
    assert.throws(() => readImage(headers.hdu('SCI')), /were not kept: the file was read with headersOnly/);
  });

  it('the same refusals in memory: parseFits (inflated at once, within the cap) and verifyBytes', (t) => {
    const dir = tempDir(t);
    const bytes = readFileSync(bigBomb(dir));
    assert.throws(
      () => parseFits(bytes, { file: 'big.fits.gz' }),
      (e: unknown) =>
        e instanceof BadInputError && /HDU 0: the header .* promises 2147395600 bytes/.test(e.message),
    );
    const report = verifyBytes(bytes, 'big.fits.gz');
    assert.equal(report.ok, false);
    assert.match(report.problems[0], /promises 2147395600 bytes/);
    // 64 MB of zeros after a 100×100 image: more than the header promises.
    const trailing = Buffer.concat([gzipSync(header(100, 100).toBytes()), ...zeros(64 * MB)]);
    assert.throws(() => parseFits(trailing, { file: 't.fits.gz' }), /go on past the 43200 bytes/);
  });
});

// ---- tile-compressed images --------------------------------------------------------------------

/**
 * A GZIP_1 tile-compressed float32 image (.fz) of `width` × `rows` in tiles of one row, with
 * the compressed bytes of each tile given (`tile(r)`); `shape` overrides ZNAXISn and ZTILEn.
 */
function fz(width: number, rows: number, tile: (r: number) => Uint8Array, shape?: number[]): Uint8Array {
  const tiles = Array.from({ length: rows }, (_, r) => tile(r));
  const heap = Buffer.concat(tiles);
  const table = Buffer.alloc(8 * rows);
  let offset = 0;
  tiles.forEach((c, r) => {
    table.writeInt32BE(c.length, 8 * r);
    table.writeInt32BE(offset, 8 * r + 4);
    offset += c.length;
  });
  const [zn1, zn2] = shape ?? [width, rows];
  const h = new Header()
    .set('XTENSION', 'BINTABLE')
    .set('BITPIX', 8)
    .set('NAXIS', 2)
    .set('NAXIS1', 8)
    .set('NAXIS2', rows)
    .set('PCOUNT', heap.length)
    .set('GCOUNT', 1)
    .set('TFIELDS', 1)
    .set('TTYPE1', 'COMPRESSED_DATA')
    .set('TFORM1', `1PB(${Math.max(0, ...tiles.map((c) => c.length))})`)
    .set('ZIMAGE', true)
    .set('ZBITPIX', -32)
    .set('ZNAXIS', 2)
    .set('ZNAXIS1', zn1)
    .set('ZNAXIS2', zn2)
    .set('ZTILE1', zn1)
    .set('ZTILE2', shape ? zn2 : 1)
    .set('ZCMPTYPE', 'GZIP_1');
  const primary = new Header().set('SIMPLE', true).set('BITPIX', 8).set('NAXIS', 0).set('EXTEND', true);
  const data = Buffer.concat([table, heap]);
  const fill = Buffer.alloc((2880 - (data.length % 2880)) % 2880);
  return Buffer.concat([primary.toBytes(), h.toBytes(), data, fill]);
}

/** A row of `width` float32 values, big-endian, gzip-compressed. */
function row(width: number, value: number): Uint8Array {
  const b = Buffer.alloc(4 * width);
  for (let i = 0; i < width; i++) b.writeFloatBE(value, 4 * i);
  return gzipSync(b);
}

describe('tile-compressed images (.fz) under limits', () => {
  it('a tile that inflates past its ZTILE size is refused at once (65), not inflated to 1 GB', (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'tile-bomb.fits.fz');
    const bombTile = Buffer.concat(zeros(2 ** 30));
    writeFileSync(
      path,
      fz(64, 4, (r) => (r === 2 ? bombTile : row(64, r))),
    );
    const r = rapid(dir, ['fits', 'verify', path]);
    assert.equal(r.status, 65, r.stderr);
    assert.match(
      r.stdout,
      /problem: .*HDU 1, tile 3: gzip-compressed tile inflates to more than the 256 bytes of its pixels/,
    );
    oneLine(r, /verification failed: .*tile 3: gzip-compressed tile inflates to more than the 256 bytes/);
    bounded(r, 'fits verify');
    // A good one reads.
    const good = join(dir, 'good.fits.fz');
    writeFileSync(
      good,
      fz(64, 4, (r) => row(64, r)),
    );
    assert.equal(rapid(dir, ['fits', 'verify', good]).status, 0);
  });

  it('an image whose ZNAXISn promise more than the cap is refused before it is allocated (65)', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'big.fits.fz');
    writeFileSync(
      path,
      fz(BIG, 1, () => row(16, 0), [BIG, BIG]),
    );
    const fits = await readFits(path);
    assert.throws(
      () => readImage(fits.firstImage()),
      (e: unknown) =>
        e instanceof BadInputError &&
        /HDU 1: the compressed image \(ZBITPIX = -32, ZNAXISn = 23170 x 23170\) would take 2147395600 bytes decompressed, more than the limit of 1073741824 \(RAPID_MAX_DECOMPRESSED_BYTES\)/.test(
          e.message,
        ),
    );
  });
});
