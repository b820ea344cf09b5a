/** Running a command line: parse, call, and turn what was thrown into one line and an exit code. */
import { inspect } from 'node:util';
import { type Command, CommanderError } from 'commander';
import { ExitCode, RapidError, systemError } from '../util/errors.ts';

/** Parse and run; resolves to the exit code. */
export async function runProgram(program: Command, argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? ExitCode.OK : Number(process.exitCode);
  } catch (err) {
    return reportError(err);
  }
}

/** A message on one line: the lines of a multi-line one joined. */
function oneLine(message: string): string {
  return message
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join('; ');
}

/** Anything thrown, for the internal-error message: its stack, or what it holds (never "[object Object]"). */
function describe(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  if (err !== null && typeof err === 'object') return inspect(err, { depth: 2, breakLength: Infinity });
  return String(err);
}

/**
 * What was thrown as one line on standard error and an exit code: usage errors 64; a RapidError
 * its own code; system errors (files, disks, permissions, hosts) by what an operator can do about
 * them (util/errors.ts systemError); anything else is a bug: 70, with its stack.
 */
export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // --help and --version end with a zero code; anything else is a usage error.
    if (err.exitCode === 0) return ExitCode.OK;
    return ExitCode.USAGE;
  }
  const known = err instanceof RapidError ? err : systemError(err);
  if (known) {
    console.error(`rapid: ${oneLine(known.message)}`);
    return known.exitCode;
  }
  console.error(`rapid: internal error (please report it): ${describe(err)}`);
  return ExitCode.INTERNAL;
}
