/** Waiting in tests for an event, not for a time: poll a condition, with a deadline that fails clearly. */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';

/**
 * Resolves when `cond` holds. The deadline is only a guard against a hang (generous: a loaded
 * machine is slow, not wrong); reaching it fails the test, naming what was awaited.
 */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  o: { timeoutMs?: number; everyMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (o.timeoutMs ?? 120_000);
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, o.everyMs ?? 25));
  }
}

/** The job temporary folders (`rapid-job-*`) in a folder used as TMPDIR: one per running job. */
export async function jobTmpDirs(tmp: string): Promise<string[]> {
  return (await readdir(tmp).catch(() => [] as string[])).filter((n) => n.startsWith('rapid-job-'));
}

/** An assertion failure (not a hang, not a TypeError) when `p` has not settled in `ms`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new assert.AssertionError({ message: `timed out after ${ms / 1000} s waiting for ${what}` }),
            ),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
