/**
 * Fault classes 8 and 10 of the operations issue: interrupting and killing long commands.
 * - Ctrl-C on `rapid demo` (sent to its whole process group, as a terminal does): the running
 *   job finishes, no new one starts, exit 75 with one line; the run is recorded interrupted and
 *   the next demo resumes it.
 * - SIGKILL of a launcher: its jobs end with it (no process outlives it, no temporary folder
 *   is left); the next launch marks the dead run interrupted and runs the jobs again.
 * - SIGKILL of one job under the local executor: exit 75 (retry), not 70 (a bug); the folder it
 *   could not remove is swept by the next job.
 * Each ends with the database and the store agreeing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { storeAndDatabaseDisagree } from '../support/consistency.ts';
import { noopSurvey, rapid, rapidProcess, testEnv } from '../support/ops.ts';
import { jobTmpDirs, waitFor } from '../support/wait.ts';

const ENTRY = fileURLToPath(new URL('../../src/cli/entry.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

function collect(child: ReturnType<typeof rapidProcess>) {
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out.stdout += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    out.stderr += s;
  });
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { out, closed };
}

test('SIGKILL of the launcher: its jobs end with it, nothing is left behind; the next launch takes over', async (t) => {
  const env = await testEnv(t, 'pglite');
  if (!env) return;
  try {
    const launchArgs = await noopSurvey(env, 4, { sleepMs: 60_000 });
    const tmp = join(env.dir, 'tmp');
    await mkdir(tmp);
    const child = rapidProcess([...launchArgs, '--jobs', '2', ...env.args], { env: { TMPDIR: tmp } });
    const { closed } = collect(child);
    await waitFor(async () => (await jobTmpDirs(tmp)).length === 2, 'two jobs to start');
    child.kill('SIGKILL');
    await closed;
    // The jobs see their standard input close and end at once, removing their folders.
    await waitFor(async () => (await jobTmpDirs(tmp)).length === 0, 'the orphaned jobs to end', {
      timeoutMs: 60_000,
    });
    const again = rapid([...launchArgs.slice(0, -2), '--jobs', '2', ...env.args], { env: { TMPDIR: tmp } });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout).jobs.byStatus, { succeeded: 4 });
    assert.equal(rapid(['aggregate', ...env.args]).code, 0);
    const db = await env.open();
    try {
      const runs = await db.query<{ id: number; status: string }>('SELECT id, status FROM runs ORDER BY id');
      assert.deepEqual(
        runs.map((r) => r.status),
        ['interrupted', 'ended'],
      );
      assert.deepEqual(await storeAndDatabaseDisagree(db), []);
    } finally {
      await db.close();
    }
  } finally {
    await env.cleanup();
  }
});

test('SIGKILL of a job under the local executor: 75 (retry), and its folder is swept by the next job', async (t) => {
  const env = await testEnv(t, 'pglite');
  if (!env) return;
  try {
    const launchArgs = await noopSurvey(env, 4, { sleepMs: 60_000 });
    const tmp = join(env.dir, 'tmp');
    await mkdir(tmp);
    const child = rapidProcess([...launchArgs, '--jobs', '1', ...env.args], { env: { TMPDIR: tmp } });
    const { out, closed } = collect(child);
    await waitFor(async () => (await jobTmpDirs(tmp)).length === 1, 'the first job to start');
    const [name] = await jobTmpDirs(tmp);
    const pid = Number(/-p(\d+)-/.exec(name)![1]);
    process.kill(pid, 'SIGKILL');
    // The rest would take minutes: once the kill is recorded, stop the launcher (and its jobs).
    await waitFor(() => out.stderr.includes('"detail":"1 failed"'), 'the killed job to be counted');
    // Two signals sent at once may arrive as one: the second goes once the first is answered.
    child.kill('SIGINT');
    await waitFor(() => out.stderr.includes('stopping: no new jobs'), 'the launcher to stop');
    child.kill('SIGINT');
    const code = await closed;
    assert.equal(code, 75, out.stderr);
    const summary = JSON.parse(out.stdout);
    assert.equal(summary.jobs.byExitCode['75'] >= 1, true, out.stdout);
    assert.equal(summary.jobs.byExitCode['70'], undefined, out.stdout);
    const db = await env.open();
    try {
      const [j] = await db.query<{ exit_code: number; message: string }>(
        "SELECT exit_code, message FROM jobs WHERE message LIKE 'killed by%'",
      );
      assert.deepEqual([j.exit_code, j.message], [75, 'killed by SIGKILL']);
    } finally {
      await db.close();
    }
    // The killed job could not remove its folder; the next job's start does.
    const again = rapid([...launchArgs.slice(0, -2), ...env.args], { env: { TMPDIR: tmp } });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await jobTmpDirs(tmp), []);
    assert.equal(rapid(['aggregate', ...env.args]).code, 0);
    const db2 = await env.open();
    try {
      assert.deepEqual(await storeAndDatabaseDisagree(db2), []);
    } finally {
      await db2.close();
    }
  } finally {
    await env.cleanup();
  }
});

test('Ctrl-C on rapid demo: the running job finishes, exit 75 with one line; the run is interrupted and the next demo resumes', async (t) => {
  const env = await testEnv(t, 'pglite');
  if (!env) return;
  try {
    const tmp = join(env.dir, 'tmp');
    await mkdir(tmp);
    const demoDir = join(env.dir, 'demo');
    const args = [
      'demo',
      '--dir',
      demoDir,
      '--tiles',
      '1',
      '--epochs',
      '4',
      '--filters',
      'F158',
      '--size',
      '512',
    ];
    // Its own process group, as a shell gives a command: the terminal's Ctrl-C goes to the group.
    const child = spawn(process.execPath, ['--import', TSX, ENTRY, ...args, '--jobs', '1'], {
      env: { ...process.env, TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const { out, closed } = collect(child);
    await waitFor(async () => (await jobTmpDirs(tmp)).length > 0, 'the demo’s first job to start', {
      timeoutMs: 300_000,
    });
    process.kill(-child.pid!, 'SIGINT');
    const code = await closed;
    assert.equal(code, 75, out.stderr);
    assert.match(out.stderr, /rapid demo: stopping: no new jobs/);
    assert.match(out.stderr, /rapid demo interrupted; run it again to resume/);
    // The running job finished and removed its folder; no job process is left.
    assert.deepEqual(await jobTmpDirs(tmp), []);
    const db = await (await import('../../src/ops/db.ts')).openDatabase({
      home: join(demoDir, 'data'),
      database: { kind: 'pglite', dataDir: join(demoDir, 'data', 'db') },
      store: join(demoDir, 'data', 'store'),
    });
    try {
      const runs = await db.query<{ status: string }>('SELECT status FROM runs');
      assert.deepEqual(
        runs.map((r) => r.status),
        ['interrupted'],
      );
      const running = await db.query("SELECT id FROM jobs WHERE status = 'running'");
      assert.deepEqual(running, []);
    } finally {
      await db.close();
    }
    const again = rapid([...args, '--jobs', '2'], { env: { TMPDIR: tmp } });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /reusing the simulated survey/);
  } finally {
    await env.cleanup();
  }
});

test('Ctrl-C on a command without graceful stopping (simulate): one line, exit 75', async (t) => {
  const env = await testEnv(t, 'pglite');
  if (!env) return;
  try {
    const child = rapidProcess([
      'simulate',
      '--out',
      join(env.dir, 'sim'),
      '--tiles',
      '1',
      '--epochs',
      '6',
      '--size',
      '1024',
    ]);
    const { out, closed } = collect(child);
    await waitFor(() => out.stderr.includes('"what":"simulate"'), 'the simulation to start');
    child.kill('SIGINT');
    assert.equal(await closed, 75, out.stderr);
    assert.match(out.stderr, /rapid simulate: interrupted; run it again to resume/);
    assert.doesNotMatch(out.stderr, /internal error|at .*\.ts:\d+/);
  } finally {
    await env.cleanup();
  }
});
