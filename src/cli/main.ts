/**
 * The `rapid` command: parse, call, print. Each concept registers its own subcommands.
 * Informational messages go to standard error; standard output stays machine-readable.
 */
import { Command } from 'commander';
import { VERSION } from '../version.ts';
import { registerAggregateCommands } from './aggregate.ts';
import { registerBatchCommands } from './batch.ts';
import { registerDbCommands } from './db.ts';
import { registerDemoCommands } from './demo.ts';
import { runProgram } from './errors.ts';
import { registerExtractCommands } from './extract.ts';
import { registerFitsCommands } from './fits.ts';
import { registerImageCommands } from './image.ts';
import { registerIngestCommands } from './ingest.ts';
import { registerJobCommands } from './job.ts';
import { registerLaunchCommands } from './launch.ts';
import { registerPostprocessCommands } from './postprocess.ts';
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
  registerPostprocessCommands(program);
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
  return runProgram(buildProgram(), argv);
}

export { reportError } from './errors.ts';
