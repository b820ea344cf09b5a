/**
 * Progress of long work on standard error: a bar on a terminal, one structured (JSON) line per
 * step otherwise, so logs stay machine-readable and standard output stays free for results.
 */
export class ProgressReporter {
  private readonly tty: boolean;
  private readonly started = Date.now();

  constructor(
    private readonly what: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(stream.isTTY);
  }

  update(done: number, total: number, detail = ''): void {
    const elapsed = (Date.now() - this.started) / 1000;
    if (this.tty) {
      const width = 30;
      const filled = Math.round((width * done) / Math.max(1, total));
      const eta = done > 0 ? ((total - done) * elapsed) / done : 0;
      this.stream.write(
        `\r${this.what} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${elapsed.toFixed(1)} s, ~${eta.toFixed(0)} s left `,
      );
      if (done >= total) this.stream.write('\n');
    } else {
      this.stream.write(
        `${JSON.stringify({ event: 'progress', what: this.what, done, total, elapsed_s: Number(elapsed.toFixed(2)), detail })}\n`,
      );
    }
  }
}

/** A progress callback drawing on standard error, created when the first update comes. */
export function progressTo(what: string): (done: number, total: number, detail?: string) => void {
  let reporter: ProgressReporter | undefined;
  return (done, total, detail) => {
    reporter ??= new ProgressReporter(what);
    reporter.update(done, total, detail);
  };
}
