/**
 * The `rapid` command: parse, call, print. Each concept registers its own subcommands.
 * Informational messages go to standard error; standard output stays machine-readable.
 */
import { Command, CommanderError } from 'commander';
import { ExitCode, RapidError } from '../util/errors.ts';
import { VERSION } from '../version.ts';
import { registerAggregateCommands } from './aggregate.ts';
import { registerBatchCommands } from './batch.ts';
import { registerDbCommands } from './db.ts';
import { registerDemoCommands } from './demo.ts';
import { registerExtractCommands } from './extract.ts';
import { registerFitsCommands } from './fits.ts';
import { registerImageCommands } from './image.ts';
import { registerIngestCommands } from './ingest.ts';
import { registerJobCommands } from './job.ts';
import { registerLaunchCommands } from './launch.ts';
import { registerPsfCommands } from './psf.ts';
import { registerReportCommands } from './report.ts';
import { registerSimulateCommands } from './simulate.ts';
import { registerStatusCommands } from './status.ts';
import { registerSubtractCommands } from './subtract.ts';
import { registerTileCommands } from './tile.ts';
import { registerWcsCommands } from './wcs.ts';
import { registerWorkerCommands } from './worker.ts';

export function buildProgram(): Command {
  const program = new Command('rapid')
    .description('Prompt image differencing at survey scale (a RAPID-like pipeline in TypeScript)')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerFitsCommands(program);
  registerWcsCommands(program);
  registerTileCommands(program);
  registerSimulateCommands(program);
  registerExtractCommands(program);
  registerPsfCommands(program);
  registerSubtractCommands(program);
  registerImageCommands(program);
  registerDbCommands(program);
  registerIngestCommands(program);
  registerLaunchCommands(program);
  registerJobCommands(program);
  registerWorkerCommands(program);
  registerBatchCommands(program);
  registerAggregateCommands(program);
  registerStatusCommands(program);
  registerReportCommands(program);
  registerDemoCommands(program);
  // Subcommands inherit exitOverride so that usage errors come back here with their code.
  for (const c of program.commands) {
    c.exitOverride();
    for (const cc of c.commands) cc.exitOverride();
  }
  return program;
}

/** Run the command line; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
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
