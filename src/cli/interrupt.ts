/**
 * Ctrl-C (SIGINT) and SIGTERM for long commands, the same everywhere: the first one starts no
 * new work and lets what is running finish; the second interrupts it. Either way the command
 * ends with 75 (interrupted: run it again to resume) and says so in one line. Job processes run
 * in their own process groups, so a Ctrl-C at the terminal reaches them only through this.
 */
import type { Executor } from '../exec/types.ts';
import { ExitCode, RapidError } from '../util/errors.ts';

export class InterruptedCommandError extends RapidError {
  constructor(what: string) {
    super(`${what} interrupted; run it again to resume`, ExitCode.TEMPORARY);
    this.name = 'InterruptedCommandError';
  }
}

export interface Interrupts {
  /** Signals received so far. */
  readonly count: number;
  /** Route the signals to this executor while it runs jobs (undefined once it is done). */
  onExecutor(e: Executor | undefined): void;
  /** Throw InterruptedCommandError when a stop was asked for: call between steps. */
  check(): void;
  dispose(): void;
}

/** Install the handlers; `what` names the command in the messages ("rapid demo"). */
export function handleInterrupts(what: string): Interrupts {
  let count = 0;
  let executor: Executor | undefined;
  const onSignal = () => {
    count++;
    if (count === 1) {
      process.stderr.write(
        executor
          ? `\n${what}: stopping: no new jobs; waiting for the running ones to finish (Ctrl-C again to interrupt them)\n`
          : `\n${what}: stopping after the current step (Ctrl-C again to stop at once)\n`,
      );
      executor?.stop();
    } else if (executor) {
      process.stderr.write(`\n${what}: interrupting the running jobs\n`);
      executor.interrupt();
    } else {
      process.stderr.write(`\n${what}: interrupted; run it again to resume\n`);
      process.exit(ExitCode.TEMPORARY);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    get count() {
      return count;
    },
    onExecutor(e) {
      executor = e;
      if (count > 0) e?.stop();
    },
    check() {
      if (count > 0) throw new InterruptedCommandError(what);
    },
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
