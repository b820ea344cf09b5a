/** Sample data shared by the FITS tests: an image of every stored type, a small catalog. */
import type { ColumnInput, ImageData } from '../../src/fits/index.ts';
import { prng } from './fits.ts';

export const SAMPLE_WIDTH = 7;
export const SAMPLE_HEIGHT = 5;
const W = SAMPLE_WIDTH;
const H = SAMPLE_HEIGHT;

/** One array per stored type, with the extremes of each type among ordinary values. */
export function sampleImages(): { name: string; data: ImageData; bitpix: number; bzero?: number | bigint }[] {
  const r = prng(7);
  const n = W * H;
  const fill = <T extends { length: number; [i: number]: number | bigint }>(
    a: T,
    f: (i: number) => number | bigint,
  ): T => {
    for (let i = 0; i < n; i++) a[i] = f(i);
    return a;
  };
  return [
    {
      name: 'u8',
      bitpix: 8,
      data: fill(new Uint8Array(n), (i) => (i === 0 ? 0 : i === 1 ? 255 : Math.floor(r() * 256))),
    },
    {
      name: 'i8',
      bitpix: 8,
      bzero: -128,
      data: fill(new Int8Array(n), (i) => (i === 0 ? -128 : i === 1 ? 127 : Math.floor(r() * 256) - 128)),
    },
    {
      name: 'i16',
      bitpix: 16,
      data: fill(new Int16Array(n), (i) =>
        i === 0 ? -32768 : i === 1 ? 32767 : Math.floor(r() * 65536) - 32768,
      ),
    },
    {
      name: 'u16',
      bitpix: 16,
      bzero: 32768,
      data: fill(new Uint16Array(n), (i) => (i === 0 ? 0 : i === 1 ? 65535 : Math.floor(r() * 65536))),
    },
    {
      name: 'i32',
      bitpix: 32,
      data: fill(new Int32Array(n), (i) =>
        i === 0 ? -(2 ** 31) : i === 1 ? 2 ** 31 - 1 : Math.floor(r() * 2 ** 32) - 2 ** 31,
      ),
    },
    {
      name: 'u32',
      bitpix: 32,
      bzero: 2147483648,
      data: fill(new Uint32Array(n), (i) =>
        i === 0 ? 0 : i === 1 ? 2 ** 32 - 1 : Math.floor(r() * 2 ** 32),
      ),
    },
    {
      name: 'i64',
      bitpix: 64,
      data: fill(new BigInt64Array(n), (i) =>
        i === 0
          ? -(2n ** 63n)
          : i === 1
            ? 2n ** 63n - 1n
            : BigInt(Math.floor(r() * 2 ** 53)) * 1021n - 2n ** 62n,
      ),
    },
    {
      name: 'u64',
      bitpix: 64,
      bzero: 2n ** 63n,
      data: fill(new BigUint64Array(n), (i) =>
        i === 0 ? 0n : i === 1 ? 2n ** 64n - 1n : BigInt(Math.floor(r() * 2 ** 53)) * 2047n,
      ),
    },
    {
      name: 'f32',
      bitpix: -32,
      data: fill(
        new Float32Array(n),
        (i) =>
          [
            Number.NaN,
            Number.POSITIVE_INFINITY,
            Number.NEGATIVE_INFINITY,
            -0,
            3.4028234663852886e38,
            1.4e-45,
          ][i] ?? (r() - 0.5) * 1e6,
      ),
    },
    {
      name: 'f64',
      bitpix: -64,
      data: fill(
        new Float64Array(n),
        (i) => [Number.NaN, Number.MAX_VALUE, Number.MIN_VALUE, -0][i] ?? (r() - 0.5) * 1e300,
      ),
    },
  ];
}

/** A SourceExtractor-like catalog of three objects. */
export function catalogColumns(): ColumnInput[] {
  return [
    { name: 'NUMBER', data: new Int32Array([1, 2, 3]) },
    { name: 'FLAGS', data: new Int16Array([0, 2, -1]) },
    { name: 'CLASS', data: new Uint8Array([0, 128, 255]) },
    { name: 'ID64', data: new BigInt64Array([1n, -(2n ** 62n), 2n ** 62n]) },
    { name: 'X_IMAGE', data: new Float64Array([10.25, 20.5, 30.75]), unit: 'pixel' },
    { name: 'MAG_AUTO', data: new Float32Array([18.5, 19.25, Number.NaN]), unit: 'mag' },
    { name: 'FLUX_APER', data: new Float32Array(18).map((_, i) => i * 1.5), repeat: 6, unit: 'count' },
    { name: 'ISSTAR', data: [true, false, true] },
    { name: 'NAME', data: ['star', 'galaxy', ''] },
  ];
}
