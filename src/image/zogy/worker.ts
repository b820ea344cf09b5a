/**
 * Worker thread of tiled ZOGY: one sub-image per task, with its whole chain of transforms on
 * this thread (serial FFTs). It reads its sub-image from the full images in shared memory and
 * writes its products into a shared slot that the caller blends, so no image memory is
 * allocated per sub-image: kernels (for the next sub-image with the same PSFs), work buffers
 * and cut-outs are kept from task to task.
 */
import { parentPort } from 'node:worker_threads';
import { BadInputError } from '../../util/errors.ts';
import { serialBackend } from '../fft/index.ts';
import { cutRegion, type Region } from './tiles.ts';
import { type ZogyCache, type ZogyImages, type ZogyInput, type ZogyTimings, zogy } from './zogy.ts';

type ImageFields = 'science' | 'reference' | 'scienceVariance' | 'referenceVariance' | 'mask';

export interface ZogyTileTask {
  /** The whole images (SharedArrayBuffer-backed), `width` pixels wide. */
  images: Pick<ZogyInput, ImageFields>;
  width: number;
  /** The sub-image to subtract. */
  region: Region;
  /** Everything else ZOGY takes (PSF stamps of this sub-image, noise, flux ratio, …). */
  parameters: Omit<ZogyInput, ImageFields | 'width' | 'height'>;
  grid: { width: number; height: number };
  /** Shared arrays of the region's size for the image products. */
  products: ZogyImages;
}

/** ZOGY's scalars and kernels of the sub-image, or the message of a BadInputError (raised again by the caller). */
export type ZogyTileReply =
  | {
      fluxScale: number;
      scale: number;
      differencePsf: Float32Array;
      scienceKernel: Float64Array;
      timings: ZogyTimings;
    }
  | { badInput: string };

const backend = serialBackend();
const cache: ZogyCache = {};
let cutouts: Record<'science' | 'reference' | 'scienceVariance' | 'referenceVariance', Float32Array> & {
  mask: Uint8Array;
};

parentPort?.on('message', async (task: ZogyTileTask) => {
  try {
    const { region: e, width } = task;
    const n = (e.x1 - e.x0) * (e.y1 - e.y0);
    if (cutouts?.mask.length !== n) {
      cutouts = {
        science: new Float32Array(n),
        reference: new Float32Array(n),
        scienceVariance: new Float32Array(n),
        referenceVariance: new Float32Array(n),
        mask: new Uint8Array(n),
      };
    }
    const { images } = task;
    const input: ZogyInput = {
      ...task.parameters,
      width: e.x1 - e.x0,
      height: e.y1 - e.y0,
      science: cutRegion(images.science, width, e, cutouts.science),
      reference: cutRegion(images.reference, width, e, cutouts.reference),
      scienceVariance: cutRegion(images.scienceVariance, width, e, cutouts.scienceVariance),
      referenceVariance: cutRegion(images.referenceVariance, width, e, cutouts.referenceVariance),
      mask: images.mask && cutRegion(images.mask, width, e, cutouts.mask),
    };
    const r = await zogy(input, backend, { grid: task.grid, cache, products: task.products });
    const reply: ZogyTileReply = {
      fluxScale: r.fluxScale,
      scale: r.scale,
      differencePsf: r.differencePsf,
      scienceKernel: r.scienceKernel,
      timings: r.timings,
    };
    parentPort?.postMessage({ result: reply });
  } catch (err) {
    if (err instanceof BadInputError) parentPort?.postMessage({ result: { badInput: err.message } });
    else parentPort?.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
