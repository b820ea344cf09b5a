import type { Command } from 'commander';
/** Small helpers shared by the command modules: argument parsing and output. */
import { UsageError } from '../util/errors.ts';

/** Parse a number given on the command line; a usage error (exit 64) when it is not one. */
export function parseNumber(text: string, what: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v))
    throw new UsageError(`${what} must be a number, got '${text}'`);
  return v;
}

/**
 * Parse a non-negative integer given on the command line: decimal digits only (no sign, no
 * `0x1`, `1e3` or `2.0`), at most 2^53 − 1; a usage error (exit 64) otherwise.
 */
export function parseIndex(text: string, what: string): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)))
    throw new UsageError(`${what} must be a non-negative integer (decimal digits), got '${text}'`);
  return Number(text);
}

/** The largest id a PostgreSQL bigint (the ids of runs, jobs, objects) holds: 2^63 − 1. */
export const MAX_DB_ID = 2n ** 63n - 1n;

/**
 * Parse a database id (a run's, an object's) given on the command line: decimal digits only,
 * 1 ≤ id ≤ 2^63 − 1 (PostgreSQL's bigint); `0x1`, `1e3`, `-1`, `0` and 99999999999999999999 are
 * usage errors (exit 64), never a query that fails. Every command taking `--run` uses this.
 */
export function parseId(text: string, what: string): bigint {
  const ok = /^\d+$/.test(text);
  const v = ok ? BigInt(text) : 0n;
  if (!ok || v < 1n || v > MAX_DB_ID)
    throw new UsageError(`${what} must be an id: decimal digits, 1 to ${MAX_DB_ID}, got '${text}'`);
  return v;
}

/** `--run ID` when given (see parseId); undefined otherwise. */
export function parseRunOption(value: unknown): bigint | undefined {
  return value === undefined ? undefined : parseId(String(value), '--run');
}

/** Machine-readable output: one JSON document on standard output. */
export function printJson(value: unknown): void {
  process.stdout.write(
    `${JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`,
  );
}

/** The backend options every operations command takes (config.ts resolves them). */
export function addBackendOptions(cmd: Command): Command {
  return cmd
    .option('--home <dir>', 'data folder (env RAPID_HOME; default ./rapid-data)')
    .option('--database-url <url>', 'PostgreSQL URL (env DATABASE_URL; default PGlite in the data folder)')
    .option(
      '--store <uri>',
      'object store: a folder or s3://bucket/prefix (env RAPID_STORE; default <home>/store)',
    )
    .option('--s3-endpoint <url>', 'endpoint of an S3-compatible store (env RAPID_S3_ENDPOINT)');
}
