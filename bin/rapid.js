#!/usr/bin/env node
// The `rapid` command. The TypeScript sources are compiled to dist/ by `npm ci` (the prepare script).
import { main } from '../dist/cli/main.js';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`rapid: internal error: ${err?.stack ?? err}`);
    process.exitCode = 70;
  },
);
