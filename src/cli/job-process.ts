/**
 * `rapid job run` on its own, for executors that start one process per job: the same command
 * and options, loading only the job's modules (the full CLI loads every command's, which takes
 * longer than a small job itself). Arguments as for `rapid`: `job run MANIFEST_URI …`.
 */
import { Command } from 'commander';
import { runProgram } from './errors.ts';
import { registerJobCommands } from './job.ts';

const program = new Command('rapid').exitOverride();
registerJobCommands(program);
for (const c of program.commands) {
  c.exitOverride();
  for (const cc of c.commands) cc.exitOverride();
}
runProgram(program, [process.argv[0], 'rapid', ...process.argv.slice(2)]).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`rapid: internal error: ${err?.stack ?? err}`);
    process.exitCode = 70;
  },
);
