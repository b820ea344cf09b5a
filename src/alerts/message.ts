/**
 * One alert as one stream message: Avro single-object encoding (Avro specification, "Single
 * object encoding"): the marker bytes C3 01, the schema's 8-byte CRC-64-AVRO (Rabin)
 * fingerprint, little-endian, then the packet's Avro binary. A reader that knows the schema by
 * its fingerprint decodes it without a schema registry, and a message of another schema is
 * recognised rather than misread.
 */
import type avro from 'avsc';
import { BadInputError } from '../util/errors.ts';
import type { AlertPacket } from './packet.ts';
import { alertType } from './schema.ts';

const MARKER = [0xc3, 0x01] as const;
const HEADER_LENGTH = 10;
/** The empty-string fingerprint and the polynomial of the specification's Rabin fingerprint. */
const EMPTY = 0xc15d213aa4d7a795n;
const MASK = (1n << 64n) - 1n;

let table: BigUint64Array | undefined;
function rabinTable(): BigUint64Array {
  if (table) return table;
  table = new BigUint64Array(256);
  for (let i = 0; i < 256; i++) {
    let fp = BigInt(i);
    for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n) & MASK);
    table[i] = fp;
  }
  return table;
}

/** CRC-64-AVRO of bytes (the fingerprint of a schema is that of its Parsing Canonical Form). */
export function rabinFingerprint(bytes: Uint8Array): bigint {
  const t = rabinTable();
  let fp = EMPTY;
  for (const b of bytes) fp = (fp >> 8n) ^ t[Number((fp ^ BigInt(b)) & 0xffn)];
  return fp;
}

/** The Parsing Canonical Form of the alert schema (what avsc's schema() gives). */
export function alertCanonicalSchema(type: avro.Type = alertType()): string {
  return JSON.stringify(type.schema());
}

let header: Buffer | undefined;
/** C3 01 + the alert schema's fingerprint, little-endian. */
function messageHeader(): Buffer {
  if (header) return header;
  const h = Buffer.alloc(HEADER_LENGTH);
  h[0] = MARKER[0];
  h[1] = MARKER[1];
  h.writeBigUInt64LE(rabinFingerprint(Buffer.from(alertCanonicalSchema(), 'utf8')), 2);
  header = h;
  return h;
}

/** The alert schema's fingerprint as 16 hex digits (big-endian reading of the 64-bit value). */
export function alertSchemaFingerprint(): string {
  return messageHeader().readBigUInt64LE(2).toString(16).padStart(16, '0');
}

/** One packet as a single-object-encoded message. */
export function encodeAlertMessage(packet: AlertPacket): Buffer {
  return Buffer.concat([messageHeader(), alertType().toBuffer(packet)]);
}

/** Decode a single-object-encoded alert; BadInputError for another schema or broken bytes. */
export function decodeAlertMessage(bytes: Uint8Array, what = 'alert message'): AlertPacket {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const expected = messageHeader();
  if (buf.length < HEADER_LENGTH || buf[0] !== MARKER[0] || buf[1] !== MARKER[1])
    throw new BadInputError(`${what}: not an Avro single-object message (no C3 01 marker)`);
  if (!buf.subarray(2, HEADER_LENGTH).equals(expected.subarray(2)))
    throw new BadInputError(
      `${what}: written with another schema (fingerprint ${buf.readBigUInt64LE(2).toString(16)}, ours ${alertSchemaFingerprint()}); use a reader of that schema version`,
    );
  try {
    return alertType().fromBuffer(buf.subarray(HEADER_LENGTH)) as AlertPacket;
  } catch (err) {
    throw new BadInputError(`${what}: the packet is truncated or corrupt (${(err as Error).message})`, {
      cause: err,
    });
  }
}
