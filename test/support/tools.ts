/**
 * Reference tools (SourceExtractor, SWarp, PSFEx, wcstools, astropy, healpy, fitsverify) for
 * cross-checks. Locally a missing tool skips the test with a printed reason; in CI
 * (CI=true) it fails, so a cross-check can never pass by not running.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';

const cache = new Map<string, boolean>();

/** Debian's python3 sees astropy, healpy, photutils; the first python3 on PATH may not. */
export const PYTHON = '/usr/bin/python3';

function probe(name: string, check: () => boolean): boolean {
  let ok = cache.get(name);
  if (ok === undefined) {
    try {
      ok = check();
    } catch {
      ok = false;
    }
    cache.set(name, ok);
  }
  return ok;
}

/** Is an executable on PATH? */
export function hasCommand(cmd: string): boolean {
  return probe(`cmd:${cmd}`, () => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0);
}

/** Can Debian's python3 import this module? */
export function hasPythonModule(mod: string): boolean {
  return probe(
    `py:${mod}`,
    () => existsSync(PYTHON) && spawnSync(PYTHON, ['-c', `import ${mod}`]).status === 0,
  );
}

/**
 * Returns true when the tool is there. When it is not: in CI the test fails; locally the test
 * is skipped and the reason printed. Usage: `if (!requireTool(t, 'fitsverify')) return;`
 */
export function requireTool(t: TestContext, what: string, available?: boolean): boolean {
  const ok = available ?? hasCommand(what);
  if (ok) return true;
  const reason = `reference tool '${what}' is not installed (apt-get install it; .ci/run does)`;
  if (process.env.CI === 'true') throw new Error(`${reason}; cross-checks must run in CI`);
  console.error(`# SKIP: ${reason}`);
  t.skip(reason);
  return false;
}

/** Run Debian's python3 on a script, returning stdout; throws with stderr on failure. */
export function runPython(script: string, args: string[] = [], input?: string): string {
  const r = spawnSync(PYTHON, ['-c', script, ...args], { input, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`python3 failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Run a command, returning stdout; throws with stderr on failure. */
export function run(cmd: string, args: string[], options: { input?: string; cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...options });
  if (r.error) throw r.error;
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}
