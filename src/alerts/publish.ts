/**
 * Publishing alert packets to a NATS JetStream stream, one message per packet (single-object
 * Avro encoding, message.ts) on the subject `<subjectPrefix>.<filter>` (rapid.alerts.F158).
 * Each message's JetStream msgID is the alertId, so a re-published packet within the stream's
 * duplicate window is acknowledged as a duplicate and stored once: a re-run job cannot send an
 * alert twice. Headers: Rapid-Schema-Version, Rapid-Schema-Fingerprint, Content-Type.
 *
 * A server that cannot be reached is a temporary failure (exit 75: retry).
 */
import {
  AckPolicy,
  type ConsumerConfig,
  connect,
  DeliverPolicy,
  headers,
  type NatsConnection,
  nanos,
  type StreamConfig,
} from 'nats';
import { ExitCode, RapidError } from '../util/errors.ts';
import { alertSchemaFingerprint, decodeAlertMessage, encodeAlertMessage } from './message.ts';
import type { AlertPacket } from './packet.ts';
import { ALERT_SCHEMA_VERSION } from './schema.ts';

export const DEFAULT_STREAM = 'RAPID_ALERTS';
export const DEFAULT_SUBJECT_PREFIX = 'rapid.alerts';

export interface StreamOptions {
  /** JetStream stream name; default RAPID_ALERTS. */
  stream?: string;
  /** Subjects are <prefix>.<filter>; default rapid.alerts. The stream holds <prefix>.>. */
  subjectPrefix?: string;
  /** How long a re-sent alertId is recognised as a duplicate, seconds; default 1 day. */
  duplicateWindowSeconds?: number;
  /** How long the stream keeps alerts, seconds; default 0 (no limit). */
  maxAgeSeconds?: number;
}

export interface PublishOptions extends StreamOptions {
  /** Publishes awaiting their acknowledgement at a time; default 256. */
  inFlight?: number;
  /** Per-publish acknowledgement timeout, ms; default 10 s. */
  timeoutMs?: number;
}

export interface PublishReport {
  /** Packets stored for the first time. */
  published: number;
  /** Packets the stream already held (same alertId within the duplicate window). */
  duplicates: number;
  /** Stream sequence of the last stored message. */
  lastSequence: number;
}

export type NatsTarget = string | NatsConnection;

function unreachable(url: string, err: unknown): RapidError {
  return new RapidError(
    `NATS at ${url}: ${(err as Error).message}; check that nats-server runs with JetStream (-js) and retry`,
    ExitCode.TEMPORARY,
    { cause: err },
  );
}

/** Run `fn` with a connection: the caller's, or one opened (and closed) for the call. */
async function withConnection<T>(target: NatsTarget, fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
  if (typeof target !== 'string') return fn(target);
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: target, timeout: 5000, maxReconnectAttempts: 2 });
  } catch (err) {
    throw unreachable(target, err);
  }
  try {
    return await fn(nc);
  } finally {
    await nc.drain().catch(() => nc.close());
  }
}

/** The subject of a packet: <prefix>.<filter>. */
export function alertSubject(packet: AlertPacket, subjectPrefix = DEFAULT_SUBJECT_PREFIX): string {
  return `${subjectPrefix}.${packet.diaSource.band}`;
}

/** Create the stream if it does not exist; add our subjects to it if it lacks them. */
export async function ensureAlertStream(target: NatsTarget, options: StreamOptions = {}): Promise<void> {
  const name = options.stream ?? DEFAULT_STREAM;
  const subjects = `${options.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX}.>`;
  await withConnection(target, async (nc) => {
    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info(name).catch(() => undefined);
    if (!info) {
      const config: Partial<StreamConfig> = {
        name,
        subjects: [subjects],
        duplicate_window: nanos((options.duplicateWindowSeconds ?? 86400) * 1000),
        max_age: nanos((options.maxAgeSeconds ?? 0) * 1000),
      };
      await jsm.streams.add(config);
    } else if (!info.config.subjects.includes(subjects)) {
      await jsm.streams.update(name, { subjects: [...info.config.subjects, subjects] });
    }
  });
}

/** Publish packets (ensuring the stream first); alertId is the deduplication key. */
export async function publishAlerts(
  target: NatsTarget,
  packets: Iterable<AlertPacket>,
  options: PublishOptions = {},
): Promise<PublishReport> {
  await ensureAlertStream(target, options);
  const prefix = options.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX;
  const inFlight = Math.max(1, options.inFlight ?? 256);
  return withConnection(target, async (nc) => {
    const js = nc.jetstream();
    const report: PublishReport = { published: 0, duplicates: 0, lastSequence: 0 };
    const fingerprint = alertSchemaFingerprint();
    let window: Promise<void>[] = [];
    const publishOne = async (packet: AlertPacket) => {
      const h = headers();
      h.set('Content-Type', 'avro/binary');
      h.set('Rapid-Schema-Version', ALERT_SCHEMA_VERSION);
      h.set('Rapid-Schema-Fingerprint', fingerprint);
      const ack = await js.publish(alertSubject(packet, prefix), encodeAlertMessage(packet), {
        msgID: String(packet.alertId),
        headers: h,
        timeout: options.timeoutMs ?? 10000,
      });
      if (ack.duplicate) report.duplicates++;
      else {
        report.published++;
        report.lastSequence = Math.max(report.lastSequence, ack.seq);
      }
    };
    try {
      for (const packet of packets) {
        window.push(publishOne(packet));
        if (window.length >= inFlight) {
          await Promise.all(window);
          window = [];
        }
      }
      await Promise.all(window);
    } catch (err) {
      if (err instanceof RapidError) throw err;
      throw unreachable(typeof target === 'string' ? target : 'the server', err);
    }
    return report;
  });
}

export interface ConsumedAlert {
  subject: string;
  sequence: number;
  packet: AlertPacket;
}

export interface ConsumeOptions {
  stream?: string;
  /** Only messages on this subject (wildcards allowed). */
  subject?: string;
  /** Stop after this many messages; default: all there are. */
  max?: number;
  /** Give up waiting for more after this long, ms; default 2 s. */
  timeoutMs?: number;
}

/**
 * Read the stream's alerts from the start with an ephemeral consumer (for tests and inspection;
 * brokers use their own durable consumers). Ends at `max` messages or when none arrive in time.
 */
export async function consumeAlerts(
  target: NatsTarget,
  options: ConsumeOptions = {},
): Promise<ConsumedAlert[]> {
  const name = options.stream ?? DEFAULT_STREAM;
  return withConnection(target, async (nc) => {
    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info(name);
    const max = options.max ?? info.state.messages;
    const out: ConsumedAlert[] = [];
    if (max === 0) return out;
    const config: Partial<ConsumerConfig> = {
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.All,
      inactive_threshold: nanos(60_000),
      ...(options.subject ? { filter_subject: options.subject } : {}),
    };
    const ci = await jsm.consumers.add(name, config);
    try {
      const consumer = await nc.jetstream().consumers.get(name, ci.name);
      while (out.length < max) {
        const batch = await consumer.fetch({
          max_messages: max - out.length,
          expires: options.timeoutMs ?? 2000,
        });
        let got = 0;
        for await (const m of batch) {
          got++;
          out.push({
            subject: m.subject,
            sequence: m.seq,
            packet: decodeAlertMessage(m.data, `${name} message ${m.seq}`),
          });
        }
        if (got === 0) break;
      }
    } finally {
      await jsm.consumers.delete(name, ci.name).catch(() => undefined);
    }
    return out;
  });
}

/** Delete a stream (tests use one stream each). */
export async function deleteAlertStream(target: NatsTarget, stream: string): Promise<void> {
  await withConnection(target, async (nc) => {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.delete(stream).catch(() => false);
  });
}
