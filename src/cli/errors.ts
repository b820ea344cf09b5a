/** Running a command line: parse, call, and turn what was thrown into one line and an exit code. */
import { type Command, CommanderError } from 'commander';
import { ExitCode, RapidError } from '../util/errors.ts';

/** Parse and run; resolves to the exit code. */
export async function runProgram(program: Command, argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? ExitCode.OK : Number(process.exitCode);
  } catch (err) {
    return reportError(err);
  }
}

export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // --help and --version end with a zero code; anything else is a usage error.
    if (err.exitCode === 0) return ExitCode.OK;
    return ExitCode.USAGE;
  }
  if (err instanceof RapidError) {
    console.error(`rapid: ${err.message}`);
    return err.exitCode;
  }
  const e = err as NodeJS.ErrnoException;
  if (e && (e.code === 'ENOENT' || e.code === 'EISDIR')) {
    console.error(`rapid: ${e.path ?? 'input'}: no such file; check the path`);
    return ExitCode.MISSING_INPUT;
  }
  console.error(`rapid: internal error (please report it): ${e?.stack ?? String(err)}`);
  return ExitCode.INTERNAL;
}
