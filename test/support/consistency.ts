/**
 * The check every fault test ends with: the database and the store agree.
 * - every registered job result is the job's result record of its current launch (its run id,
 *   and the checksum aggregation stored);
 * - every registered product exists with the checksum and size recorded;
 * - no job is "running" in a run that has ended or was interrupted.
 * Resolves to the problems found (empty when they agree).
 */

import type { Queryable } from '../../src/ops/db.ts';
import { parseResult } from '../../src/pipeline/manifest.ts';
import { StoreRouter } from '../../src/store/router.ts';
import { sha256 } from '../../src/store/store.ts';

export async function storeAndDatabaseDisagree(db: Queryable, s3Endpoint?: string): Promise<string[]> {
  const problems: string[] = [];
  const stores = new StoreRouter(s3Endpoint);
  try {
    const jobs = await db.query<{ id: number; run_id: number; result_uri: string; result_checksum: string }>(
      `SELECT id, run_id, result_uri, result_checksum FROM jobs
       WHERE aggregated_at IS NOT NULL AND result_checksum IS NOT NULL ORDER BY id`,
    );
    for (const j of jobs) {
      let bytes: Uint8Array;
      try {
        bytes = await stores.for(j.result_uri).get(j.result_uri);
      } catch (err) {
        problems.push(`job ${j.id}: registered result ${j.result_uri} unreadable: ${(err as Error).message}`);
        continue;
      }
      if (sha256(bytes) !== j.result_checksum)
        problems.push(`job ${j.id}: result record changed since it was registered`);
      const r = parseResult(Buffer.from(bytes).toString('utf8'), j.result_uri);
      if (r.runId !== Number(j.run_id))
        problems.push(`job ${j.id}: registered a result of run ${r.runId}, its launch is run ${j.run_id}`);
    }
    const products = await db.query<{ job_id: number; uri: string; checksum: string; bytes: number }>(
      'SELECT job_id, uri, checksum, bytes FROM products ORDER BY job_id, uri',
    );
    for (const p of products) {
      try {
        const b = await stores.for(p.uri).get(p.uri);
        if (sha256(b) !== p.checksum) problems.push(`job ${p.job_id}: product ${p.uri} checksum differs`);
        else if (b.length !== Number(p.bytes))
          problems.push(`job ${p.job_id}: product ${p.uri} size differs`);
      } catch (err) {
        problems.push(`job ${p.job_id}: product ${p.uri} unreadable: ${(err as Error).message}`);
      }
    }
    const orphans = await db.query<{ id: number; run_id: number; status: string }>(
      `SELECT j.id, j.run_id, r.status FROM jobs j JOIN runs r ON r.id = j.run_id
       WHERE j.status = 'running' AND r.status <> 'launched'`,
    );
    for (const o of orphans) problems.push(`job ${o.id}: "running" in run ${o.run_id}, which is ${o.status}`);
  } finally {
    await stores.close();
  }
  return problems;
}
