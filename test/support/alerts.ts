/**
 * Alert test helpers: a full packet (three real cutouts of a SIP image, history, forced
 * photometry, per-filter statistics), the JSON view that python3-avro's output is compared with,
 * and NATS availability (skip locally, fail in CI).
 */
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import type { TestContext } from 'node:test';
import {
  type AlertPacket,
  buildPacket,
  cutout,
  type DiaSourceInput,
  type ForcedSourceInput,
  fluxStatistics,
} from '../../src/alerts/index.ts';
import type { Wcs } from '../../src/wcs/index.ts';
import { cameraSip, tanWcs } from './starfield.ts';

export const NATS_URL = process.env.RAPID_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/** A parent image: a smooth ramp plus a point-like bump, so every pixel has a distinct value. */
export function parentImage(width: number, height: number): Float32Array {
  const data = new Float32Array(width * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) data[y * width + x] = 0.25 * x + 1000 * y + 0.001 * x * y;
  return data;
}

export function parentWcs(): Wcs {
  return tanWcs({ ra: 150.1, dec: 2.2, crpix: [120.5, 110.5], scale: 0.11, rotation: 23, sip: cameraSip() });
}

export function detection(id: number, overrides: Partial<DiaSourceInput> = {}): DiaSourceInput {
  return {
    diaSourceId: id,
    pointing: 1000 + id,
    sca: 7,
    diaObjectId: 42,
    midpointMjdTai: 62000.25 + id,
    ra: 150.1 + id * 1e-6,
    dec: 2.2 - id * 1e-6,
    raErr: 1e-5,
    decErr: 1.5e-5,
    x: 40.25,
    y: 12.75,
    xErr: 0.05,
    yErr: 0.06,
    snr: 12.5,
    psfFlux: 1500 + 10 * id,
    psfFluxErr: 50,
    psfChi2: 1.25,
    psfNdata: 289,
    band: id % 2 === 0 ? 'H158' : 'F062',
    field: 1234567,
    fieldNside: 512,
    isdiffpos: true,
    scorrPeak: 9.5,
    vetFlags: 0,
    diffMaglim: 25.5,
    ...overrides,
  };
}

export function forced(id: number): ForcedSourceInput {
  return {
    diaForcedSourceId: 500 + id,
    diaObjectId: 42,
    ra: 150.1,
    dec: 2.2,
    pointing: 900 + id,
    sca: 7,
    psfFlux: 20 * id - 30,
    psfFluxErr: 45,
    scienceFlux: 4000 + id,
    scienceFluxErr: 60,
    midpointMjdTai: 61990.5 + id,
    band: 'F158',
  };
}

/** A complete packet: detection near the image corner (NaN-padded stamps), 3 earlier ones, 4 forced. */
export function fullPacket(id = 7): AlertPacket {
  const width = 240;
  const height = 200;
  const image = parentImage(width, height);
  const wcs = parentWcs();
  const source = detection(id);
  const history = [detection(1), detection(2), detection(3)];
  const forcedRows = [forced(1), forced(2), forced(3), forced(4)];
  const stamp = (scale: number) =>
    cutout(
      image.map((v) => v * scale),
      width,
      height,
      source.x,
      source.y,
      wcs,
    );
  return buildPacket({
    diaSource: source,
    diaObject: {
      diaObjectId: 42,
      name: 'RAPID2028abc',
      ra: 150.1,
      dec: 2.2,
      raErr: 1e-5,
      decErr: 1e-5,
      radecMjdTai: 62000.25,
      nDiaSources: 4,
      firstDiaSourceMjdTai: 62001.25,
      lastDiaSourceMjdTai: 62007.25,
      fluxStats: fluxStatistics([...history, source], forcedRows),
    },
    prvDiaSources: history,
    prvDiaForcedSources: forcedRows,
    cutouts: { difference: stamp(1), science: stamp(2), template: stamp(0.5) },
  });
}

/** Bytes as their length and sha256, so that JSON views of packets stay small and comparable. */
export function bytesSummary(b: Uint8Array): { bytes: number; sha256: string } {
  return { bytes: b.length, sha256: createHash('sha256').update(b).digest('hex') };
}

/** A packet as JSON-ready data with byte fields summarised (the same view the Python side prints). */
export function packetView(packet: AlertPacket): unknown {
  return JSON.parse(
    JSON.stringify(packet, function (key, value) {
      const raw = (this as Record<string, unknown>)[key];
      return raw instanceof Uint8Array ? bytesSummary(raw) : value;
    }),
  );
}

let natsUp: boolean | undefined;
async function natsReachable(): Promise<boolean> {
  if (natsUp !== undefined) return natsUp;
  const url = new URL(NATS_URL.replace(/^nats:/, 'http:'));
  natsUp = await new Promise<boolean>((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port || 4222) });
    socket.setTimeout(2000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
  return natsUp;
}

/** When NATS is missing: fail in CI, skip (with the reason) locally. */
export async function requireNats(t: TestContext): Promise<boolean> {
  if (await natsReachable()) return true;
  const reason = `NATS is not reachable at ${NATS_URL} (set RAPID_TEST_NATS_URL; .ci/run starts nats-server -js)`;
  if (process.env.CI === 'true') throw new Error(`${reason}; the NATS tests must run in CI`);
  console.error(`# SKIP: ${reason}`);
  t.skip(reason);
  return false;
}
