/**
 * The post-processing job (stage 3), one per difference image, so that pixel work stays in
 * jobs: forced PSF photometry at the positions of the objects the image covers (light curves),
 * and cutouts of science, reference and difference around its vetted detections (alerts).
 *
 * Products: `forced.fits` (a binary table: OBJECT_ID, X, Y, FLUX, FLUXERR, CHI2, NPIX, FLAGS;
 * one row per object inside the image; FLUXERR includes the error scale measured on the image,
 * ERRSCALE in the table's header) and `cutouts.json` ({ "<sourceId>": { science,
 * template, difference } }, each a base64 gzipped FITS stamp with its WCS).
 */
import { readFits } from '../fits/index.ts';
import { ForcedFlag, forcedErrorScale, forcedPhotometry } from '../image/forced.ts';
import { psfFromFits } from '../image/psf/index.ts';
import { ExitCode } from '../util/errors.ts';
import { Wcs } from '../wcs/index.ts';
import { cutoutStamps } from './cutouts.ts';
import { encodeForcedTable, type ForcedRow } from './forcedcat.ts';
import { loadImage } from './load.ts';
import { type JobContext, type JobOutcome, POSTPROCESS_PRODUCTS, type PostprocessManifest } from './types.ts';

export async function runPostprocessJob(m: PostprocessManifest, ctx: JobContext): Promise<JobOutcome> {
  const { d, diff, psf, wcs } = await ctx.step('read-inputs', async () => {
    const d = await loadImage(await ctx.fetch(m.difference));
    const u = await loadImage(await ctx.fetch(m.uncertainty));
    const variance = new Float32Array(u.image.data.length);
    for (let i = 0; i < variance.length; i++) variance[i] = u.image.data[i] ** 2;
    return {
      d,
      diff: { ...d.image, variance },
      psf: psfFromFits(await readFits(await ctx.fetch(m.psf))),
      wcs: Wcs.fromHeader(d.header),
    };
  });
  // Errors from per-pixel variances, corrected by the scatter measured on this image.
  const errors = await ctx.step('error-scale', () => forcedErrorScale(diff, psf));
  ctx.log.info('forced-photometry error scale', { ...errors });
  const rows = await ctx.step('forced-photometry', () => {
    const out: ForcedRow[] = [];
    for (const o of m.objects) {
      const p = wcs.skyToPixel(o.ra, o.dec);
      const f = forcedPhotometry(diff, psf, p.x, p.y);
      // Objects the image does not cover are not rows: the planner only knows footprints roughly.
      if (f.flags & ForcedFlag.OUTSIDE) continue;
      out.push({ objectId: o.objectId, x: p.x, y: p.y, ...f, fluxErr: f.fluxErr * errors.scale });
    }
    return out;
  });
  await ctx.step('write-forced', () =>
    ctx.writeProduct(POSTPROCESS_PRODUCTS.forced, encodeForcedTable(rows, errors)),
  );
  let stamps = 0;
  if (m.cutouts.length > 0) {
    stamps = await ctx.step('cutouts', async () => {
      const science = await loadImage(
        await ctx.fetch({ uri: m.science.uri, checksum: m.science.checksum }),
        m.science.hdu,
      );
      const template = await loadImage(await ctx.fetch(m.template));
      const json = cutoutStamps(m.cutouts, { science, template, difference: d });
      await ctx.writeProduct(POSTPROCESS_PRODUCTS.cutouts, JSON.stringify(json));
      return Object.keys(json).length;
    });
  }
  return {
    exitCode: ExitCode.OK,
    counts: { objects: m.objects.length, measured: rows.length, cutouts: stamps },
    qa: {
      inputsHash: typeof m.config.inputsHash === 'string' ? m.config.inputsHash : null,
      forcedErrorScale: errors.scale,
      forcedErrorScaleSamples: errors.samples,
    },
  };
}
