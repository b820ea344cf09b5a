/**
 * The `rapid` command from the TypeScript sources (tests and benchmarks under tsx): the same
 * command line as `bin/rapid.js`, which runs the built dist/.
 */
import { main } from './main.ts';

main([process.argv[0], 'rapid', ...process.argv.slice(2)]).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`rapid: internal error: ${err?.stack ?? err}`);
    process.exitCode = 70;
  },
);
