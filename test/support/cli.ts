/**
 * Run the built `rapid` command (bin/rapid.js over dist/). `npm test` builds first; a single test
 * file run by hand rebuilds dist/ when a source is newer than the build, so that what runs is
 * what is in src/.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The project's test data (test/data; README.md there gives each file's origin). */
export const TEST_DATA = fileURLToPath(new URL('../data/', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/rapid.js', import.meta.url));

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function built(): number {
  try {
    return statSync(join(ROOT, 'dist/cli/main.js')).mtimeMs;
  } catch {
    return 0;
  }
}

if (newestSource(join(ROOT, 'src')) > built()) {
  console.error('# dist/ is older than src/: building it first (npm run build)');
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')],
    {
      stdio: 'inherit',
    },
  );
}

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
