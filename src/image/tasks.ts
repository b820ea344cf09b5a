/** The kinds of task the worker pool runs, each a pure function over shared arrays. */
import {
  type BackgroundMeshTask,
  type InterpolateMeshTask,
  runBackgroundMeshTask,
  runInterpolateMeshTask,
} from './background-mesh.ts';
import { type CombineTask, runCombineTask } from './coadd-combine.ts';
import { type FftTask, runFftTask } from './fft/tasks.ts';
import { type ResampleTask, runResampleTask } from './resample-kernel.ts';

export type Task = FftTask | ResampleTask | CombineTask | BackgroundMeshTask | InterpolateMeshTask;

export function runTask(task: Task): void {
  switch (task.kind) {
    case 'fft':
      runFftTask(task);
      return;
    case 'resample':
      runResampleTask(task);
      return;
    case 'combine':
      runCombineTask(task);
      return;
    case 'background-mesh':
      runBackgroundMeshTask(task);
      return;
    case 'interpolate-mesh':
      runInterpolateMeshTask(task);
      return;
  }
}
