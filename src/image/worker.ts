/** Worker thread of the image modules' pool: runs the tasks it is sent, over shared memory. */
import { parentPort } from 'node:worker_threads';
import { runTask, type Task } from './tasks.ts';

parentPort?.on('message', (m: { id: number; task: Task }) => {
  try {
    runTask(m.task);
    parentPort!.postMessage({ id: m.id });
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: String((err as Error)?.stack ?? err) });
  }
});
