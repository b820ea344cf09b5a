/**
 * A private redis-server for the tests that stop, restart or lock Redis (the shared one of the
 * other queue tests must not be touched): on a free local port, with a password when asked,
 * and with its data kept on disk (append-only file, every write synced) so that a restart finds
 * the queue as it was, like a production Redis with persistence.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** Is redis-server installed? When not: fail in CI, skip (with the reason) locally. */
export function requireRedisServer(t: TestContext): boolean {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (r.status === 0) return true;
  const reason = 'redis-server is not installed (apt-get install redis-server); these tests start their own';
  if (process.env.CI === 'true') throw new Error(`${reason}; they must run in CI`);
  console.error(`# SKIP: ${reason}`);
  t.skip(reason);
  return false;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once something answers PING on the port (+PONG, or -NOAUTH with a password). */
async function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect({ host: '127.0.0.1', port });
    let data = '';
    const done = (ok: boolean) => {
      c.destroy();
      resolve(ok);
    };
    c.setTimeout(1000, () => done(false));
    c.on('error', () => done(false));
    c.on('connect', () => c.write('PING\r\n'));
    c.on('data', (b) => {
      data += b.toString();
      if (data.includes('\r\n')) done(/^(\+PONG|-NOAUTH)/.test(data));
    });
  });
}

export interface PrivateRedisOptions {
  /** requirepass: clients must give this password. */
  password?: string;
  /** Keep the data across restarts (append-only file, fsync always); default true. */
  persist?: boolean;
}

export class PrivateRedis {
  private child?: ChildProcess;
  private exited?: Promise<void>;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly options: PrivateRedisOptions,
  ) {}

  /** Start one on a free port (a few tries, should another process take the port first). */
  static async start(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
    const dir = await mkdtemp(join(tmpdir(), 'rapid-redis-'));
    let last: unknown;
    for (let i = 0; i < 3; i++) {
      const r = new PrivateRedis(await freePort(), dir, options);
      try {
        await r.restart();
        return r;
      } catch (err) {
        last = err;
        await r.stop();
      }
    }
    await rm(dir, { recursive: true, force: true });
    throw last;
  }

  /** redis://[:PASSWORD@]127.0.0.1:PORT, with `auth` in place of the password part when given. */
  url(auth?: string): string {
    const a = auth ?? (this.options.password ? `:${encodeURIComponent(this.options.password)}` : '');
    return `redis://${a ? `${a}@` : ''}127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** (Re)start the server on its port and folder; resolves once it answers. */
  async restart(timeoutMs = 30_000): Promise<void> {
    if (this.child) throw new Error('redis-server is running already');
    const persist = this.options.persist ?? true;
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      '',
      '--appendonly',
      persist ? 'yes' : 'no',
      '--appendfsync',
      'always',
      ...(this.options.password ? ['--requirepass', this.options.password] : []),
    ];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.on('exit', () => resolve()));
    let gone = false;
    void this.exited.then(() => {
      gone = true;
    });
    const deadline = Date.now() + timeoutMs;
    while (!(await answers(this.port))) {
      if (gone) {
        this.child = undefined;
        throw new Error(`redis-server on port ${this.port} exited at start: ${stderr.trim()}`);
      }
      if (Date.now() > deadline)
        throw new Error(`redis-server on port ${this.port} did not answer in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stop the server (SIGKILL by default: an outage, not a shutdown); resolves once it is gone. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const c = this.child;
    if (!c) return;
    this.child = undefined;
    if (c.exitCode === null && c.signalCode === null) c.kill(signal);
    await this.exited;
  }

  async close(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
