/**
 * The Redis connection of the queue executor: BullMQ drives Redis through ioredis; this module
 * parses `--redis` URLs (redis://, with a user and password, and rediss:// for TLS), checks that
 * the server answers before BullMQ starts reconnecting for ever, and turns the connection's
 * errors into one line when it is lost and one when it is back (RedisWatch).
 *
 * A password never appears in a message: Redis is named by HOST:PORT.
 */
import { isIP } from 'node:net';
import type { RedisOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { ExitCode, RapidError, UsageError } from '../util/errors.ts';

export interface RedisTarget {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  /** rediss://: connect with TLS. */
  tls: boolean;
}

/** The URL with its password (if any) replaced by ***, for messages. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:)[^@/]*@/i, '$1***@');
}

/** Parse redis://[user:password@]host[:port][/db] or rediss://… (TLS). */
export function parseRedisUrl(url: string): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(
      `--redis must be a URL like redis://HOST:6379 or rediss://:PASSWORD@HOST:6379, got '${redactRedisUrl(url)}'`,
    );
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new UsageError(`--redis must be a redis:// or rediss:// (TLS) URL, got '${redactRedisUrl(url)}'`);
  const path = u.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d{1,5}$/.test(path))
    throw new UsageError(
      `--redis: the path of the URL is the database number (redis://HOST:6379/0), got '/${path}'`,
    );
  const port = u.port ? Number(u.port) : 6379;
  // URL keeps IPv6 hosts in brackets; net.connect wants them bare.
  const host = (u.hostname || '127.0.0.1').replace(/^\[(.*)\]$/, '$1');
  return {
    host,
    port,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: path ? Number(path) : undefined,
    tls: u.protocol === 'rediss:',
  };
}

/** HOST:PORT of a Redis URL: how messages name it (never with the password). */
export function redisAddress(url: string): string {
  try {
    const t = parseRedisUrl(url);
    return `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
  } catch {
    return redactRedisUrl(url);
  }
}

/** Reconnect soon after an outage: 0.5 s, 1 s, 1.5 s, then every 2 s (BullMQ's default grows to 20 s). */
export function reconnectDelay(times: number): number {
  return Math.min(500 * times, 2000);
}

/** ioredis options for a target: the credentials, the database and, for rediss://, TLS. */
function connectionOptions(t: RedisTarget): RedisOptions {
  const o: RedisOptions = { host: t.host, port: t.port };
  if (t.username !== undefined) o.username = t.username;
  if (t.password !== undefined) o.password = t.password;
  if (t.db !== undefined) o.db = t.db;
  // The server's certificate is checked against the host name (SNI too, unless it is an IP
  // address); extra CAs come from NODE_EXTRA_CA_CERTS.
  if (t.tls) o.tls = isIP(t.host) === 0 ? { servername: t.host } : {};
  return o;
}

/** BullMQ's connection options for `url` (workers need maxRetriesPerRequest: null). */
export function useRedis(url: string): RedisOptions {
  return {
    ...connectionOptions(parseRedisUrl(url)),
    maxRetriesPerRequest: null,
    retryStrategy: reconnectDelay,
  };
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EPIPE',
]);

/** Did Redis refuse the credentials (or want some)? Retrying does not help then. */
export function isAuthError(err: unknown): boolean {
  const m = String((err as Error)?.message ?? err);
  return /^(WRONGPASS|NOAUTH|NOPERM)\b|invalid password|invalid username-password/i.test(m);
}

/** Is this error about reaching Redis (rather than about a command)? */
export function isConnectionError(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException | undefined;
  if (e?.code && CONNECTION_CODES.has(e.code)) return true;
  const m = String(e?.message ?? err);
  return (
    isAuthError(err) ||
    /Connection is closed|connect (ECONNREFUSED|ETIMEDOUT)|ECONNREFUSED|ECONNRESET|getaddrinfo|socket hang up|LOADING\b|Stream isn't writeable/i.test(
      m,
    )
  );
}

/** Why a connection failed, in a few words: the system error code, or the first line. */
export function redisReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  if (e?.code && CONNECTION_CODES.has(e.code)) return e.code;
  const m = String(e?.message ?? err)
    .split('\n')[0]
    .trim();
  return m.length > 160 ? `${m.slice(0, 157)}...` : m || 'no reason given';
}

/** The error a command ends with when Redis cannot be used: 64 for refused credentials, else 75. */
export function redisError(url: string, err: unknown): RapidError {
  const where = redisAddress(url);
  if (isAuthError(err))
    return new UsageError(
      `Redis at ${where} refused the credentials (${redisReason(err)}); check the user and password in --redis (or RAPID_REDIS), e.g. redis://:PASSWORD@HOST:6379`,
    );
  return new RapidError(
    `cannot reach Redis at ${where} (${redisReason(err)}); start it or check --redis`,
    ExitCode.TEMPORARY,
  );
}

/** Fail fast, with exit 75 (64 for refused credentials), when Redis does not answer. */
export async function checkRedis(url: string, timeoutMs = 10_000): Promise<void> {
  const c = new Redis({
    ...connectionOptions(parseRedisUrl(url)),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
  });
  let last: unknown;
  c.on('error', (err) => {
    last = err;
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      c.connect().then(() => c.ping()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    // ioredis reports a refused AUTH as the connection's error and rejects with a generic one.
    throw redisError(url, isAuthError(last) ? last : err);
  } finally {
    clearTimeout(timer);
    c.disconnect();
  }
}

/** The id of the newest entry of a Redis stream, '0-0' when it is empty or absent. */
export async function lastStreamId(url: string, key: string): Promise<string> {
  const c = new Redis({ ...useRedis(url), maxRetriesPerRequest: 3 });
  c.on('error', () => {});
  try {
    const last = await c.xrevrange(key, '+', '-', 'COUNT', 1);
    return last[0]?.[0] ?? '0-0';
  } catch (err) {
    throw redisError(url, err);
  } finally {
    c.disconnect();
  }
}

/** What RedisWatch needs of a BullMQ Queue, Worker or QueueEvents. */
interface Watched {
  on(event: 'error', listener: (err: Error) => void): unknown;
  getBackend(): { on(event: 'ready', listener: () => void): unknown };
}

/**
 * Turns the errors of BullMQ's connections into lines a person can read: one when Redis cannot
 * be reached (however many connections fail, however often they retry), one when it answers
 * again, and other errors once each (a lost job lock once per queue entry). Without an error
 * listener BullMQ prints every reconnection failure as a raw error object.
 */
export class RedisWatch {
  private down = false;
  private downSince = 0;
  /** After Redis is back, connections still retrying may fail once more: not a new outage. */
  private quietUntil = 0;
  private readonly said = new Map<string, number>();

  constructor(
    private readonly url: string,
    /** Who speaks: 'rapid worker', 'rapid launch'. */
    private readonly who: string,
    private readonly write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  ) {}

  /** Is Redis unreachable just now (as far as the connections have seen)? */
  get unreachable(): boolean {
    return this.down;
  }

  /** Follow a BullMQ object's connections. */
  watch(o: Watched): void {
    o.on('error', (err) => this.error(err));
    o.getBackend().on('ready', () => this.ready());
  }

  error(err: unknown): void {
    const now = Date.now();
    if (isConnectionError(err)) {
      if (this.down || now < this.quietUntil) return;
      this.down = true;
      this.downSince = now;
      this.write(
        `${this.who}: Redis at ${redisAddress(this.url)} unreachable (${redisReason(err)}); retrying`,
      );
      return;
    }
    const reason = redisReason(err);
    // BullMQ names the entry: "Missing lock for job job-3. moveToFinished", "could not renew lock for job job-3".
    const entry = /\bjob (job-\d+)\b/.exec(reason)?.[1];
    const key = entry && /lock/i.test(reason) ? `lock ${entry}` : reason;
    const before = this.said.get(key);
    if (before !== undefined && now - before < 60_000) return;
    this.said.set(key, now);
    if (entry && /lock/i.test(reason))
      this.write(
        `${this.who}: queue entry ${entry} lost its lock (${reason}); it goes back to the queue, and a job that has ended is completed from its result record, not run again`,
      );
    else this.write(`${this.who}: ${reason}`);
  }

  ready(): void {
    if (!this.down) return;
    const now = Date.now();
    this.down = false;
    this.quietUntil = now + 2000;
    this.write(
      `${this.who}: Redis at ${redisAddress(this.url)} reachable again after ${((now - this.downSince) / 1000).toFixed(1)} s`,
    );
  }
}
