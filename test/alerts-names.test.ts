import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  alertName,
  compareAlertNames,
  counterLetters,
  counterValue,
  parseAlertName,
} from '../src/alerts/index.ts';
import { BadInputError, UsageError } from '../src/util/errors.ts';

test('the counter is bijective base 26: a…z, aa…zz, aaa…', () => {
  const cases: [number, string][] = [
    [1, 'a'],
    [2, 'b'],
    [26, 'z'],
    [27, 'aa'],
    [28, 'ab'],
    [52, 'az'],
    [53, 'ba'],
    [702, 'zz'],
    [703, 'aaa'],
    [18278, 'zzz'],
    [18279, 'aaaa'],
  ];
  for (const [n, letters] of cases) {
    assert.equal(counterLetters(n), letters, `n = ${n}`);
    assert.equal(counterValue(letters), n, letters);
  }
});

test('names round-trip and every number has a distinct name', () => {
  const seen = new Set<string>();
  for (let n = 1; n <= 20000; n++) {
    const name = alertName('RAPID', 2028, n);
    assert.ok(!seen.has(name), name);
    seen.add(name);
    assert.deepEqual(parseAlertName(name), { prefix: 'RAPID', year: 2028, n });
  }
  assert.equal(alertName('RAPID', 2028, 28), 'RAPID2028ab');
  // A prefix ending in digits still parses: the year is the last four digits before the letters.
  assert.deepEqual(parseAlertName('R2D22031zz'), { prefix: 'R2D2', year: 2031, n: 702 });
  const big = Number.MAX_SAFE_INTEGER;
  assert.equal(parseAlertName(alertName('X', 2030, big)).n, big);
});

test('names order by prefix, year, then counter (not as plain strings)', () => {
  const names = [
    alertName('RAPID', 2029, 1),
    alertName('RAPID', 2028, 27),
    alertName('RAPID', 2028, 26),
    alertName('RAPID', 2028, 703),
    alertName('RAPID', 2028, 1),
  ];
  assert.deepEqual([...names].sort(compareAlertNames), [
    'RAPID2028a',
    'RAPID2028z',
    'RAPID2028aa',
    'RAPID2028aaa',
    'RAPID2029a',
  ]);
  // Plain string order would put 'aa' before 'z': the reason for compareAlertNames.
  assert.ok('RAPID2028aa' < 'RAPID2028z');
});

test('bad counters, years, prefixes and names are refused', () => {
  assert.throws(() => counterLetters(0), UsageError);
  assert.throws(() => counterLetters(1.5), UsageError);
  assert.throws(() => alertName('RAPID', 28, 1), UsageError);
  assert.throws(() => alertName('9RAPID', 2028, 1), UsageError);
  assert.throws(() => alertName('RA PID', 2028, 1), UsageError);
  assert.throws(() => parseAlertName('RAPID2028'), BadInputError);
  assert.throws(() => parseAlertName('RAPID2028ABC'), BadInputError);
  assert.throws(() => parseAlertName('RAPID28abc'), BadInputError);
  assert.throws(() => counterValue('a'.repeat(20)), /too long/);
});
