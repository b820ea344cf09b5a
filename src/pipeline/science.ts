/**
 * The science job: one science image against its reference (built in stage 1), producing the
 * difference-image products and catalog (architecture.md, "One science job"). Manifest in,
 * products out through the job context; never a database connection.
 */
import { z } from 'zod';
import { readFits } from '../fits/index.ts';
import { psfFromFits } from '../image/psf/index.ts';
import { BadInputError, ExitCode } from '../util/errors.ts';
import { Wcs } from '../wcs/index.ts';
import { loadImage } from './load.ts';
import { subtractionProducts } from './products.ts';
import { DEFAULT_SFFT, DEFAULT_SUBTRACT, subtract } from './subtract.ts';
import type { JobContext, JobOutcome, ObjectRef, PendingObjectRef, ScienceManifest } from './types.ts';
import { SCIENCE_PRODUCTS } from './types.ts';

/** The science job's configuration (manifest.config), with RAPID-like defaults. */
export const ScienceConfigSchema = z
  .object({
    detectThreshold: z.number().positive().default(DEFAULT_SUBTRACT.detectThreshold),
    coverageThreshold: z.number().nonnegative().default(DEFAULT_SUBTRACT.coverageThreshold),
    resampleKernel: z.enum(['nearest', 'bilinear', 'lanczos3']).default(DEFAULT_SUBTRACT.resampleKernel),
    tileSize: z.number().int().min(64).default(DEFAULT_SUBTRACT.tileSize),
    matchRadius: z.number().positive().default(DEFAULT_SUBTRACT.matchRadius),
    minMatches: z.number().int().positive().default(DEFAULT_SUBTRACT.minMatches),
    cosmicRays: z.boolean().default(DEFAULT_SUBTRACT.cosmicRays),
    fluxRatio: z.number().positive().optional(),
    /** Science jobs run both methods, as RAPID does; ZOGY's catalog is the primary one. */
    method: z.enum(['zogy', 'sfft', 'both']).default('both'),
    sfft: z
      .object({
        mode: z.enum(['cross', 'direct']).default(DEFAULT_SFFT.mode),
        convolve: z.enum(['auto', 'reference', 'science']).default(DEFAULT_SFFT.convolve),
        halfWidth: z.number().int().min(1).max(30).default(DEFAULT_SFFT.halfWidth),
        kernelOrder: z.number().int().min(0).max(2).default(DEFAULT_SFFT.kernelOrder),
        backgroundOrder: z.number().int().min(0).max(2).default(DEFAULT_SFFT.backgroundOrder),
      })
      .default(DEFAULT_SFFT),
  })
  .passthrough();

/** Product file name → the kind the aggregator and the result record use. */
const KIND_OF = new Map<string, string>(Object.entries(SCIENCE_PRODUCTS).map(([kind, name]) => [name, kind]));

function resolved(ref: PendingObjectRef, what: string): ObjectRef {
  if (!ref.checksum)
    throw new BadInputError(`the reference's ${what} has no checksum (its build job left no result record)`);
  return { uri: ref.uri, checksum: ref.checksum };
}

export async function runScienceJob(manifest: ScienceManifest, ctx: JobContext): Promise<JobOutcome> {
  const config = ScienceConfigSchema.parse(manifest.config ?? {});
  const inputs = await ctx.step('read-inputs', async () => {
    const sciPath = await ctx.fetch({ uri: manifest.science.uri, checksum: manifest.science.checksum });
    const refPath = await ctx.fetch(resolved(manifest.reference.image, 'image'));
    const covPath = await ctx.fetch(resolved(manifest.reference.coverage, 'coverage map'));
    const uncPath = await ctx.fetch(resolved(manifest.reference.uncertainty, 'uncertainty map'));
    const sci = await loadImage(sciPath, manifest.science.hdu);
    const ref = await loadImage(refPath);
    const cov = await loadImage(covPath);
    const unc = await loadImage(uncPath);
    const psf = manifest.reference.psf?.checksum
      ? psfFromFits(await readFits(await ctx.fetch(resolved(manifest.reference.psf, 'PSF'))))
      : undefined;
    return { sci, ref, cov: cov.image.data, unc: unc.image.data, psf };
  });
  ctx.log.info('inputs read', {
    science: manifest.science.uri,
    reference: manifest.reference.image.uri,
    referenceInputs: manifest.reference.nInputs,
  });
  const { sci, ref } = inputs;
  const scienceWcs = Wcs.fromHeader(sci.header);
  const result = await subtract(
    {
      image: sci.image,
      header: sci.header,
      wcs: scienceWcs,
      gain: manifest.science.gain,
      zeroPoint: manifest.science.zeroPoint,
    },
    {
      image: ref.image,
      header: ref.header,
      wcs: Wcs.fromHeader(ref.header),
      psf: inputs.psf,
      uncertainty: inputs.unc,
      coverage: inputs.cov,
      zeroPoint: manifest.reference.zeroPoint,
    },
    {
      detectThreshold: config.detectThreshold,
      coverageThreshold: config.coverageThreshold,
      resampleKernel: config.resampleKernel,
      tileSize: config.tileSize,
      matchRadius: config.matchRadius,
      minMatches: config.minMatches,
      cosmicRays: config.cosmicRays,
      // The reference's PSF is the reference job's own estimate from its stars.
      checkPsf: false,
      fluxRatio: config.fluxRatio,
      method: config.method,
      sfft: config.sfft,
    },
    (name, fn) => ctx.step(name, fn),
  );
  for (const w of result.warnings) ctx.log.warn(w);
  await ctx.step('write-products', async () => {
    for (const p of subtractionProducts(result, sci.header, scienceWcs, manifest.science.zeroPoint)) {
      await ctx.writeProduct(p.name, p.bytes, KIND_OF.get(p.name) ?? p.kind);
    }
  });
  const qa: Record<string, number | string | boolean> = {};
  for (const [k, v] of Object.entries(result.qa))
    qa[k] = typeof v === 'number' && !Number.isFinite(v) ? String(v) : v;
  qa.referenceInputs = manifest.reference.nInputs;
  const positive = result.sources.filter((s) => s.sign > 0).length;
  const sfft = result.sfft;
  if (sfft?.error) ctx.log.warn('SFFT failed; ZOGY products complete (exit 4)', { error: sfft.error });
  return {
    exitCode: sfft?.error ? ExitCode.SECONDARY_FAILED : ExitCode.OK,
    qa,
    counts: {
      sources: result.sources.length,
      positive,
      negative: result.sources.length - positive,
      vetted: result.sources.filter((s) => s.vetFlags === 0).length,
      ...(sfft?.result
        ? {
            sfftSources: sfft.sources.length,
            sfftVetted: sfft.sources.filter((s) => s.vetFlags === 0).length,
          }
        : {}),
    },
    message: `${result.sources.length} difference sources (${positive} brighter), flux ratio ${result.match.fluxRatio.toFixed(4)} (${result.match.method})${sfft?.result ? `; SFFT ${sfft.sources.length} sources, flux ratio ${sfft.result.fluxRatio.toFixed(4)}` : ''}${sfft?.error ? `; SFFT failed: ${sfft.error}` : ''}`,
  };
}
