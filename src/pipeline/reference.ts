import { z } from 'zod';
import { encodeFits, readFits } from '../fits/index.ts';
import { type CoaddFrame, coadd, type TargetGrid, tileGrid } from '../image/coadd.ts';
import { estimatePsf, psfHdus } from '../image/psf/index.ts';
import { WorkerPool } from '../image/workers.ts';
import { BadInputError, ExitCode, RapidError } from '../util/errors.ts';
import { Wcs } from '../wcs/index.ts';
import { diskFrameStore } from './frame-store.ts';
import { effectiveHeader, exposureImage } from './load.ts';
import {
  type ImageInput,
  type JobContext,
  type JobOutcome,
  REFERENCE_PRODUCTS,
  type ReferenceManifest,
} from './types.ts';

export const ReferenceConfigSchema = z.object({
  /** Frames needed for a reference (RAPID: 3). */
  minInputs: z.number().int().positive().default(3),
  combine: z.enum(['clipped-mean', 'median']).default('clipped-mean'),
  clipSigma: z.number().positive().default(3),
  kernel: z.enum(['lanczos3', 'bilinear', 'nearest']).default('lanczos3'),
  /** Arcsec per pixel of the reference grid. */
  pixelScale: z.number().positive().default(0.11),
  /** 'inputs': the tile's grid cropped to where the inputs land; 'tile': the whole grid (tile plus a detector). */
  grid: z.enum(['inputs', 'tile']).default('inputs'),
  /** Worker threads for resampling (0: every core). */
  threads: z.number().int().nonnegative().default(0),
});
export type ReferenceConfig = z.infer<typeof ReferenceConfigSchema>;

/** A grid sharing `grid`'s WCS, cut to the pixel box [x0, x0+w) × [y0, y0+h). */
function subGrid(grid: TargetGrid, x0: number, y0: number, w: number, h: number): TargetGrid {
  const p = grid.wcs.parameters;
  const wcs = new Wcs({ ...p, crpix: [p.crpix[0] - x0, p.crpix[1] - y0], width: w, height: h });
  return { wcs, width: w, height: h, tile: grid.tile };
}

export async function runReferenceJob(m: ReferenceManifest, ctx: JobContext): Promise<JobOutcome> {
  const config = ReferenceConfigSchema.parse(m.config);
  if (m.inputs.length < config.minInputs)
    throw new RapidError(
      `tile ${m.tile} ${m.filter}: ${m.inputs.length} input frames, at least ${config.minInputs} needed for a reference`,
      ExitCode.NO_REFERENCE,
    );

  // Each input is fetched (and verified) once.
  const paths = new Map<string, Promise<string>>();
  const fetchInput = (input: ImageInput) => {
    let p = paths.get(input.uri);
    if (!p) {
      p = ctx.fetch({ uri: input.uri, checksum: input.checksum });
      paths.set(input.uri, p);
    }
    return p;
  };

  const target = await ctx.step('grid', async () => {
    const margin = Math.max(...m.inputs.map((i) => Math.max(i.width, i.height)));
    const full = tileGrid(m.tile, m.nside, { pixelScale: config.pixelScale, margin });
    if (config.grid === 'tile') return full;
    // The box of the tile's grid that the inputs reach: their edges, through both WCSs.
    let x0 = Number.POSITIVE_INFINITY;
    let y0 = Number.POSITIVE_INFINITY;
    let x1 = Number.NEGATIVE_INFINITY;
    let y1 = Number.NEGATIVE_INFINITY;
    for (const input of m.inputs) {
      const fits = await readFits(await fetchInput(input));
      const wcs = Wcs.fromHeader(effectiveHeader(fits, input.hdu));
      const w = input.width;
      const h = input.height;
      for (let k = 0; k <= 8; k++) {
        const t = k / 8;
        for (const [x, y] of [
          [-0.5 + t * w, -0.5],
          [-0.5 + t * w, h - 0.5],
          [-0.5, -0.5 + t * h],
          [w - 0.5, -0.5 + t * h],
        ]) {
          const s = wcs.pixelToSky(x, y);
          const p = full.wcs.skyToPixel(s.ra, s.dec);
          x0 = Math.min(x0, p.x);
          x1 = Math.max(x1, p.x);
          y0 = Math.min(y0, p.y);
          y1 = Math.max(y1, p.y);
        }
      }
    }
    const bx0 = Math.max(0, Math.floor(x0) - 2);
    const by0 = Math.max(0, Math.floor(y0) - 2);
    const bx1 = Math.min(full.width, Math.ceil(x1) + 3);
    const by1 = Math.min(full.height, Math.ceil(y1) + 3);
    if (!(bx1 > bx0 && by1 > by0))
      throw new RapidError(
        `tile ${m.tile} ${m.filter}: no input lands on the tile's grid`,
        ExitCode.NO_REFERENCE,
      );
    return subGrid(full, bx0, by0, bx1 - bx0, by1 - by0);
  });
  ctx.log.info('reference grid', { width: target.width, height: target.height, inputs: m.inputs.length });

  const frames: CoaddFrame[] = m.inputs.map((input) => ({
    name: input.uri,
    load: async () => {
      const fits = await readFits(await fetchInput(input));
      const { image, header, metadata } = exposureImage(fits, input.hdu);
      if (image.width !== input.width || image.height !== input.height)
        throw new BadInputError(
          `${input.uri}, HDU ${input.hdu}: expected a ${input.width}×${input.height} image, got ${image.width}×${image.height}`,
        );
      return {
        image,
        wcs: Wcs.fromHeader(header),
        zeroPoint: input.zeroPoint,
        saturation: metadata.saturation,
      };
    },
  }));

  const pool = new WorkerPool(config.threads > 0 ? config.threads : undefined);
  let result: Awaited<ReturnType<typeof coadd>>;
  try {
    result = await ctx.step('coadd', async () =>
      coadd(frames, target, {
        combine: config.combine,
        clipSigma: config.clipSigma,
        kernel: config.kernel,
        store: await diskFrameStore(ctx.tmpDir),
        pool,
        onFrame: (f) =>
          ctx.log.info(f.pixels > 0 ? 'frame resampled' : 'frame does not overlap the grid', {
            input: f.name,
            scale: f.scale,
            pixels: f.pixels,
          }),
      }),
    );
  } finally {
    await pool.close();
  }
  if (result.qa.nInputs < config.minInputs)
    throw new RapidError(
      `tile ${m.tile} ${m.filter}: only ${result.qa.nInputs} of ${m.inputs.length} inputs overlap the grid; at least ${config.minInputs} needed`,
      ExitCode.NO_REFERENCE,
    );

  // The co-add's PSF, estimated once here rather than in every science job of this reference
  // (on a tile-sized grid it is a large share of a science job's time). Too few stars is not a
  // failure: the science jobs then estimate it themselves, or say why they cannot.
  const psf = await ctx.step('psf', () => {
    try {
      return estimatePsf({ width: target.width, height: target.height, data: result.image }, { minStars: 3 });
    } catch (err) {
      if (!(err instanceof BadInputError)) throw err;
      ctx.log.warn(`no PSF model for the reference: ${err.message}`);
      return undefined;
    }
  });

  await ctx.step('write', async () => {
    const header = () => {
      const h = target.wcs.toHeader();
      h.set('TILE', m.tile, 'sky tile (HEALPix nested)');
      h.set('NSIDE', m.nside, 'HEALPix nside of TILE');
      h.set('FILTER', m.filter, 'Roman filter');
      h.set('REFVERS', m.referenceVersion, 'reference version');
      h.set('NCOMBINE', result.qa.nInputs, 'inputs co-added');
      h.set('ZPTMAG', result.qa.zeroPoint, 'AB mag of 1 count (common zero point)');
      h.set('COV5PCT', Number(result.qa.cov5percent.toFixed(3)), '% of the tile covered by >= 5 frames');
      h.set('JID', m.jobId, 'job that built it');
      return h;
    };
    const shape = [target.width, target.height];
    const prefix = m.referencePrefix.replace(/\/+$/, '');
    const h = header();
    h.set('BUNIT', 'DN', 'counts scaled to ZPTMAG');
    await ctx.writeObject(
      `${prefix}/${REFERENCE_PRODUCTS.refimage}`,
      encodeFits([{ data: result.image, shape, header: h }], { checksum: true }),
      'refimage',
    );
    await ctx.writeObject(
      `${prefix}/${REFERENCE_PRODUCTS.refimage_cov}`,
      encodeFits([{ data: Int16Array.from(result.coverage), shape, header: header() }], { checksum: true }),
      'refimage_cov',
    );
    await ctx.writeObject(
      `${prefix}/${REFERENCE_PRODUCTS.refimage_unc}`,
      encodeFits([{ data: result.uncertainty, shape, header: header() }], { checksum: true }),
      'refimage_unc',
    );
    if (psf)
      await ctx.writeObject(
        `${prefix}/${REFERENCE_PRODUCTS.refimage_psf}`,
        encodeFits(psfHdus(psf.psf, header()), { checksum: true }),
        'refimage_psf',
      );
  });
  return {
    exitCode: ExitCode.OK,
    qa: {
      ...result.qa,
      width: target.width,
      height: target.height,
      inputsGiven: m.inputs.length,
      ...(psf
        ? { psfFwhm: psf.psf.fwhm(target.width / 2, target.height / 2), psfStars: psf.stars.length }
        : {}),
    },
    counts: { inputs: result.qa.nInputs },
  };
}
