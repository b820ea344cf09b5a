import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { connect } from 'nats';
import {
  ALERT_SCHEMA_VERSION,
  alertSchemaFingerprint,
  alertType,
  buildPacket,
  consumeAlerts,
  deleteAlertStream,
  publishAlerts,
} from '../src/alerts/index.ts';
import { ExitCode, RapidError } from '../src/util/errors.ts';
import { detection, fullPacket, NATS_URL, packetView, requireNats } from './support/alerts.ts';

/** A stream and subject prefix of its own, so that tests never see each other's messages. */
function uniqueStream(): { stream: string; subjectPrefix: string } {
  const tag = `${process.pid}_${randomBytes(4).toString('hex')}`;
  return { stream: `TEST_ALERTS_${tag}`, subjectPrefix: `test.${tag}.alerts` };
}

test('NATS JetStream: publish, consume, and a re-published alert is stored once', async (t) => {
  if (!(await requireNats(t))) return;
  const options = uniqueStream();
  try {
    const first = [fullPacket(7), fullPacket(8), buildPacket({ diaSource: detection(10) })];
    const report = await publishAlerts(NATS_URL, first, options);
    assert.deepEqual(report, { published: 3, duplicates: 0, lastSequence: 3 });
    // A re-run sends 7 and 8 again with one new alert: only the new one is stored.
    const again = await publishAlerts(
      NATS_URL,
      [fullPacket(8), buildPacket({ diaSource: detection(11) }), fullPacket(7)],
      options,
    );
    assert.equal(again.published, 1);
    assert.equal(again.duplicates, 2);
    assert.equal(again.lastSequence, 4);

    const all = await consumeAlerts(NATS_URL, { stream: options.stream });
    assert.deepEqual(
      all.map((m) => [m.sequence, m.packet.alertId, m.subject]),
      [
        [1, 7, `${options.subjectPrefix}.F062`],
        [2, 8, `${options.subjectPrefix}.F158`],
        [3, 10, `${options.subjectPrefix}.F158`],
        [4, 11, `${options.subjectPrefix}.F062`],
      ],
    );
    // Equal to the original once its floats are rounded to 32 bits, as Avro stores them.
    const type = alertType();
    assert.deepEqual(packetView(all[0].packet), packetView(type.fromBuffer(type.toBuffer(first[0]))));
    assert.ok(all[1].packet.cutoutScience?.equals(first[1].cutoutScience as Buffer));

    const f062 = await consumeAlerts(NATS_URL, {
      stream: options.stream,
      subject: `${options.subjectPrefix}.F062`,
      max: 2,
    });
    assert.deepEqual(
      f062.map((m) => m.packet.alertId),
      [7, 11],
    );

    // Headers let a consumer check the schema before decoding.
    const nc = await connect({ servers: NATS_URL });
    try {
      const msg = await nc
        .jetstreamManager()
        .then((jsm) => jsm.streams.getMessage(options.stream, { seq: 1 }));
      assert.equal(msg.header.get('Rapid-Schema-Version'), ALERT_SCHEMA_VERSION);
      assert.equal(msg.header.get('Rapid-Schema-Fingerprint'), alertSchemaFingerprint());
      assert.equal(msg.header.get('Nats-Msg-Id'), '7');
    } finally {
      await nc.close();
    }
  } finally {
    await deleteAlertStream(NATS_URL, options.stream);
  }
});

test('an unreachable NATS server is a temporary failure (exit 75)', async () => {
  await assert.rejects(
    publishAlerts('nats://127.0.0.1:1', [buildPacket({ diaSource: detection(1) })], uniqueStream()),
    (err: unknown) =>
      err instanceof RapidError && err.exitCode === ExitCode.TEMPORARY && /retry/.test(err.message),
  );
});
