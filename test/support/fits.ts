/** Helpers for the FITS tests: temporary folders, a seeded PRNG, fitsverify, comparisons. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

export const CONFORMANCE = fileURLToPath(new URL('../data/fits-conformance/', import.meta.url));

/** A fresh temporary folder, removed when the test ends. */
export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'rapid-fits-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FitsverifyResult {
  status: number;
  warnings: number;
  errors: number;
  output: string;
}

/** Run fitsverify on a file and read its summary line. */
export function fitsverify(path: string): FitsverifyResult {
  const r = spawnSync('fitsverify', [path], { encoding: 'utf8' });
  const output = `${r.stdout}${r.stderr}`;
  const m = /Verification found (\d+) warning\(s\) and (\d+) error\(s\)/.exec(output);
  if (!m) throw new Error(`fitsverify printed no summary for ${path}:\n${output}`);
  return { status: r.status ?? -1, warnings: Number(m[1]), errors: Number(m[2]), output };
}

/** Assert that fitsverify reports 0 warnings and 0 errors (quiet mode agrees). */
export function assertFitsverifyClean(path: string): void {
  const r = fitsverify(path);
  assert.equal(
    r.warnings + r.errors,
    0,
    `fitsverify found ${r.warnings} warnings, ${r.errors} errors:\n${r.output}`,
  );
  const q = spawnSync('fitsverify', ['-q', path], { encoding: 'utf8' });
  assert.equal(q.status, 0, `fitsverify -q: ${q.stdout}`);
  assert.match(q.stdout, /verification OK/);
}

/** Element-wise equality where NaN equals NaN; reports the first difference. */
export function assertSameValues(
  actual: ArrayLike<number | bigint>,
  expected: ArrayLike<number | bigint>,
  what = 'values',
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (a === e) continue;
    if (typeof a === 'number' && typeof e === 'number' && Number.isNaN(a) && Number.isNaN(e)) continue;
    if (typeof a !== typeof e && Number(a) === Number(e)) continue;
    assert.fail(`${what}: element ${i} is ${a}, expected ${e}`);
  }
}
