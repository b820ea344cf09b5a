/** Small helpers shared by the command modules: argument parsing and output. */
import { UsageError } from '../util/errors.ts';

/** Parse a number given on the command line; a usage error (exit 64) when it is not one. */
export function parseNumber(text: string, what: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v))
    throw new UsageError(`${what} must be a number, got '${text}'`);
  return v;
}

/** Parse a non-negative integer given on the command line. */
export function parseIndex(text: string, what: string): number {
  const v = parseNumber(text, what);
  if (!Number.isInteger(v) || v < 0)
    throw new UsageError(`${what} must be a non-negative integer, got '${text}'`);
  return v;
}

/** Machine-readable output: one JSON document on standard output. */
export function printJson(value: unknown): void {
  process.stdout.write(
    `${JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`,
  );
}
