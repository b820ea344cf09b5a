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
  /**
   * Not permitted (BSD sysexits EX_NOPERM): a folder or file that cannot be written (permission
   * denied, a read-only file system), credentials missing or refused (the database's role or
   * password, S3's keys or policy). Retrying will not help; fixing permissions or credentials will.
   */
  NO_PERMISSION: 77,
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

/** Access refused: permissions, a read-only file system, missing or refused credentials: exit 77. */
export class PermissionError extends RapidError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.NO_PERMISSION, options);
    this.name = 'PermissionError';
  }
}

/**
 * PGlite's file system (Emscripten) throws `{ name: 'ErrnoError', errno }`, not an Error: its
 * errno numbers (WASI's), by the names Node gives the same conditions.
 */
const EMSCRIPTEN_ERRNO: Record<number, string> = {
  2: 'EACCES',
  6: 'EAGAIN',
  10: 'EBUSY',
  29: 'EIO',
  31: 'EISDIR',
  33: 'EMFILE',
  41: 'ENFILE',
  44: 'ENOENT',
  48: 'ENOMEM',
  51: 'ENOSPC',
  54: 'ENOTDIR',
  63: 'EPERM',
  69: 'EROFS',
};

/** The errno name of a system error: Node's `code`, or PGlite's (Emscripten's) `errno` number. */
export function errnoName(err: unknown): string | undefined {
  const e = err as { code?: unknown; errno?: unknown; name?: unknown } | null | undefined;
  if (!e || typeof e !== 'object') return undefined;
  if (typeof e.code === 'string' && /^E(?!RR_)[A-Z0-9]+$/.test(e.code)) return e.code;
  if (e.name === 'ErrnoError' && typeof e.errno === 'number')
    return EMSCRIPTEN_ERRNO[e.errno] ?? `errno ${e.errno}`;
  return undefined;
}

/** The system's words for an errno name (Node's messages repeat the code and the path). */
const ERRNO_TEXT: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENOMEM: 'out of memory',
  EAGAIN: 'resource temporarily unavailable',
  EBUSY: 'resource busy',
};

/** host:port of a network error, when it says. */
function host(err: unknown): string | undefined {
  const e = err as { hostname?: unknown; address?: unknown; port?: unknown };
  const h =
    typeof e.hostname === 'string' ? e.hostname : typeof e.address === 'string' ? e.address : undefined;
  if (h === undefined) return undefined;
  return typeof e.port === 'number' || typeof e.port === 'string' ? `${h}:${e.port}` : h;
}

/**
 * A system error (Node's errno codes, PGlite's file-system errors) as a RapidError with the exit
 * code an operator can act on; undefined when `err` is no such error. `where` names the file,
 * folder or backend when the error does not say (PGlite's never do).
 *
 * - no such file or folder: 66;
 * - permission denied, read-only file system: 77 (retrying will not help);
 * - disk full, quota, too many open files, out of memory, I/O error, busy: 75 (retry once fixed);
 * - a host that does not exist (DNS says so): 64, a configuration error;
 * - a host that refuses, resets or does not answer: 75.
 */
export function systemError(err: unknown, where?: string): RapidError | undefined {
  if (err instanceof RapidError) return err;
  const code = errnoName(err);
  if (code === undefined) return undefined;
  const e = err as { path?: unknown; dest?: unknown; syscall?: unknown };
  const path = typeof e.path === 'string' ? e.path : where;
  const at = path ? `${path}: ` : '';
  const options = { cause: err };
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new MissingInputError(`${at}no such file or folder; check the path`, options);
    case 'EISDIR':
      return new BadInputError(`${at}is a folder, not a file; check the path`, options);
    case 'EACCES':
    case 'EPERM':
      return new PermissionError(
        `${at}${ERRNO_TEXT[code]} (${code}); fix its permissions, or use another location (--home, --store, --out)`,
        options,
      );
    case 'EROFS':
      return new PermissionError(
        `${at}${ERRNO_TEXT[code]} (${code}); use a writable location (--home, --store, --out)`,
        options,
      );
    case 'ENOSPC':
    case 'EDQUOT':
      return new RapidError(
        `${at}the disk is full (${code}: ${ERRNO_TEXT[code]}); free some space, then retry`,
        ExitCode.TEMPORARY,
        options,
      );
    case 'EMFILE':
    case 'ENFILE':
    case 'ENOMEM':
    case 'EIO':
    case 'EAGAIN':
    case 'EBUSY':
      return new RapidError(`${at}${ERRNO_TEXT[code]} (${code}); retry`, ExitCode.TEMPORARY, options);
    case 'ENOTFOUND':
      return new UsageError(
        `${host(err) ?? where ?? 'a host'}: no such host (ENOTFOUND); check the host name in the configuration`,
      );
    case 'ECONNREFUSED':
    case 'ECONNRESET':
    case 'ECONNABORTED':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EPIPE':
    case 'EAI_AGAIN':
      return new RapidError(
        `${host(err) ?? where ?? 'a server'}: cannot reach it (${code}); retry when it is reachable`,
        ExitCode.TEMPORARY,
        options,
      );
    default:
      return undefined;
  }
}
