/**
 * Status: a summary of the database (images, references, runs, products, difference-image
 * sources) and of one run's jobs (the latest run unless one is named), by status and exit code.
 */
import { MissingInputError } from '../util/errors.ts';
import type { Db, Queryable } from './db.ts';

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'interrupted'] as const;

export interface StatusReport {
  run: {
    id: number;
    from: string;
    to: string;
    filter: string | null;
    pipeline: string;
    executor: string;
    created: string;
    ended: string | null;
    status: string;
  } | null;
  images: number;
  references: number;
  referencesByStatus: Record<string, number>;
  runs: number;
  jobs: { total: number; byStatus: Record<string, number>; byExitCode: Record<string, number> };
  products: number;
  /** ZOGY's difference-image sources (the primary catalogs). */
  sources: number;
  /** SFFT's, registered beside them. */
  sfftSources: number;
}

/**
 * The run an id names (as the command line gave it: a bigint up to 2^63 − 1, compared exactly);
 * resolves to its id. No such run is a missing input, exit 66, in every command that takes
 * `--run` (status, report, aggregate, postprocess, alerts).
 */
export async function requireRun(db: Queryable, id: bigint | number): Promise<number> {
  const rows = await db.query<{ id: number }>('SELECT id FROM runs WHERE id = $1::bigint', [String(id)]);
  if (rows.length === 0) throw new MissingInputError(`no run ${id}; \`rapid status\` shows the latest run`);
  return Number(rows[0].id);
}

const iso = (d: unknown) => (d instanceof Date ? d.toISOString() : d === null ? null : String(d));

export async function status(db: Db, runId?: number): Promise<StatusReport> {
  const [counts] = await db.query<{
    images: number;
    refs: number;
    runs: number;
    products: number;
    sources: number;
    sfft_sources: number;
  }>(
    `SELECT (SELECT count(*) FROM images) AS images, (SELECT count(*) FROM refimages) AS refs,
       (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM products) AS products,
       (SELECT count(*) FROM diff_sources WHERE method = 'zogy') AS sources,
       (SELECT count(*) FROM diff_sources WHERE method = 'sfft') AS sfft_sources`,
  );
  const refStatus = await db.query<{ status: string; n: number }>(
    'SELECT status, count(*) AS n FROM refimages GROUP BY status ORDER BY status',
  );
  if (runId !== undefined) await requireRun(db, runId);
  const runs = await db.query<Record<string, unknown>>(
    runId === undefined ? 'SELECT * FROM runs ORDER BY id DESC LIMIT 1' : 'SELECT * FROM runs WHERE id = $1',
    runId === undefined ? [] : [runId],
  );
  const r = runs[0];
  const byStatus: Record<string, number> = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0]));
  const byExitCode: Record<string, number> = {};
  let total = 0;
  if (r) {
    const rows = await db.query<{ status: string; exit_code: number | null; n: number }>(
      `SELECT j.status, j.exit_code, count(*) AS n FROM run_jobs rj JOIN jobs j ON j.id = rj.job_id
       WHERE rj.run_id = $1 GROUP BY j.status, j.exit_code`,
      [r.id],
    );
    for (const row of rows) {
      total += Number(row.n);
      byStatus[row.status] = (byStatus[row.status] ?? 0) + Number(row.n);
      if (row.exit_code !== null)
        byExitCode[String(row.exit_code)] = (byExitCode[String(row.exit_code)] ?? 0) + Number(row.n);
    }
  }
  return {
    run: r
      ? {
          id: Number(r.id),
          from: iso(r.date_from)!,
          to: iso(r.date_to)!,
          filter: (r.filter as string | null) ?? null,
          pipeline: String(r.pipeline),
          executor: String(r.executor),
          created: iso(r.created_at)!,
          ended: iso(r.ended_at),
          status: String(r.status),
        }
      : null,
    images: Number(counts.images),
    references: Number(counts.refs),
    referencesByStatus: Object.fromEntries(refStatus.map((x) => [x.status, Number(x.n)])),
    runs: Number(counts.runs),
    jobs: { total, byStatus, byExitCode },
    products: Number(counts.products),
    sources: Number(counts.sources),
    sfftSources: Number(counts.sfft_sources),
  };
}

/** The report as a few lines for people. */
export function formatStatus(s: StatusReport): string {
  const lines: string[] = [];
  lines.push(
    `images ${s.images}, references ${s.references}${
      Object.keys(s.referencesByStatus).length
        ? ` (${Object.entries(s.referencesByStatus)
            .map(([k, v]) => `${v} ${k}`)
            .join(', ')})`
        : ''
    }, runs ${s.runs}`,
  );
  lines.push(
    `products ${s.products}, difference-image sources ${s.sources}${s.sfftSources ? ` (ZOGY; SFFT ${s.sfftSources})` : ''}`,
  );
  if (!s.run) {
    lines.push('no run yet (rapid launch --from … --to …)');
    return `${lines.join('\n')}\n`;
  }
  lines.push(
    `run ${s.run.id}: ${s.run.from} to ${s.run.to}${s.run.filter ? ` ${s.run.filter}` : ''}, ${s.run.pipeline} on ${s.run.executor}, ${s.run.status}`,
  );
  lines.push(
    `jobs ${s.jobs.total}: ${
      Object.entries(s.jobs.byStatus)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${n} ${k}`)
        .join(', ') || 'none'
    }`,
  );
  const codes = Object.entries(s.jobs.byExitCode);
  if (codes.length > 0) lines.push(`exit codes: ${codes.map(([k, n]) => `${k}: ${n}`).join(', ')}`);
  return `${lines.join('\n')}\n`;
}
