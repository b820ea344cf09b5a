/**
 * Benchmark: alert packets per second. Builds packets for sources spread over a 4088 × 4088
 * difference image (three 63×63 gzipped FITS cutouts each: difference, science, template; a
 * light-curve history; per-filter statistics; schema validation), encodes them into one Avro
 * container file (deflate and null codecs), and writes the file to a folder object store.
 * All in memory except the final write. Optionally publishes them to NATS JetStream.
 *
 *   node --import tsx bench/alerts.ts [--packets 500] [--runs 5] [--size 4088] [--history 5]
 *                                     [--level 6] [--nats nats://127.0.0.1:4222]
 *
 * 500 packets is the mission model's figure for an extragalactic SCA image (facts.md). Times are
 * medians over the runs; rates are packets per second; peak memory is the process's VmHWM.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type AlertPacket,
  buildPacket,
  cutout,
  type DiaSourceInput,
  deleteAlertStream,
  encodeAlertFile,
  type ForcedSourceInput,
  fluxStatistics,
  publishAlerts,
  writeAlertFile,
} from '../src/alerts/index.ts';
import { FolderStore } from '../src/store/index.ts';
import { parentWcs } from '../test/support/alerts.ts';

const { values } = parseArgs({
  options: {
    packets: { type: 'string', default: '500' },
    runs: { type: 'string', default: '5' },
    size: { type: 'string', default: '4088' },
    history: { type: 'string', default: '5' },
    level: { type: 'string', default: '6' },
    nats: { type: 'string' },
  },
});
const count = Number(values.packets);
const runs = Number(values.runs);
const size = Number(values.size);
const historyLength = Number(values.history);
const level = Number(values.level);

function peakMB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A noisy image (deterministic), so that the cutouts compress like real ones (hardly). */
function noisyImage(seed: number): Float32Array {
  const data = new Float32Array(size * size);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = 100 + (s / 2 ** 32 - 0.5) * 20;
  }
  return data;
}

const wcs = parentWcs();
const images = { difference: noisyImage(1), science: noisyImage(2), template: noisyImage(3) };

function source(k: number, id: number): DiaSourceInput {
  // Positions over the whole image, edges included (so some stamps are NaN-padded).
  const x = ((k * 7919) % 1000) * (size / 1000) + 0.3;
  const y = ((k * 104729) % 997) * (size / 997) + 0.6;
  return {
    diaSourceId: id,
    pointing: 1234,
    sca: 7,
    diaObjectId: 10_000 + k,
    midpointMjdTai: 62000.5,
    ra: 150 + x * 3e-5,
    dec: 2 + y * 3e-5,
    raErr: 1e-5,
    decErr: 1e-5,
    x,
    y,
    snr: 8,
    psfFlux: 1000 + k,
    psfFluxErr: 40,
    psfChi2: 1.1,
    psfNdata: 289,
    band: 'F158',
    field: 123456,
    fieldNside: 512,
    isdiffpos: true,
    scorrPeak: 7.5,
    diffMaglim: 25.7,
  };
}

function forcedRow(k: number, j: number): ForcedSourceInput {
  return {
    diaForcedSourceId: k * 100 + j,
    diaObjectId: 10_000 + k,
    ra: 150,
    dec: 2,
    pointing: 1000 + j,
    sca: 7,
    psfFlux: 10 * j,
    psfFluxErr: 40,
    midpointMjdTai: 61900 + 5 * j,
    band: j % 2 ? 'F158' : 'F106',
  };
}

function buildAll(): AlertPacket[] {
  const packets: AlertPacket[] = [];
  for (let k = 0; k < count; k++) {
    const s = source(k, k + 1);
    const history = Array.from({ length: historyLength }, (_, j) => ({
      ...s,
      diaSourceId: 1e9 + k * 100 + j,
      midpointMjdTai: 61900 + 5 * j,
    }));
    const forced = Array.from({ length: 2 * historyLength }, (_, j) => forcedRow(k, j));
    const stamp = (image: Float32Array) => cutout(image, size, size, s.x, s.y, wcs, { level });
    packets.push(
      buildPacket({
        diaSource: s,
        diaObject: {
          diaObjectId: 10_000 + k,
          name: `RAPID2028${k}`,
          ra: s.ra,
          dec: s.dec,
          nDiaSources: historyLength + 1,
          fluxStats: fluxStatistics([...history, s], forced),
        },
        prvDiaSources: history,
        prvDiaForcedSources: forced,
        cutouts: {
          difference: stamp(images.difference),
          science: stamp(images.science),
          template: stamp(images.template),
        },
      }),
    );
  }
  return packets;
}

const times = { build: [] as number[], deflate: [] as number[], null: [] as number[], write: [] as number[] };
const pub: number[] = [];
let fileBytes = { deflate: 0, null: 0 };
const dir = mkdtempSync(join(tmpdir(), 'rapid-bench-alerts-'));
try {
  const store = new FolderStore(dir);
  for (let r = 0; r < runs; r++) {
    let t = performance.now();
    const packets = buildAll();
    times.build.push(performance.now() - t);
    t = performance.now();
    const deflated = await encodeAlertFile(packets, { codec: 'deflate' });
    times.deflate.push(performance.now() - t);
    t = performance.now();
    const plain = await encodeAlertFile(packets, { codec: 'null' });
    times.null.push(performance.now() - t);
    fileBytes = { deflate: deflated.length, null: plain.length };
    t = performance.now();
    await writeAlertFile(store, store.uri(`run${r}.avro`), packets, { codec: 'null' });
    times.write.push(performance.now() - t);
    if (values.nats) {
      const stream = `BENCH_ALERTS_${process.pid}_${r}`;
      t = performance.now();
      await publishAlerts(values.nats, packets, {
        stream,
        subjectPrefix: `bench.${process.pid}.${r}.alerts`,
      });
      pub.push(performance.now() - t);
      await deleteAlertStream(values.nats, stream);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const rate = (ms: number[]) => (count / (median(ms) / 1000)).toFixed(0);
const ms = (v: number[]) => median(v).toFixed(0).padStart(6);
console.log(
  `alert packets: ${count} per run, ${runs} runs, image ${size}², history ${historyLength} + ${2 * historyLength} forced, gzip level ${level}`,
);
console.log(
  `  build (3 cutouts + packet + validation) ${ms(times.build)} ms   ${rate(times.build)} packets/s`,
);
console.log(
  `  encode .avro, deflate codec            ${ms(times.deflate)} ms   ${rate(times.deflate)} packets/s   ${(fileBytes.deflate / count / 1024).toFixed(1)} KiB/packet`,
);
console.log(
  `  encode .avro, null codec               ${ms(times.null)} ms   ${rate(times.null)} packets/s   ${(fileBytes.null / count / 1024).toFixed(1)} KiB/packet`,
);
console.log(
  `  encode (null) + write to the store     ${ms(times.write)} ms   ${rate(times.write)} packets/s`,
);
const total = times.build.map((b, i) => b + times.write[i]);
console.log(`  build + encode + write                 ${ms(total)} ms   ${rate(total)} packets/s`);
if (pub.length)
  console.log(`  publish to NATS JetStream              ${ms(pub)} ms   ${rate(pub)} packets/s`);
console.log(
  `  peak memory ${peakMB().toFixed(0)} MB (three ${size}² float32 images: ${((3 * size * size * 4) / 2 ** 20).toFixed(0)} MB)`,
);
