import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  ALERT_SCHEMA_VERSION,
  alertCanonicalSchema,
  alertSchema,
  alertSchemaDir,
  alertType,
  buildPacket,
  decodeAlertFile,
  decodeAlertMessage,
  encodeAlertFile,
  encodeAlertMessage,
  fluxNJy,
  fluxStatistics,
  rabinFingerprint,
  readAlertFile,
  validateAlert,
  writeAlertFile,
} from '../src/alerts/index.ts';
import { ROMAN_FILTERS } from '../src/instrument/roman.ts';
import { tileOf } from '../src/sky/tiles.ts';
import { FolderStore } from '../src/store/index.ts';
import { BadInputError } from '../src/util/errors.ts';
import { bytesSummary, detection, forced, fullPacket, packetView } from './support/alerts.ts';
import { hasPythonModule, requireTool, runPython } from './support/tools.ts';

test('the schema files compose into the LSST layout with the Roman additions and every Roman filter', () => {
  const { types } = alertSchema();
  const fields = (name: keyof typeof types) =>
    (types[name] as unknown as { fields: { name: string }[] }).fields.map((f) => f.name);
  const alert = fields('alert');
  for (const f of [
    'alertId',
    'diaSource',
    'prvDiaSources',
    'prvDiaForcedSources',
    'diaObject',
    'cutoutDifference',
    'cutoutScience',
    'cutoutTemplate',
    'schemaVersion',
  ])
    assert.ok(alert.includes(f), f);
  const source = fields('diaSource');
  for (const f of [
    'diaSourceId',
    'midpointMjdTai',
    'ra',
    'dec',
    'psfFlux',
    'psfChi2',
    'band',
    'sca',
    'field',
  ])
    assert.ok(source.includes(f), f);
  for (const f of ['hpix64', 'hpix1024', 'hpix16384', 'isdiffpos', 'scorrPeak', 'vetFlags'])
    assert.ok(source.includes(f), f);
  const object = fields('diaObject');
  for (const filter of ROMAN_FILTERS)
    for (const stat of [
      'psfFluxMean',
      'psfFluxMeanErr',
      'psfFluxSigma',
      'psfFluxChi2',
      'psfFluxNdata',
      'fpFluxMean',
    ])
      assert.ok(object.includes(`${filter.name}_${stat}`), `${filter.name}_${stat}`);
  assert.match(alertSchemaDir(), /schema\/alert\/v1\/$/);
  const doc = JSON.parse(readFileSync(join(alertSchemaDir(), 'rapid.v1.alert.avsc'), 'utf8'));
  assert.equal(doc.namespace, 'rapid.v1');
  assert.equal(ALERT_SCHEMA_VERSION.split('.')[0], '1');
});

test('a packet carries the inputs under LSST names, with HEALPix indices and normalised filters', () => {
  const p = fullPacket();
  assert.equal(p.alertId, 7);
  assert.equal(p.schemaVersion, ALERT_SCHEMA_VERSION);
  assert.equal(p.diaSource.visit, 1007);
  assert.equal(p.diaSource.detector, 7);
  assert.equal(p.diaSource.sca, 7);
  assert.equal(p.diaSource.band, 'F062');
  assert.equal(p.prvDiaSources?.[1].band, 'F158', 'H158 is written F158');
  assert.equal(p.diaSource.hpix16384, tileOf(p.diaSource.ra, p.diaSource.dec, 16384));
  assert.equal(
    p.diaSource.hpix64,
    Math.floor(p.diaSource.hpix16384 / 4 ** 8),
    'nested: a parent is index >> 2·Δorder',
  );
  assert.equal(p.diaSource.raErr, 1e-5);
  assert.equal(p.diaSource.apFlux, null, 'left-out values are null');
  assert.equal(p.prvDiaForcedSources?.length, 4);
  assert.equal(p.diaObject?.F213_psfFluxMean, null);
  assert.ok(p.cutoutDifference && p.cutoutDifference.length > 1000);
  const bare = buildPacket({ diaSource: detection(9) });
  assert.equal(bare.prvDiaSources, null);
  assert.equal(bare.diaObject, null);
  assert.equal(bare.cutoutScience, null);
});

test('fluxStatistics: weighted mean, its error, σ, χ² and counts per filter', () => {
  const rows = [
    { band: 'F158', psfFlux: 100, psfFluxErr: 10 },
    { band: 'H158', psfFlux: 130, psfFluxErr: 20 },
    { band: 'F158', psfFlux: 70, psfFluxErr: 10 },
    { band: 'F062', psfFlux: 5, psfFluxErr: 1 },
    { band: 'F158', psfFlux: null, psfFluxErr: 10 },
  ];
  const s = fluxStatistics(rows, [forced(1), forced(2)]);
  assert.deepEqual(Object.keys(s).sort(), ['F062', 'F158']);
  // Weights 1/100, 1/400, 1/100: mean = (1 + 0.325 + 0.7) / 0.0225 = 90.
  const f = s.F158;
  assert.ok(Math.abs((f.psfFluxMean ?? 0) - 90) < 1e-9);
  assert.ok(Math.abs((f.psfFluxMeanErr ?? 0) - 1 / Math.sqrt(0.0225)) < 1e-9);
  assert.ok(Math.abs((f.psfFluxChi2 ?? 0) - (1 + 4 + 4)) < 1e-9, 'residuals 1σ, 2σ, −2σ');
  assert.ok(Math.abs((f.psfFluxSigma ?? 0) - 30) < 1e-9, 'sample σ of 100, 130, 70');
  assert.equal(f.psfFluxNdata, 3);
  assert.ok(Math.abs((f.psfFluxErrMean ?? 0) - 40 / 3) < 1e-9);
  // Forced: −10 and 10, equal errors 45.
  assert.ok(Math.abs(f.fpFluxMean ?? 1) < 1e-9);
  assert.ok(Math.abs((f.fpFluxMeanErr ?? 0) - 45 / Math.sqrt(2)) < 1e-9);
  assert.equal(s.F062.psfFluxSigma, null, 'one point has no σ');
  assert.equal(s.F062.fpFluxMean, null);
  // AB: 1 e⁻/s at the zero point is magnitude zp, i.e. 3631 Jy · 10^(−0.4 zp).
  assert.ok(Math.abs(fluxNJy(1, 26.32) - 3631e9 * 10 ** (-0.4 * 26.32)) < 1e-9);
  assert.ok(Math.abs(fluxNJy(1, 31.4) - 1) < 0.01, 'zero point 31.4 ≈ 1 nJy');
});

test('validation names the field that does not fit', () => {
  const good = fullPacket();
  validateAlert(good);
  const cases: [unknown, RegExp][] = [
    [
      { ...good, diaSource: { ...good.diaSource, psfFlux: 'bright' } },
      /diaSource\.psfFlux: "bright" is not one of null \| float/,
    ],
    [{ ...good, diaSource: { ...good.diaSource, sca: 2.5 } }, /diaSource\.sca: 2\.5 is not a int/],
    [{ ...good, alertId: undefined }, /alertId: missing/],
    [{ ...good, cutoutScience: 'not bytes' }, /cutoutScience/],
    [{ ...good, diaObject: { ...good.diaObject, F158_psfFluxNdata: 1.5 } }, /diaObject\.F158_psfFluxNdata/],
    [
      { ...good, diaSource: { ...good.diaSource, magnitude: 21 } },
      /diaSource\.magnitude: not a field of the schema/,
    ],
    [
      { ...good, prvDiaSources: [good.diaSource, { ...good.diaSource, isdiffpos: 'yes' }] },
      /prvDiaSources\.1\.isdiffpos/,
    ],
  ];
  for (const [packet, message] of cases) {
    assert.throws(
      () => validateAlert(packet, 'test packet'),
      (err: unknown) =>
        err instanceof BadInputError && message.test(err.message) && /^test packet: /.test(err.message),
      String(message),
    );
  }
  assert.throws(() => buildPacket({ diaSource: detection(1, { band: 'V' }) }), BadInputError);
  assert.throws(() => buildPacket({ diaSource: detection(1, { dec: 95 }) }), /not a sky position/);
  assert.throws(() => buildPacket({ diaSource: detection(1, { psfNdata: 2 ** 40 }) }), /diaSource\.psfNdata/);
});

test('avsc round trip: binary, container file (deflate and null codecs), and single-object messages', async () => {
  const packets = [fullPacket(7), fullPacket(8), buildPacket({ diaSource: detection(9) })];
  const type = alertType();
  const again = type.fromBuffer(type.toBuffer(packets[0]));
  // Floats are stored in 32 bits: the decoded packet equals the original after rounding to float32.
  assert.equal(type.compare(again, type.fromBuffer(type.toBuffer(again))), 0, 'decoding is stable');
  assert.equal(again.diaSource.psfFlux, Math.fround(packets[0].diaSource.psfFlux ?? Number.NaN));
  assert.equal(again.diaSource.ra, packets[0].diaSource.ra, 'doubles are exact');
  assert.ok(again.cutoutTemplate.equals(packets[0].cutoutTemplate));
  for (const codec of ['deflate', 'null'] as const) {
    const bytes = await encodeAlertFile(packets, { codec, metadata: { 'rapid.diffimage': 's3://b/d.fits' } });
    assert.deepEqual([...bytes.subarray(0, 4)], [0x4f, 0x62, 0x6a, 0x01], 'Avro magic Obj\\x01');
    const decoded = await decodeAlertFile(bytes);
    assert.equal(decoded.codec, codec);
    assert.equal(decoded.schemaVersion, ALERT_SCHEMA_VERSION);
    assert.equal(decoded.metadata['rapid.diffimage'], 's3://b/d.fits');
    assert.equal(decoded.packets.length, 3);
    decoded.packets.forEach((p, k) => {
      assert.deepEqual(packetView(p), packetView(type.fromBuffer(type.toBuffer(packets[k]))), `packet ${k}`);
    });
  }
  const empty = await decodeAlertFile(await encodeAlertFile([]));
  assert.equal(empty.packets.length, 0);
  await assert.rejects(decodeAlertFile(Buffer.from('not avro at all')), BadInputError);
  await assert.rejects(encodeAlertFile([packets[0]], { metadata: { 'avro.codec': 'x' } }), /reserved/);
  // Single-object messages (what NATS carries).
  const message = encodeAlertMessage(packets[1]);
  assert.deepEqual([...message.subarray(0, 2)], [0xc3, 0x01]);
  assert.deepEqual(
    packetView(decodeAlertMessage(message)),
    packetView(type.fromBuffer(type.toBuffer(packets[1]))),
  );
  const other = Buffer.from(message);
  other[5] ^= 0xff;
  assert.throws(() => decodeAlertMessage(other), /another schema/);
  assert.throws(() => decodeAlertMessage(message.subarray(0, 40)), /truncated or corrupt/);
  // The specification's test vector: CRC-64-AVRO of "int".
  assert.equal(rabinFingerprint(Buffer.from('"int"')), 8247732601305521295n);
});

test('alert files go to the object store and come back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rapid-alerts-'));
  try {
    const store = new FolderStore(dir);
    const uri = store.uri('alerts/2028/09/07/diff_00001234_07.avro');
    const stored = await writeAlertFile(store, uri, [fullPacket(7)]);
    assert.match(stored.checksum, /^sha256:/);
    const back = await readAlertFile(store, uri, stored.checksum);
    assert.equal(back.packets[0].alertId, 7);
    assert.equal(back.packets[0].diaObject?.name, 'RAPID2028abc');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const PYTHON_DUMP = `
import avro.datafile, avro.io, avro.schema, hashlib, json, sys

def view(v):
    if isinstance(v, bytes):
        return {'bytes': len(v), 'sha256': hashlib.sha256(v).hexdigest()}
    if isinstance(v, dict):
        return {k: view(x) for k, x in v.items()}
    if isinstance(v, list):
        return [view(x) for x in v]
    return v

with open(sys.argv[1], 'rb') as f:
    reader = avro.datafile.DataFileReader(f, avro.io.DatumReader())
    meta = {k: v.decode() for k, v in reader.meta.items() if k != 'avro.schema'}
    records = [view(r) for r in reader]
    schema = avro.schema.parse(reader.meta['avro.schema'].decode())
print(json.dumps({'meta': meta, 'records': records, 'canonical': schema.canonical_form}))
`;

test('python3-avro reads our .avro file: the same records, cutouts byte for byte', async (t) => {
  if (!requireTool(t, 'python3-avro', hasPythonModule('avro'))) return;
  const packets = [fullPacket(7), fullPacket(8), buildPacket({ diaSource: detection(9) })];
  const dir = mkdtempSync(join(tmpdir(), 'rapid-alerts-py-'));
  let canonical: string | undefined;
  try {
    for (const codec of ['null', 'deflate'] as const) {
      const path = join(dir, `alerts-${codec}.avro`);
      writeFileSync(path, await encodeAlertFile(packets, { codec }));
      const out = JSON.parse(runPython(PYTHON_DUMP, [path]));
      assert.equal(out.meta['avro.codec'], codec);
      assert.equal(out.meta['rapid.schema.version'], ALERT_SCHEMA_VERSION);
      const ours = (await decodeAlertFile(readFileSync(path))).packets.map(packetView);
      assert.equal(out.records.length, 3);
      assert.deepEqual(out.records, ours);
      assert.deepEqual(out.records[0].cutoutScience, bytesSummary(packets[0].cutoutScience as Buffer));
      canonical = out.canonical;
    }
    // The fingerprint in every NATS message is that of this canonical form.
    assert.equal(canonical, alertCanonicalSchema());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('python3-avro decodes a single-object message after checking its CRC-64-AVRO fingerprint', (t) => {
  if (!requireTool(t, 'python3-avro', hasPythonModule('avro'))) return;
  const packet = fullPacket(7);
  const message = encodeAlertMessage(packet);
  const dir = mkdtempSync(join(tmpdir(), 'rapid-alerts-msg-'));
  try {
    const schemaPath = join(dir, 'alert.avsc');
    const messagePath = join(dir, 'alert.msg');
    writeFileSync(messagePath, message);
    writeFileSync(schemaPath, JSON.stringify(alertType().schema({ exportAttrs: true })));
    const out = JSON.parse(
      runPython(
        `
import avro.io, avro.schema, io, json, struct, sys
EMPTY = 0xc15d213aa4d7a795
table = []
for i in range(256):
    fp = i
    for _ in range(8):
        fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
    table.append(fp & 0xffffffffffffffff)
def rabin(data):
    fp = EMPTY
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xff]
    return fp
schema = avro.schema.parse(open(sys.argv[1]).read())
msg = open(sys.argv[2], 'rb').read()
assert msg[:2] == b'\\xc3\\x01', msg[:2]
(fp,) = struct.unpack('<Q', msg[2:10])
datum = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(msg[10:])))
print(json.dumps({'match': fp == rabin(schema.canonical_form.encode()), 'alertId': datum['alertId'],
  'name': datum['diaObject']['name'], 'cutout': len(datum['cutoutDifference'])}))
`,
        [schemaPath, messagePath],
      ),
    );
    assert.deepEqual(out, {
      match: true,
      alertId: 7,
      name: 'RAPID2028abc',
      cutout: packet.cutoutDifference?.length,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
