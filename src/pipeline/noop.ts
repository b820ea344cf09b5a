/**
 * The no-op pipeline: reads its manifest and writes a result record, doing no pixel work, so
 * that launch and aggregation can be measured on their own. Its configuration can ask for a
 * pause (`sleepMs`), an exit code (`exitCode`) and a catalog of `catalogRows` made-up sources
 * around the image centre (to measure registering sources); all default to nothing.
 */
import { z } from 'zod';
import { tileCentre } from '../sky/tiles.ts';
import { ExitCode, RapidError } from '../util/errors.ts';
import { type DiffCatalogRow, encodeDiffCatalog } from './catalog.ts';
import { type JobContext, type JobOutcome, type NoopManifest, SCIENCE_PRODUCTS } from './types.ts';

export const NoopConfigSchema = z.object({
  sleepMs: z.number().nonnegative().default(0),
  exitCode: z.number().int().min(0).max(255).default(0),
  catalogRows: z.number().int().nonnegative().default(0),
});

export async function runNoopJob(m: NoopManifest, ctx: JobContext): Promise<JobOutcome> {
  const config = NoopConfigSchema.parse(m.config);
  await ctx.step('noop', async () => {
    // The pause ends early when the job is interrupted, as a real step ends at its next check.
    if (config.sleepMs > 0 && !ctx.signal.aborted)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, config.sleepMs);
        ctx.signal.addEventListener(
          'abort',
          () => {
            clearTimeout(t);
            resolve();
          },
          { once: true },
        );
      });
  });
  if (ctx.signal.aborted)
    throw new RapidError('interrupted during the pause; launch again to resume', ExitCode.TEMPORARY);
  if (config.catalogRows > 0) {
    await ctx.step('catalog', async () => {
      const c = m.science ? tileCentre(m.science.tile, m.science.nside) : { ra: 0, dec: 0 };
      const rows: DiffCatalogRow[] = [];
      for (let i = 0; i < config.catalogRows; i++) {
        rows.push({
          number: i + 1,
          x: 10 + i,
          y: 10 + i,
          ra: c.ra + i * 1e-5,
          dec: c.dec + i * 1e-5,
          fluxPsf: 1000,
          fluxErrPsf: 10,
          magPsf: 20,
          magErrPsf: 0.01,
          snrPsf: 100,
          scorrPeak: 50,
          isDiffPos: i % 2 === 0,
          fwhm: 1.5,
          elongation: 1.1,
          flags: 0,
        });
      }
      await ctx.writeProduct(SCIENCE_PRODUCTS.diffcat, encodeDiffCatalog(rows));
    });
  }
  return {
    exitCode: config.exitCode as ExitCode,
    counts: { sources: config.catalogRows },
    message: config.exitCode === ExitCode.OK ? undefined : `noop job asked to end with ${config.exitCode}`,
  };
}
