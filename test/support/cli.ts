/** Run the built `rapid` command (bin/rapid.js over dist/; `npm test` builds first). */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The project's test data (test/data; README.md there gives each file's origin). */
export const TEST_DATA = fileURLToPath(new URL('../data/', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/rapid.js', import.meta.url));

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function rapid(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    maxBuffer: 1 << 26,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
