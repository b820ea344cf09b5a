/**
 * Alert packets: the public API of src/alerts (issue #9, section 3). Pure building blocks; the
 * caller (rapid postprocess / rapid alerts) gathers the rows from the database and the pixels
 * from the products.
 *
 *   // 1. Stamps: 63×63 gzipped FITS with the stamp's WCS, NaN beyond the image edges.
 *   const diff = cutout(diffPixels, width, height, src.x, src.y, wcs);   // 0-based x, y
 *   // 2. One packet per vetted detection (fluxes in nJy: fluxNJy(rate, zeropoint)).
 *   const packet = buildPacket({
 *     diaSource, diaObject: { ...object, name: alertName('RAPID', 2028, n),
 *                             fluxStats: fluxStatistics(history, forced) },
 *     prvDiaSources: history, prvDiaForcedSources: forced,
 *     cutouts: { difference: diff, science: sci, template: ref },
 *   });
 *   // 3. One .avro file per difference image, into the object store …
 *   await writeAlertFile(store, uri, packets);           // or: bytes = await encodeAlertFile(packets)
 *   const { packets } = await readAlertFile(store, uri); // or: decodeAlertFile(bytes)
 *   // 4. … and, optionally, to NATS JetStream (subject rapid.alerts.<filter>, msgID = alertId).
 *   await publishAlerts('nats://127.0.0.1:4222', packets, { stream: 'RAPID_ALERTS' });
 *
 * Errors: BadInputError (exit 65) for a packet that does not fit the schema (the message names
 * the field) or an unreadable file or message; RapidError TEMPORARY (exit 75) when NATS cannot
 * be reached; UsageError (64) for bad arguments (cutout size, name prefix or year).
 */
export { CUTOUT_SIZE, type CutoutOptions, cutout, cutStamp, type Stamp, stampWcs } from './cutout.ts';
export {
  alertCanonicalSchema,
  alertSchemaFingerprint,
  decodeAlertMessage,
  encodeAlertMessage,
  rabinFingerprint,
} from './message.ts';
export {
  alertName,
  compareAlertNames,
  counterLetters,
  counterValue,
  type ParsedAlertName,
  parseAlertName,
} from './names.ts';
export {
  type AlertPacket,
  buildPacket,
  type CutoutsInput,
  type DiaForcedSourceRecord,
  type DiaObjectInput,
  type DiaObjectRecord,
  type DiaSourceInput,
  type DiaSourceRecord,
  type FilterFluxStats,
  type ForcedSourceInput,
  fluxNJy,
  fluxStatistics,
  HPIX_NSIDES,
  type PacketInput,
} from './packet.ts';
export {
  alertSubject,
  type ConsumedAlert,
  type ConsumeOptions,
  consumeAlerts,
  DEFAULT_STREAM,
  DEFAULT_SUBJECT_PREFIX,
  deleteAlertStream,
  ensureAlertStream,
  type NatsTarget,
  type PublishOptions,
  type PublishReport,
  publishAlerts,
  type StreamOptions,
} from './publish.ts';
export {
  ALERT_NAMESPACE,
  ALERT_SCHEMA_VERSION,
  type AlertSchema,
  alertSchema,
  alertSchemaDir,
  alertType,
  validateAlert,
} from './schema.ts';
export {
  type AlertCodec,
  type DecodedAlertFile,
  decodeAlertFile,
  type EncodeOptions,
  encodeAlertFile,
  readAlertFile,
  SCHEMA_VERSION_KEY,
  writeAlertFile,
} from './writer.ts';
