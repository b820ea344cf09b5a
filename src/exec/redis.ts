/**
 * The Redis connection BullMQ uses here: a small RESP2 client over a TCP socket.
 *
 * BullMQ 6 loads its Redis driver (ioredis or node-redis) as an optional peer dependency, and
 * neither is among this project's dependencies. BullMQ also ships an adapter for Bun's built-in
 * client, which needs only `connect`, `send(command, args)`, `close`, `duplicate` and the
 * `connected`/`onconnect`/`onclose` members; this client provides exactly those, so BullMQ's
 * own adapter does the rest (scripts, transactions, blocking pops, reconnection).
 * `useRedis(url)` installs it as BullMQ's client factory and returns the connection options.
 */
import { Socket } from 'node:net';
import { createBunRedisClient, type IRedisClient, RedisConnection, type RedisOptions } from 'bullmq';
import { ExitCode, RapidError, UsageError } from '../util/errors.ts';

type Reply = string | number | null | Error | Reply[];

const CRLF = Buffer.from('\r\n');

/** Encode one command as a RESP array of bulk strings. */
function encode(command: string, args: (string | Buffer | number)[]): Buffer {
  const parts: Buffer[] = [
    Buffer.from(`*${args.length + 1}\r\n$${Buffer.byteLength(command)}\r\n${command}\r\n`),
  ];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, CRLF);
  }
  return Buffer.concat(parts);
}

/** Parse one reply at `pos`; undefined when the buffer does not hold all of it yet. */
function parse(buf: Buffer, pos: number): { value: Reply; next: number } | undefined {
  const eol = buf.indexOf(CRLF, pos);
  if (eol < 0) return undefined;
  const type = buf[pos];
  const line = buf.toString('utf8', pos + 1, eol);
  const next = eol + 2;
  switch (type) {
    case 0x2b: // +
      return { value: line, next };
    case 0x2d: // -
      return { value: new Error(line), next };
    case 0x3a: // :
      return { value: Number(line), next };
    case 0x24: {
      // $
      const n = Number(line);
      if (n < 0) return { value: null, next };
      if (buf.length < next + n + 2) return undefined;
      return { value: buf.toString('utf8', next, next + n), next: next + n + 2 };
    }
    case 0x2a: {
      // *
      const n = Number(line);
      if (n < 0) return { value: null, next };
      const items: Reply[] = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const r = parse(buf, p);
        if (!r) return undefined;
        items.push(r.value);
        p = r.next;
      }
      return { value: items, next: p };
    }
    default:
      throw new Error(`Redis protocol error: unexpected reply type ${String.fromCharCode(type)}`);
  }
}

export interface RespOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
}

/** A Redis connection speaking RESP2, shaped like Bun's RedisClient for BullMQ's adapter. */
export class RespClient {
  connected = false;
  onconnect: () => void = () => {};
  onclose: (err?: Error) => void = () => {};
  onerror: (err: Error) => void = () => {};
  private socket?: Socket;
  private pending: { resolve: (v: Reply) => void; reject: (e: Error) => void }[] = [];
  private buffer: Buffer = Buffer.alloc(0);

  constructor(readonly options: RespOptions) {}

  get url(): string {
    return `redis://${this.options.host}:${this.options.port}/${this.options.db ?? 0}`;
  }

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = new Socket();
      this.socket = socket;
      socket.setNoDelay(true);
      let opened = false;
      socket.on('data', (chunk: Buffer) => this.receive(chunk));
      socket.on('error', (err) => {
        if (!opened) reject(err);
        else this.onerror(err);
      });
      socket.on('close', () => {
        const wasConnected = this.connected;
        this.connected = false;
        this.failPending(new Error('Connection closed'));
        if (wasConnected) this.onclose();
      });
      socket.connect(this.options.port, this.options.host, async () => {
        opened = true;
        this.connected = true;
        try {
          if (this.options.password !== undefined)
            await this.send(
              'AUTH',
              this.options.username
                ? [this.options.username, this.options.password]
                : [this.options.password],
            );
          if (this.options.db) await this.send('SELECT', [String(this.options.db)]);
        } catch (err) {
          socket.destroy();
          reject(err);
          return;
        }
        this.onconnect();
        resolve();
      });
    });
  }

  send(command: string, args: (string | Buffer | number)[] = []): Promise<Reply> {
    if (!this.socket || !this.connected) return Promise.reject(new Error('Connection closed'));
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.socket!.write(encode(command, args));
    });
  }

  close(): void {
    this.socket?.destroy();
  }

  disconnect(): void {
    this.close();
  }

  async duplicate(): Promise<RespClient> {
    return new RespClient(this.options);
  }

  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    let pos = 0;
    for (;;) {
      const r = parse(this.buffer, pos);
      if (!r) break;
      pos = r.next;
      const p = this.pending.shift();
      if (!p) continue;
      if (r.value instanceof Error) p.reject(r.value);
      else p.resolve(r.value);
    }
    this.buffer = pos >= this.buffer.length ? Buffer.alloc(0) : this.buffer.subarray(pos);
  }

  private failPending(err: Error): void {
    const p = this.pending;
    this.pending = [];
    for (const x of p) x.reject(err);
  }
}

/** Parse redis://[user:password@]host[:port][/db]. */
export function parseRedisUrl(url: string): RespOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--redis must be a URL like redis://HOST:6379, got '${url}'`);
  }
  if (u.protocol !== 'redis:')
    throw new UsageError(`--redis must be a redis:// URL (TLS is not supported), got '${url}'`);
  const db = u.pathname.replace(/^\//, '');
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: db ? Number(db) : undefined,
  };
}

/** Make BullMQ use RespClient, and return the connection options for `url`. */
export function useRedis(url: string): RedisOptions {
  const o = parseRedisUrl(url);
  RedisConnection.clientFactory = (opts: RedisOptions): IRedisClient =>
    createBunRedisClient(
      new RespClient({
        host: opts.host ?? o.host,
        port: opts.port ?? o.port,
        username: opts.username ?? o.username,
        password: opts.password ?? o.password,
        db: opts.db ?? o.db,
      }) as never,
    ) as IRedisClient;
  return { ...o };
}

/** Fail fast, with exit 75, when Redis does not answer (BullMQ would keep reconnecting). */
export async function checkRedis(url: string, timeoutMs = 10_000): Promise<void> {
  const c = new RespClient(parseRedisUrl(url));
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      c.connect().then(() => c.send('PING')),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    throw new RapidError(
      `cannot reach Redis at ${url} (${(err as Error).message}); start it or check --redis`,
      ExitCode.TEMPORARY,
    );
  } finally {
    clearTimeout(timer);
    c.close();
  }
}
