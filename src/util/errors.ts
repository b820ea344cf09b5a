/**
 * Exit codes and the errors that carry them (docs/architecture.md, "Exit codes").
 * Every error a user can cause is a RapidError: one clear line saying what went wrong,
 * where, and what to do, plus the exit code the command ends with.
 */
export const ExitCode = {
  OK: 0,
  /** A secondary method failed; primary products are complete. */
  SECONDARY_FAILED: 4,
  /** No reference image possible (too few prior frames). */
  NO_REFERENCE: 33,
  /** Command-line usage error (BSD sysexits EX_USAGE). */
  USAGE: 64,
  /** Bad input data: unreadable FITS, missing WCS, wrong shape. */
  BAD_INPUT: 65,
  /** An input is missing. */
  MISSING_INPUT: 66,
  /** Internal error (a bug). */
  INTERNAL: 70,
  /** Temporary infrastructure failure: retry. */
  TEMPORARY: 75,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class RapidError extends Error {
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RapidError';
    this.exitCode = exitCode;
  }
}

/** Input exists but cannot be used (malformed FITS, missing WCS keywords, bad shape): exit 65. */
export class BadInputError extends RapidError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.BAD_INPUT, options);
    this.name = 'BadInputError';
  }
}

/** An input file or object does not exist: exit 66. */
export class MissingInputError extends RapidError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.MISSING_INPUT, options);
    this.name = 'MissingInputError';
  }
}

/** Wrong command-line arguments: exit 64. */
export class UsageError extends RapidError {
  constructor(message: string) {
    super(message, ExitCode.USAGE);
    this.name = 'UsageError';
  }
}
