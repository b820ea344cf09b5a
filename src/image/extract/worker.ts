/** Worker thread of extraction: filters rows, analyses components, or measures objects. */
import { parentPort } from 'node:worker_threads';
import { type AnalyseTask, type FilterTask, runAnalyseTask, runFilterTask } from './detect.ts';
import { type MeasureTask, runMeasureTask } from './measure.ts';

export type ExtractTask = AnalyseTask | FilterTask | (MeasureTask & { kind: 'measure' });

parentPort?.on('message', (task: ExtractTask) => {
  try {
    if (task.kind === 'filter') {
      runFilterTask(task);
      parentPort?.postMessage({ result: true });
    } else if (task.kind === 'analyse') {
      const r = runAnalyseTask(task);
      parentPort?.postMessage({ result: r }, [
        r.fields.buffer,
        r.pixels.buffer,
        r.npix.buffer,
        r.perComponent.buffer,
      ] as ArrayBuffer[]);
    } else {
      const result = runMeasureTask(task);
      parentPort?.postMessage({ result }, [result.buffer as ArrayBuffer]);
    }
  } catch (err) {
    parentPort?.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
