/**
 * Stable names for alert objects, in the style of the Transient Name Server (2028abc):
 * prefix + four-digit year + a counter written in bijective base 26 with the letters a–z.
 *
 * The counter starts at 1: 1 → 'a', 26 → 'z', 27 → 'aa', 702 → 'zz', 703 → 'aaa', … so every
 * positive integer has exactly one name and every lower-case letter string exactly one number.
 * Names of one prefix and year sort by number when ordered by (length, then letters), not as
 * plain strings ('z' is the 26th, 'aa' the 27th): use compareAlertNames for that.
 */
import { BadInputError, UsageError } from '../util/errors.ts';

const ALPHABET = 26;
const A = 'a'.charCodeAt(0);
/** A prefix starts with a letter and holds letters, digits, '_' or '-' (it never ends the year). */
const PREFIX = /^[A-Za-z][A-Za-z0-9_-]*$/;
const NAME = /^([A-Za-z][A-Za-z0-9_-]*?)(\d{4})([a-z]+)$/;

export interface ParsedAlertName {
  prefix: string;
  year: number;
  /** The counter, ≥ 1. */
  n: number;
}

/** The counter's letters: 1 → 'a', 26 → 'z', 27 → 'aa'. */
export function counterLetters(n: number): string {
  if (!Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`name counter must be a whole number ≥ 1, got ${n}`);
  let letters = '';
  let rest = n;
  while (rest > 0) {
    // Bijective base 26: digits run 1…26, so subtract one before taking the remainder.
    rest -= 1;
    letters = String.fromCharCode(A + (rest % ALPHABET)) + letters;
    rest = Math.floor(rest / ALPHABET);
  }
  return letters;
}

/** The counter of its letters: 'a' → 1, 'z' → 26, 'aa' → 27. */
export function counterValue(letters: string): number {
  if (!/^[a-z]+$/.test(letters))
    throw new BadInputError(`name counter '${letters}' must be lower-case letters a–z`);
  let n = 0;
  for (let i = 0; i < letters.length; i++) n = n * ALPHABET + (letters.charCodeAt(i) - A + 1);
  if (!Number.isSafeInteger(n)) throw new BadInputError(`name counter '${letters}' is too long`);
  return n;
}

/** The name of the n-th object (n ≥ 1) of a year: alertName('RAPID', 2028, 28) = 'RAPID2028ab'. */
export function alertName(prefix: string, year: number, n: number): string {
  if (!PREFIX.test(prefix))
    throw new UsageError(
      `name prefix '${prefix}' must start with a letter and hold only letters, digits, _ or -`,
    );
  if (!Number.isInteger(year) || year < 1000 || year > 9999)
    throw new UsageError(`name year must be a four-digit year, got ${year}`);
  return `${prefix}${year}${counterLetters(n)}`;
}

/** Split a name into prefix, year and counter; BadInputError when it does not follow the scheme. */
export function parseAlertName(name: string): ParsedAlertName {
  const m = NAME.exec(name);
  if (!m)
    throw new BadInputError(
      `'${name}' is not an alert name (prefix, four-digit year, lower-case letters, e.g. RAPID2028abc)`,
    );
  return { prefix: m[1], year: Number(m[2]), n: counterValue(m[3]) };
}

/** Order names by prefix, year, then counter (not as plain strings: 'z' comes before 'aa'). */
export function compareAlertNames(a: string, b: string): number {
  const p = parseAlertName(a);
  const q = parseAlertName(b);
  if (p.prefix !== q.prefix) return p.prefix < q.prefix ? -1 : 1;
  return p.year - q.year || p.n - q.n;
}
