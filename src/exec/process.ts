/**
 * One job as a process: `rapid job run MANIFEST_URI --quiet …` with the last lines of its
 * standard error kept, so that a failed job can say why in one line. The local executor and the
 * queue worker both run jobs this way.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * The command that runs `rapid job run`: env RAPID_JOB_COMMAND, else the job-only entry
 * (cli/job-process.ts), built or under tsx.
 */
export function jobCommand(): string[] {
  const env = process.env.RAPID_JOB_COMMAND;
  if (env && env.trim() !== '') return env.trim().split(/\s+/);
  if (import.meta.url.endsWith('.ts'))
    return [
      process.execPath,
      '--import',
      import.meta.resolve('tsx'),
      fileURLToPath(new URL('../cli/job-process.ts', import.meta.url)),
    ];
  return [process.execPath, fileURLToPath(new URL('../cli/job-process.js', import.meta.url))];
}

export interface JobProcessOptions {
  /** The job command (default jobCommand()); 'job run URI --quiet' is appended. */
  command?: string[];
  /** Extra arguments after the manifest URI (e.g. --s3-endpoint URL). */
  jobArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** Its own process group (so a Ctrl-C at the terminal does not reach it). */
  detached?: boolean;
  /** Give the job a standard input that closes when this process dies (with --exit-with-parent). */
  stdinPipe?: boolean;
}

export interface JobProcessEnd {
  /** The process exit code; null when a signal ended it or it never started. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why it failed, in one line: the start error, the signal, or the job's last line of standard error. */
  message?: string;
  started: Date;
  ended: Date;
}

export interface JobProcess {
  child: ChildProcess;
  started: Date;
  done: Promise<JobProcessEnd>;
}

export function startJobProcess(manifestUri: string, o: JobProcessOptions = {}): JobProcess {
  const command = o.command ?? jobCommand();
  const args = [...command.slice(1), 'job', 'run', manifestUri, '--quiet', ...(o.jobArgs ?? [])];
  const child = spawn(command[0], args, {
    detached: o.detached ?? false,
    stdio: [o.stdinPipe ? 'pipe' : 'ignore', 'ignore', 'pipe'],
    env: o.env ?? process.env,
  });
  const started = new Date();
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    stderr = (stderr + s).slice(-4000);
  });
  // The pipe is only there to close when this process dies; never written to.
  child.stdin?.on('error', () => {});
  const done = new Promise<JobProcessEnd>((resolve) => {
    let ended = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
      if (ended) return;
      ended = true;
      const lastLine = stderr
        .trim()
        .split('\n')
        .pop()
        ?.replace(/^rapid: /, '');
      const message = error
        ? `cannot start the job: ${error.message}`
        : signal
          ? `killed by ${signal}`
          : code === 0
            ? undefined
            : lastLine || undefined;
      resolve({ code, signal, message, started, ended: new Date() });
    };
    child.on('error', (err) => finish(null, null, err));
    child.on('close', (code, signal) => finish(code, signal));
  });
  return { child, started, done };
}

/** Signal a job's process group (or the process alone when it has none). */
export function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}
