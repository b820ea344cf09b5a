/** Worker thread: draws and exposes a band of rows of a simulated exposure into shared memory. */
import { parentPort } from 'node:worker_threads';
import type { PsfProfile } from './psf.ts';
import { type DetectorModel, type PlacedSource, PsfCache, type RenderOptions, renderRows } from './render.ts';

export interface BandTask {
  buffer: SharedArrayBuffer;
  model: DetectorModel;
  options: RenderOptions;
  sources: PlacedSource[];
  profiles: PsfProfile[];
  rowStart: number;
  rowEnd: number;
}

const cache = new PsfCache();

parentPort?.on('message', (task: BandTask) => {
  try {
    const data = new Float32Array(task.buffer);
    const r = renderRows(
      data,
      task.model,
      task.options,
      task.sources,
      task.profiles,
      task.rowStart,
      task.rowEnd,
      cache,
    );
    parentPort?.postMessage({ result: r }, [r.added.buffer as ArrayBuffer]);
  } catch (err) {
    parentPort?.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
