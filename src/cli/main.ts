/**
 * The `rapid` command: parse, call, print. Each concept registers its own subcommands.
 * Informational messages go to standard error; standard output stays machine-readable.
 */
import { Command } from 'commander';
import { VERSION } from '../version.ts';
import { runProgram } from './errors.ts';

type Register = (program: Command) => void;

/**
 * Each module of commands, with the top-level commands it registers (in help order). A command
 * line naming one of them loads that module alone: loading all of them (the database drivers,
 * the alert packets' Avro, …) cost about 0.1 s of every `rapid` start, `rapid job run`'s too.
 */
export const COMMAND_MODULES: { names: string[]; load: () => Promise<Register> }[] = [
  { names: ['fits'], load: async () => (await import('./fits.ts')).registerFitsCommands },
  { names: ['wcs'], load: async () => (await import('./wcs.ts')).registerWcsCommands },
  { names: ['tile'], load: async () => (await import('./tile.ts')).registerTileCommands },
  { names: ['simulate'], load: async () => (await import('./simulate.ts')).registerSimulateCommands },
  { names: ['extract'], load: async () => (await import('./extract.ts')).registerExtractCommands },
  { names: ['psf'], load: async () => (await import('./psf.ts')).registerPsfCommands },
  { names: ['subtract'], load: async () => (await import('./subtract.ts')).registerSubtractCommands },
  {
    names: ['background', 'resample', 'coadd'],
    load: async () => (await import('./image.ts')).registerImageCommands,
  },
  { names: ['db'], load: async () => (await import('./db.ts')).registerDbCommands },
  { names: ['ingest'], load: async () => (await import('./ingest.ts')).registerIngestCommands },
  { names: ['launch'], load: async () => (await import('./launch.ts')).registerLaunchCommands },
  { names: ['job'], load: async () => (await import('./job.ts')).registerJobCommands },
  { names: ['worker'], load: async () => (await import('./worker.ts')).registerWorkerCommands },
  { names: ['batch'], load: async () => (await import('./batch.ts')).registerBatchCommands },
  { names: ['aggregate'], load: async () => (await import('./aggregate.ts')).registerAggregateCommands },
  {
    names: ['postprocess', 'alerts', 'object'],
    load: async () => (await import('./postprocess.ts')).registerPostprocessCommands,
  },
  { names: ['status'], load: async () => (await import('./status.ts')).registerStatusCommands },
  { names: ['report'], load: async () => (await import('./report.ts')).registerReportCommands },
  { names: ['demo'], load: async () => (await import('./demo.ts')).registerDemoCommands },
];

/**
 * The program for a command line (`process.argv`-shaped): only the named command's module when
 * the first argument names one, none for `--version`, every command otherwise (help, typos).
 */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('rapid')
    .description('Prompt image differencing at survey scale (a RAPID-like pipeline in TypeScript)')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const first = argv.slice(2).find((a) => !a.startsWith('-'));
  const named = COMMAND_MODULES.find((m) => first !== undefined && m.names.includes(first));
  const versionOnly = first === undefined && argv.some((a) => a === '-V' || a === '--version');
  for (const m of named ? [named] : versionOnly ? [] : COMMAND_MODULES) (await m.load())(program);
  // Subcommands inherit exitOverride so that usage errors come back here with their code.
  for (const c of program.commands) {
    c.exitOverride();
    for (const cc of c.commands) cc.exitOverride();
  }
  return program;
}

/**
 * Ctrl-C or SIGTERM for a command that has no handling of its own (ingest, aggregate, simulate,
 * report, …): one line and exit 75, as for launch. Each of them is safe to run again: what was
 * committed stays, the rest is done then. Commands that stop gracefully (launch, demo, worker,
 * job run) install their own handlers, and this one then stands aside.
 */
function defaultInterrupts(argv: readonly string[]): void {
  const name = argv.slice(2).find((a) => !a.startsWith('-')) ?? 'rapid';
  const onSignal = (signal: NodeJS.Signals) => {
    if (process.listenerCount(signal) > 1) return;
    process.stderr.write(`\nrapid ${name}: interrupted; run it again to resume (what was done is kept)\n`);
    process.exit(75);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Run the command line; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  defaultInterrupts(argv);
  return runProgram(await buildProgram(argv), argv);
}

export { reportError } from './errors.ts';
