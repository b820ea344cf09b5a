/**
 * Where the co-add keeps resampled frames between its two passes when memory must stay
 * bounded: raw float32 files in a temporary folder, read back a strip of rows at a time.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { FrameStore } from '../image/coadd.ts';
import type { Region } from '../image/resample.ts';

/** A frame store in a new folder `prefix…` inside `dir`, removed by close(). */
export async function diskFrameStore(dir: string, prefix = 'frames-'): Promise<FrameStore> {
  const tmp = await mkdtemp(join(dir, prefix));
  const regions = new Map<number, Region>();
  const file = (i: number, what: string) => join(tmp, `${i}.${what}.f32`);
  const bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const readRows = async (path: string, width: number, y0: number, y1: number) => {
    const out = new Float32Array((y1 - y0) * width);
    const fh = await open(path, 'r');
    try {
      await fh.read(bytes(out), 0, out.byteLength, y0 * width * 4);
    } finally {
      await fh.close();
    }
    return out;
  };
  // One write request per file: fs.writeFile would cut it into 512 kB requests, each waiting
  // for the event loop, so a put could not proceed while the co-add computes.
  const write = async (path: string, a: Uint8Array) => {
    const fh = await open(path, 'w');
    try {
      for (let done = 0; done < a.length; ) done += (await fh.write(a, done, a.length - done)).bytesWritten;
    } finally {
      await fh.close();
    }
  };
  return {
    async put(index, region, data, weight) {
      regions.set(index, region);
      await Promise.all([
        write(file(index, 'data'), bytes(data)),
        write(file(index, 'weight'), bytes(weight)),
      ]);
    },
    async rows(index, y0, y1) {
      const w = regions.get(index)!.width;
      return {
        data: await readRows(file(index, 'data'), w, y0, y1),
        weight: await readRows(file(index, 'weight'), w, y0, y1),
      };
    },
    async close() {
      await rm(tmp, { recursive: true, force: true });
    },
  };
}
