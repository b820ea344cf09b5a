/**
 * The Redis connection of the queue executor: BullMQ drives Redis through ioredis; this module
 * parses `--redis` URLs and checks that the server answers before BullMQ starts reconnecting
 * for ever.
 */
import type { RedisOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { ExitCode, RapidError, UsageError } from '../util/errors.ts';

export interface RedisTarget {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
}

/** Parse redis://[user:password@]host[:port][/db]. */
export function parseRedisUrl(url: string): RedisTarget {
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

/** BullMQ's connection options for `url` (workers need maxRetriesPerRequest: null). */
export function useRedis(url: string): RedisOptions {
  return { ...parseRedisUrl(url), maxRetriesPerRequest: null };
}

/** Fail fast, with exit 75, when Redis does not answer (BullMQ would keep reconnecting). */
export async function checkRedis(url: string, timeoutMs = 10_000): Promise<void> {
  const c = new Redis({
    ...parseRedisUrl(url),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  c.on('error', () => {});
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      c.connect().then(() => c.ping()),
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
    c.disconnect();
  }
}

/** The id of the newest entry of a Redis stream, '0-0' when it is empty or absent. */
export async function lastStreamId(url: string, key: string): Promise<string> {
  const c = new Redis(useRedis(url));
  try {
    const last = await c.xrevrange(key, '+', '-', 'COUNT', 1);
    return last[0]?.[0] ?? '0-0';
  } finally {
    c.disconnect();
  }
}
