/**
 * `rapid job run` as a process of its own, for executors running from the TypeScript sources
 * (tests under tsx): the same command line as `bin/rapid.js job run …`.
 */
import { main } from '../cli/main.ts';

main([process.argv[0], 'rapid', ...process.argv.slice(2)]).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`rapid: internal error: ${err?.stack ?? err}`);
    process.exitCode = 70;
  },
);
