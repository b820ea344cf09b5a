/** Times as the operations code uses them: UTC dates, MJD, and processing dates (YYYYMMDD). */
import { type RapidError, UsageError } from '../util/errors.ts';

const MJD_UNIX_EPOCH = 40587;

export function mjdFromDate(d: Date): number {
  return d.getTime() / 86_400_000 + MJD_UNIX_EPOCH;
}

export function dateFromMjd(mjd: number): Date {
  return new Date(Math.round((mjd - MJD_UNIX_EPOCH) * 86_400_000));
}

/**
 * Parse an ISO 8601 date or date-time; without a zone it is UTC (FITS DATE-OBS). An error of
 * the given class (usage by default) naming `what` when it is not a date.
 */
export function parseDate(
  text: string,
  what: string,
  ErrorClass: new (message: string) => RapidError = UsageError,
): Date {
  const t = text.trim();
  const m =
    /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(t);
  if (!m) throw new ErrorClass(`${what}: '${text}' is not a date (write e.g. 2028-09-07T00:00:00)`);
  const zone = m[7] ?? 'Z';
  const iso = `${m[1]}-${m[2]}-${m[3]}T${m[4] ?? '00'}:${m[5] ?? '00'}:${m[6] ?? '00'}${zone === 'Z' ? 'Z' : zone}`;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) throw new ErrorClass(`${what}: '${text}' is not a valid date`);
  return d;
}

/** The processing date of a run: YYYYMMDD (UTC), the first part of job output prefixes. */
export function procDate(d: Date = new Date()): string {
  return d.toISOString().slice(0, 10).replace(/-/g, '');
}
