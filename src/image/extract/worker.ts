/** Worker thread of the measurement stage: measures a share of the objects (measure.ts). */
import { parentPort } from 'node:worker_threads';
import { type MeasureTask, runMeasureTask } from './measure.ts';

parentPort?.on('message', (task: MeasureTask) => {
  try {
    const result = runMeasureTask(task);
    parentPort?.postMessage({ result }, [result.buffer as ArrayBuffer]);
  } catch (err) {
    parentPort?.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
