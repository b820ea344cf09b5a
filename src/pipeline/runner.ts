/**
 * The job runner behind `rapid job run MANIFEST_URI`, the one entry point every executor calls.
 *
 * 1. Read and validate the manifest (a missing manifest is 66, a malformed one 65: no result
 *    record can be written then, since the output prefix is not known).
 * 2. Remove a previous result record under the output prefix (a forced re-run): from here on,
 *    a result record means the products of this run are complete.
 * 3. Run the pipeline (reference, science or noop) with a JobContext: named, timed steps,
 *    verified reads, atomic product writes with checksums, a structured log.
 * 4. Map what happened to the exit code (architecture.md, "Exit codes"), write job.log, then
 *    the result record, last.
 *
 * It never touches the database. Its process exit code is the job's.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { confineToStore } from '../store/confine.ts';
import { joinUri } from '../store/index.ts';
import { StoreRouter } from '../store/router.ts';
import type { PutData } from '../store/store.ts';
import { ExitCode, RapidError, systemError } from '../util/errors.ts';
import { processAlive } from '../util/pid.ts';
import { configHash, parseManifest, parseResult, toJson } from './manifest.ts';
import { runNoopJob } from './noop.ts';
import { runPostprocessJob } from './postprocess.ts';
import { runReferenceJob } from './reference.ts';
import {
  type JobContext,
  type JobLogger,
  type JobOutcome,
  LOG_NAME,
  type Manifest,
  type ObjectRef,
  type ProductRecord,
  productKind,
  type QaValue,
  RESULT_NAME,
  RESULT_VERSION,
  type ResultRecord,
  type ScienceManifest,
  SOFTWARE,
  type StepTiming,
} from './types.ts';

class InterruptedError extends RapidError {
  constructor(what: string) {
    super(`interrupted ${what}; launch again to resume`, ExitCode.TEMPORARY);
  }
}

/** The exit code an error ends a job with. */
export function exitCodeOf(err: unknown): ExitCode {
  // The same mapping as the commands': a full disk 75, no permission 77, a missing file 66.
  return systemError(err)?.exitCode ?? ExitCode.INTERNAL;
}

/** Fill in the reference's checksums from its build job's result record, when launch did not know them. */
async function resolveReference(m: ScienceManifest, stores: StoreRouter): Promise<ScienceManifest> {
  const ref = m.reference;
  const known = ref.image.checksum && ref.coverage.checksum && ref.uncertainty.checksum;
  if (known || !ref.resultUri) {
    if (!known)
      throw new RapidError(
        `reference v${ref.version} of tile ${ref.tile} ${ref.filter}: checksums unknown and no result record to read them from`,
        ExitCode.BAD_INPUT,
      );
    return m;
  }
  let text: string;
  try {
    text = await stores.for(ref.resultUri).getText(ref.resultUri);
  } catch (err) {
    if (err instanceof RapidError && err.exitCode === ExitCode.MISSING_INPUT)
      throw new RapidError(
        `reference v${ref.version} of tile ${ref.tile} ${ref.filter} is not built yet (no ${ref.resultUri})`,
        ExitCode.MISSING_INPUT,
      );
    throw err;
  }
  const r = parseResult(text, ref.resultUri);
  if (r.exitCode !== 0 && r.exitCode !== 4)
    throw new RapidError(
      `reference v${ref.version} of tile ${ref.tile} ${ref.filter}: its build job ${r.jobId} ended with exit ${r.exitCode}`,
      r.exitCode === ExitCode.NO_REFERENCE ? ExitCode.NO_REFERENCE : ExitCode.MISSING_INPUT,
    );
  const byUri = new Map(r.products.map((p) => [p.uri, p.checksum]));
  const fill = <T extends { uri: string; checksum?: string }>(o: T): T => ({
    ...o,
    checksum: o.checksum ?? byUri.get(o.uri),
  });
  const reference = {
    ...ref,
    image: fill(ref.image),
    coverage: fill(ref.coverage),
    uncertainty: fill(ref.uncertainty),
    psf: ref.psf ? fill(ref.psf) : undefined,
  };
  if (reference.psf && !reference.psf.checksum) reference.psf = undefined;
  for (const [what, o] of [
    ['image', reference.image],
    ['coverage', reference.coverage],
    ['uncertainty', reference.uncertainty],
  ] as const) {
    if (!o.checksum)
      throw new RapidError(
        `reference ${what} ${o.uri} is not among its build job's products (${ref.resultUri})`,
        ExitCode.MISSING_INPUT,
      );
  }
  return { ...m, reference };
}

export interface RunJobOptions {
  s3Endpoint?: string;
  /** Aborting it stops the job at the next step (exit 75, interrupted). */
  signal?: AbortSignal;
  /** Echo the job's log lines to standard error (default true). */
  echo?: boolean;
}

export interface RunJobResult {
  exitCode: number;
  result?: ResultRecord;
  resultUri?: string;
  message?: string;
}

/** Run the job a manifest describes. Never throws: resolves to the exit code (and the result record written). */
export async function runJob(manifestUri: string, options: RunJobOptions = {}): Promise<RunJobResult> {
  const started = new Date();
  const stores = new StoreRouter(options.s3Endpoint);
  const echo = options.echo ?? true;
  let manifest: Manifest;
  try {
    manifest = parseManifest(await stores.for(manifestUri).getText(manifestUri), manifestUri);
    // Nothing is written until the manifest's own paths are known to lie inside its store.
    await confineToStore(manifest.store.root, manifest.outputPrefix, `${manifestUri}: outputPrefix`);
    if (manifest.pipeline === 'reference')
      await confineToStore(manifest.store.root, manifest.referencePrefix, `${manifestUri}: referencePrefix`);
  } catch (err) {
    await stores.close();
    const message = err instanceof Error ? err.message : String(err);
    if (echo) process.stderr.write(`rapid: ${message}\n`);
    return { exitCode: exitCodeOf(err), message };
  }
  const endpoint = manifest.store.endpoint ?? options.s3Endpoint;
  const router = endpoint === options.s3Endpoint ? stores : new StoreRouter(endpoint);
  const resultUri = joinUri(manifest.outputPrefix, RESULT_NAME);
  const logLines: string[] = [];
  const line = (level: string, message: string, fields?: Record<string, unknown>) => {
    const text = toJson({ time: new Date().toISOString(), level, job: manifest.jobId, message, ...fields });
    logLines.push(text);
    if (echo) process.stderr.write(`${text}\n`);
  };
  const log: JobLogger = {
    info: (m, f) => line('info', m, f),
    warn: (m, f) => line('warn', m, f),
    error: (m, f) => line('error', m, f),
  };
  const steps: StepTiming[] = [];
  const products: ProductRecord[] = [];
  const inputs: ObjectRef[] = [];
  const signal = options.signal ?? new AbortController().signal;
  await removeStaleJobDirs();
  const tmpDir = await mkdtemp(join(tmpdir(), `rapid-job-${manifest.jobId}-p${process.pid}-`));
  // A job told to end at once (its worker or launcher died) exits without unwinding: still tidy.
  const removeTmp = () => rmSync(tmpDir, { recursive: true, force: true });
  process.once('exit', removeTmp);

  const put = async (uri: string, data: PutData, kind: string): Promise<ProductRecord> => {
    await confineToStore(manifest.store.root, uri, 'product');
    const o = await router.for(uri).put(uri, data);
    const rec = { kind, uri: o.uri, checksum: o.checksum, bytes: o.bytes };
    const i = products.findIndex((p) => p.uri === rec.uri);
    if (i >= 0) products[i] = rec;
    else products.push(rec);
    return rec;
  };
  const ctx: JobContext = {
    manifest,
    log,
    tmpDir,
    signal,
    async step<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
      if (signal.aborted) throw new InterruptedError(`before step ${name}`);
      const t0 = performance.now();
      const start = new Date().toISOString();
      try {
        const out = await fn();
        const seconds = (performance.now() - t0) / 1000;
        steps.push({ name, start, seconds, ok: true });
        log.info(`step ${name} done`, { step: name, seconds: Number(seconds.toFixed(3)) });
        return out;
      } catch (err) {
        steps.push({ name, start, seconds: (performance.now() - t0) / 1000, ok: false });
        throw err;
      }
    },
    async read(ref) {
      const b = await router.for(ref.uri).get(ref.uri, ref.checksum);
      inputs.push(ref);
      return b;
    },
    async fetch(ref) {
      const p = await router.for(ref.uri).localPath(ref.uri, tmpDir, ref.checksum);
      inputs.push(ref);
      return p;
    },
    writeProduct: (name, data, kind) =>
      put(joinUri(manifest.outputPrefix, name), data, kind ?? productKind(name)),
    writeObject: (uri, data, kind) => put(uri, data, kind),
  };

  let outcome: JobOutcome;
  let message: string | undefined;
  try {
    // A forced re-run: the old result record goes first, so that none describes half-new products.
    await router.for(resultUri).delete(resultUri);
    log.info(`${manifest.pipeline} job ${manifest.jobId} started`, {
      manifest: manifestUri,
      software: SOFTWARE,
    });
    if (manifest.pipeline === 'noop') outcome = await runNoopJob(manifest, ctx);
    else if (manifest.pipeline === 'reference') outcome = await runReferenceJob(manifest, ctx);
    else if (manifest.pipeline === 'postprocess') outcome = await runPostprocessJob(manifest, ctx);
    else {
      // Loaded when a science job runs: its numerics are not a noop or reference job's cost.
      const { runScienceJob } = await import('./science.ts');
      const resolved = await ctx.step('resolve-reference', () =>
        resolveReference(manifest as ScienceManifest, router),
      );
      outcome = await runScienceJob(resolved, { ...ctx, manifest: resolved });
    }
    message = outcome.message;
  } catch (err) {
    const exitCode = signal.aborted && !(err instanceof RapidError) ? ExitCode.TEMPORARY : exitCodeOf(err);
    message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    if (exitCode === ExitCode.INTERNAL && err instanceof Error && !(err instanceof RapidError))
      log.error(`internal error: ${message}`, { stack: err.stack });
    else log.error(message, { exitCode });
    outcome = { exitCode, message };
  }
  const interrupted = signal.aborted && outcome.exitCode === ExitCode.TEMPORARY;
  const status: ResultRecord['status'] =
    outcome.exitCode === 0 || outcome.exitCode === 4 ? 'succeeded' : interrupted ? 'interrupted' : 'failed';
  const ended = new Date();
  log.info(`${manifest.pipeline} job ${manifest.jobId} ${status} (exit ${outcome.exitCode})`, {
    seconds: (ended.getTime() - started.getTime()) / 1000,
  });

  let result: ResultRecord | undefined;
  try {
    await put(joinUri(manifest.outputPrefix, LOG_NAME), `${logLines.join('\n')}\n`, 'log');
    for (const p of outcome.products ?? []) if (!products.some((q) => q.uri === p.uri)) products.push(p);
    const qa: Record<string, QaValue> = {};
    for (const [k, v] of Object.entries(outcome.qa ?? {}))
      qa[k] = typeof v === 'number' && !Number.isFinite(v) ? null : v;
    result = {
      version: RESULT_VERSION,
      jobId: manifest.jobId,
      runId: manifest.runId,
      pipeline: manifest.pipeline,
      status,
      exitCode: outcome.exitCode,
      message,
      started: started.toISOString(),
      ended: ended.toISOString(),
      elapsedSeconds: (ended.getTime() - started.getTime()) / 1000,
      steps,
      products,
      qa,
      counts: outcome.counts ?? {},
      software: SOFTWARE,
      config: manifest.config,
      configHash: manifest.configHash,
      inputs: dedupe(inputs),
      manifestUri,
      host: hostname(),
      pid: process.pid,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
    // Last: its presence means every product above is complete.
    await router.for(resultUri).put(resultUri, `${toJson(result, 2)}\n`, { contentType: 'application/json' });
  } catch (err) {
    const m = err instanceof Error ? err.message : String(err);
    if (echo) process.stderr.write(`rapid: cannot write the result record ${resultUri}: ${m}\n`);
    process.off('exit', removeTmp);
    await cleanup(tmpDir, router, stores);
    const code = exitCodeOf(err);
    return { exitCode: code === ExitCode.OK ? ExitCode.TEMPORARY : code, message: m };
  }
  process.off('exit', removeTmp);
  await cleanup(tmpDir, router, stores);
  return { exitCode: outcome.exitCode, result, resultUri, message };
}

function dedupe(refs: ObjectRef[]): ObjectRef[] {
  const seen = new Map<string, ObjectRef>();
  for (const r of refs) seen.set(r.uri, { uri: r.uri, checksum: r.checksum });
  return [...seen.values()];
}

const JOB_DIR = /^rapid-job-\d+-p(\d+)-/;

/** Temporary folders of jobs whose process is gone (killed by SIGKILL, or the machine reset). */
async function removeStaleJobDirs(): Promise<void> {
  const base = tmpdir();
  const names = await readdir(base).catch(() => [] as string[]);
  for (const name of names) {
    const m = JOB_DIR.exec(name);
    if (m && Number(m[1]) !== process.pid && !processAlive(Number(m[1])))
      await rm(join(base, name), { recursive: true, force: true }).catch(() => {});
  }
}

async function cleanup(tmpDir: string, ...routers: StoreRouter[]): Promise<void> {
  await rm(tmpDir, { recursive: true, force: true }).catch(() => {});
  for (const r of new Set(routers)) await r.close();
}

export interface FailureRecordOptions {
  manifestUri: string;
  resultUri: string;
  jobId: number;
  runId?: number;
  pipeline: ResultRecord['pipeline'];
  exitCode: number;
  message: string;
  started?: Date;
  stores: StoreRouter;
}

/**
 * A result record written by an executor on behalf of a job that ended without one (it crashed,
 * was killed, or never ran because its reference job failed), so that aggregation registers the
 * failure like any other. The manifest gives the run and configuration when it can be read.
 */
export async function writeFailureRecord(o: FailureRecordOptions): Promise<ResultRecord> {
  let manifest: Manifest | undefined;
  try {
    manifest = parseManifest(await o.stores.for(o.manifestUri).getText(o.manifestUri), o.manifestUri);
  } catch {
    // a missing or malformed manifest is the failure being recorded
  }
  const config = manifest?.config ?? {};
  const ended = new Date();
  const started = o.started ?? ended;
  const result: ResultRecord = {
    version: RESULT_VERSION,
    jobId: o.jobId,
    runId: manifest?.runId ?? o.runId ?? 0,
    pipeline: o.pipeline,
    status: 'failed',
    exitCode: o.exitCode,
    message: o.message,
    started: started.toISOString(),
    ended: ended.toISOString(),
    elapsedSeconds: (ended.getTime() - started.getTime()) / 1000,
    steps: [],
    products: [],
    qa: {},
    counts: {},
    software: SOFTWARE,
    config,
    configHash: manifest?.configHash ?? configHash(config),
    inputs: [],
    manifestUri: o.manifestUri,
    host: hostname(),
    pid: process.pid,
    peakRssBytes: 0,
  };
  await o.stores
    .for(o.resultUri)
    .put(o.resultUri, `${toJson(result, 2)}\n`, { contentType: 'application/json' });
  return result;
}
