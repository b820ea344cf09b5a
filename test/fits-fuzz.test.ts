/**
 * Fuzzing: random truncations and byte flips of valid files (seeded, so failures reproduce).
 * Every case must end in a successful read or a BadInputError with a message and the documented
 * exit code 65: never another exception, never a hang. Reading means parsing every HDU and
 * decoding every image and table; verification must never throw at all.
 *
 * The work is bounded by the cases (a fixed number, of fixed sizes), not by the clock: a case
 * takes milliseconds, but on a loaded machine wall-clock limits fail for no fault of the code.
 * The clock is only a guard against a hang (a decoder looping on damaged input), far above any
 * honest case.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  encodeFits,
  type FitsFile,
  Header,
  parseFits,
  readFits,
  readImage,
  readTable,
  verifyBytes,
} from '../src/fits/index.ts';
import { BadInputError, ExitCode } from '../src/util/errors.ts';
import { CONFORMANCE, prng, tempDir } from './support/fits.ts';
import { catalogColumns } from './support/fits-samples.ts';
import { requireTool, run } from './support/tools.ts';

/**
 * A hang guard, not a performance limit: a case takes a few milliseconds; one that takes a minute
 * is stuck (a decoder looping on damaged input), whatever else the machine is doing.
 */
const HANG_MS = 60_000;

/** Each test's own guard (node:test ends an asynchronous test that runs past it). */
const TEST_TIMEOUT = { timeout: 10 * 60_000 };

function decodeAll(file: FitsFile): void {
  for (const h of file.hdus) {
    if (
      (h.kind === 'image' && h.shape.length > 0 && h.shape.every((n) => n > 0)) ||
      h.kind === 'compressed-image'
    )
      readImage(h);
    if (h.kind === 'bintable') readTable(h);
  }
}

type Outcome = 'read' | 'rejected';

function attempt(bytes: Uint8Array, label: string): Outcome {
  const t0 = Date.now();
  let outcome: Outcome;
  try {
    decodeAll(parseFits(bytes, { file: label }));
    outcome = 'read';
  } catch (err) {
    if (!(err instanceof BadInputError)) {
      assert.fail(
        `${label}: ${(err as Error)?.name}: ${(err as Error)?.stack ?? err} (only BadInputError is allowed)`,
      );
    }
    assert.ok(err.message.length > 10, `${label}: empty message`);
    assert.equal(err.exitCode, ExitCode.BAD_INPUT, `${label}: exit code ${err.exitCode}, expected 65`);
    outcome = 'rejected';
  }
  // Verification reports problems; it never throws.
  const report = verifyBytes(bytes, label);
  assert.equal(typeof report.ok, 'boolean');
  const ms = Date.now() - t0;
  assert.ok(ms < HANG_MS, `${label}: took ${ms} ms (> ${HANG_MS} ms): a hang on damaged input?`);
  return outcome;
}

/** Damaged copies: truncations, and flips of 1-4 bits, half of them in the first header blocks. */
function* mutations(base: Uint8Array, seed: number, count: number): Generator<[string, Uint8Array]> {
  const r = prng(seed);
  for (let k = 0; k < count; k++) {
    if (k % 3 === 0) {
      const cut = Math.floor(r() * base.length);
      yield [`truncated at ${cut}`, base.subarray(0, cut)];
    } else {
      const b = new Uint8Array(base);
      const flips: number[] = [];
      const n = 1 + Math.floor(r() * 4);
      for (let j = 0; j < n; j++) {
        const pos = r() < 0.5 ? Math.floor(r() * Math.min(b.length, 3 * 2880)) : Math.floor(r() * b.length);
        b[pos] ^= 1 << Math.floor(r() * 8);
        flips.push(pos);
      }
      yield [`flipped at ${flips.join(',')}`, b];
    }
  }
}

function fuzz(name: string, base: Uint8Array, seed: number, count: number): Record<Outcome, number> {
  const tally: Record<Outcome, number> = { read: 0, rejected: 0 };
  assert.equal(attempt(base, `${name} (intact)`), 'read');
  for (const [what, bytes] of mutations(base, seed, count))
    tally[attempt(bytes, `${name} ${what} (seed ${seed})`)]++;
  // Both outcomes occur: the damage is real, and not everything is refused.
  assert.ok(tally.rejected > 0, `${name}: nothing rejected`);
  return tally;
}

function ourFile(): Uint8Array {
  return encodeFits(
    [
      {
        data: new Float32Array(600).map((_, i) => Math.cos(i)),
        shape: [30, 20],
        header: new Header().set('OBJECT', 'fuzz').set('NOTE', 'x'.repeat(150)),
      },
      { data: new Uint16Array(100).map((_, i) => i * 600), shape: [10, 10], name: 'U16' },
      {
        data: new Float32Array(40).map((_, i) => i),
        shape: [8, 5],
        name: 'SCALED',
        bitpix: 16,
        bscale: 0.5,
        bzero: 3,
      },
      { kind: 'bintable', name: 'CAT', columns: catalogColumns() },
    ],
    { checksum: true },
  );
}

describe('fuzzing (seeded truncations and byte flips)', () => {
  it('our multi-extension file with a table: 150 cases', TEST_TIMEOUT, () => {
    fuzz('ours.fits', ourFile(), 1, 150);
  });

  it(
    'the ESO files with a binary table, a variable-length column and a non-standard extension: 150 cases',
    TEST_TIMEOUT,
    () => {
      fuzz('tst0012.mt', new Uint8Array(readFileSync(join(CONFORMANCE, 'tst0012.mt'))), 2, 75);
      fuzz('tst0010.mt', new Uint8Array(readFileSync(join(CONFORMANCE, 'tst0010.mt'))), 3, 75);
    },
  );

  it('a gzip-compressed file: 60 cases', TEST_TIMEOUT, () => {
    fuzz('ours.fits.gz', gzipSync(ourFile()), 4, 60);
  });

  it('Rice-compressed (.fz) float and integer images: 160 cases', TEST_TIMEOUT, async (t) => {
    if (!requireTool(t, 'fpack')) return;
    const dir = tempDir(t);
    const r = prng(9);
    const images = {
      float: new Float32Array(64 * 40).map(() => 100 + r() * 10),
      int: new Int16Array(64 * 40).map(() => Math.floor(r() * 2000 - 1000)),
    };
    for (const [name, data] of Object.entries(images)) {
      const src = join(dir, `${name}.fits`);
      writeFileSync(src, encodeFits([{ data, shape: [64, 40] }]));
      run('fpack', ['-O', `${src}.fz`, src]);
      fuzz(`${name}.fits.fz`, new Uint8Array(readFileSync(`${src}.fz`)), name === 'float' ? 5 : 6, 80);
    }
  });

  it('damaged files read from disk (lazy reads) behave the same: 30 cases', TEST_TIMEOUT, async (t) => {
    const dir = tempDir(t);
    let k = 0;
    for (const [what, bytes] of mutations(ourFile(), 7, 30)) {
      const path = join(dir, `case${k++}.fits`);
      writeFileSync(path, bytes);
      try {
        decodeAll(await readFits(path));
      } catch (err) {
        assert.ok(err instanceof BadInputError, `${what}: ${(err as Error)?.stack}`);
        assert.equal(err.exitCode, ExitCode.BAD_INPUT, what);
      }
    }
  });
});
