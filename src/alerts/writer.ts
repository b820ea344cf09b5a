/**
 * Alert packets in Avro object container files (.avro): the schema travels in the file's
 * header, so any Avro reader (avsc, python3-avro, fastavro, Java) can read the file alone.
 *
 * Codec: 'null' (blocks stored as they are) by default. The packets are mostly their three
 * cutouts, gzipped already: Avro's 'deflate' codec (raw DEFLATE through node:zlib, which every
 * Avro library reads) made files only 2–3% smaller for about 8× the encoding time in
 * bench/alerts.ts. Pass `codec: 'deflate'` where bytes matter more than time.
 * The file's metadata carries `rapid.schema.version` beside Avro's own `avro.schema`.
 */
import { Readable } from 'node:stream';
import avro from 'avsc';
import type { ObjectStore, StoredObject } from '../store/store.ts';
import { BadInputError } from '../util/errors.ts';
import type { AlertPacket } from './packet.ts';
import { ALERT_NAMESPACE, ALERT_SCHEMA_VERSION, alertType } from './schema.ts';

export type AlertCodec = 'deflate' | 'null';

export interface EncodeOptions {
  codec?: AlertCodec;
  /** Extra file metadata (e.g. the difference image's URI), as text. */
  metadata?: Record<string, string>;
  /** Uncompressed bytes per block; default 1 MiB (about 20 packets with cutouts). */
  blockSize?: number;
}

export interface DecodedAlertFile {
  packets: AlertPacket[];
  codec: string;
  /** The schema version the writer recorded (rapid.schema.version), if any. */
  schemaVersion?: string;
  /** The file's metadata, as text, without Avro's own avro.* entries. */
  metadata: Record<string, string>;
}

export const SCHEMA_VERSION_KEY = 'rapid.schema.version';

/** Encode packets as one Avro object container file. */
export async function encodeAlertFile(
  packets: Iterable<AlertPacket>,
  options: EncodeOptions = {},
): Promise<Buffer> {
  const metadata: Record<string, Buffer> = { [SCHEMA_VERSION_KEY]: Buffer.from(ALERT_SCHEMA_VERSION) };
  for (const [key, value] of Object.entries(options.metadata ?? {})) {
    if (key.startsWith('avro.'))
      throw new BadInputError(`alert file metadata key '${key}' is reserved by Avro`);
    metadata[key] = Buffer.from(value, 'utf8');
  }
  const encoder = new avro.streams.BlockEncoder(
    alertType() as unknown as avro.Schema,
    {
      codec: options.codec ?? 'null',
      blockSize: options.blockSize ?? 1 << 20,
      // Write the header even for an empty file, so that it is still a valid container.
      writeHeader: 'always',
      metadata,
    } as Partial<avro.EncoderOptions>,
  );
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    encoder.on('data', (chunk: Buffer) => chunks.push(chunk));
    encoder.on('end', resolve);
    encoder.on('error', reject);
  });
  for (const p of packets) {
    // Respect back-pressure so that a large batch does not pile up in the encoder's queue.
    if (!encoder.write(p)) await new Promise((resolve) => encoder.once('drain', resolve));
  }
  encoder.end();
  try {
    await done;
  } catch (err) {
    throw new BadInputError(`alert packets do not fit schema ${ALERT_NAMESPACE}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return Buffer.concat(chunks);
}

/**
 * Decode an Avro container file of alert packets, read through our schema (a file written with
 * an older 1.x schema reads with defaults for the newer fields). `what` names it in messages.
 */
export async function decodeAlertFile(bytes: Uint8Array, what = 'alert file'): Promise<DecodedAlertFile> {
  const decoder = new avro.streams.BlockDecoder({
    readerSchema: alertType(),
  } as Partial<avro.DecoderOptions>);
  const packets: AlertPacket[] = [];
  let codec = 'null';
  let meta: Record<string, Buffer> = {};
  await new Promise<void>((resolve, reject) => {
    decoder.on('metadata', (_type: unknown, c: string, header: { meta: Record<string, Buffer> }) => {
      codec = c;
      meta = header.meta;
    });
    decoder.on('data', (p: AlertPacket) => packets.push(p));
    decoder.on('end', resolve);
    decoder.on('error', reject);
    Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]).pipe(decoder);
  }).catch((err: Error) => {
    throw new BadInputError(
      `${what}: not a readable alert file (${err.message}); check that it is a RAPID .avro file`,
      {
        cause: err,
      },
    );
  });
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(meta))
    if (!key.startsWith('avro.')) metadata[key] = value.toString('utf8');
  return { packets, codec, schemaVersion: metadata[SCHEMA_VERSION_KEY], metadata };
}

/** Encode packets and put the file into the object store at `uri`. */
export async function writeAlertFile(
  store: ObjectStore,
  uri: string,
  packets: Iterable<AlertPacket>,
  options: EncodeOptions = {},
): Promise<StoredObject> {
  const bytes = await encodeAlertFile(packets, options);
  return store.put(uri, bytes, { contentType: 'application/avro' });
}

/** Read and decode an alert file from the object store (checksum verified as the store does). */
export async function readAlertFile(
  store: ObjectStore,
  uri: string,
  checksum?: string,
): Promise<DecodedAlertFile> {
  return decodeAlertFile(await store.get(uri, checksum), uri);
}
