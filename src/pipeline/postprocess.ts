/**
 * The post-processing job (stage 3), one per difference image, so that pixel work stays in
 * jobs: forced PSF photometry at the positions of the objects the image covers (light curves),
 * and cutouts of science, reference and difference around its vetted detections (alerts).
 *
 * Products: `forced.fits` (a binary table: OBJECT_ID, X, Y, FLUX, FLUXERR, CHI2, NPIX, FLAGS;
 * one row per object inside the image, objects within half a PSF stamp of each other fitted
 * together; FLUXERR includes the error scale measured on the image,
 * ERRSCALE in the table's header, and what the static scene under the object leaves in the
 * difference, ERRTMPL × the template's PSF flux there; APRATIO and APVAR, the PSF flux checked
 * against a 3-FWHM aperture where the object is bright and alone) and `cutouts.json` ({ "<sourceId>": { science,
 * template, difference } }, each a base64 gzipped FITS stamp with its WCS).
 */
import { readFits } from '../fits/index.ts';
import {
  apertureRatios,
  ForcedFlag,
  forcedErrorScale,
  forcedPhotometryMany,
  templateResidual,
} from '../image/forced.ts';
import { psfFromFits } from '../image/psf/index.ts';
import { median, regularSample } from '../image/stats.ts';
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
  // The reference on the science grid: what the static scene leaves behind, per unit of its flux.
  const { template, templateLevel, residual } = await ctx.step('template-residual', async () => {
    const template = await loadImage(await ctx.fetch(m.template));
    // The template's sky: the median of a regular sample of its pixels.
    const templateLevel = median(regularSample(template.image.data)) || 0;
    const residual = templateResidual(diff, template.image, psf, errors.scale, templateLevel);
    return { template, templateLevel, residual };
  });
  ctx.log.info('forced-photometry template residual', { ...residual });
  const rows = await ctx.step('forced-photometry', () => {
    const points = m.objects.map((o) => wcs.skyToPixel(o.ra, o.dec));
    const fluxes = forcedPhotometryMany(diff, psf, points, {
      errorScale: errors.scale,
      residual: { fraction: residual.fraction, template: template.image, background: templateLevel },
    });
    // Checks of the PSF model against apertures, pooled over images by `rapid postprocess`.
    const checks = apertureRatios(diff, psf, points, fluxes, {
      template: { image: template.image, background: templateLevel },
    });
    const out: ForcedRow[] = [];
    m.objects.forEach((o, i) => {
      // Objects the image does not cover are not rows: the planner only knows footprints roughly.
      if (fluxes[i].flags & ForcedFlag.OUTSIDE) return;
      out.push({
        objectId: o.objectId,
        x: points[i].x,
        y: points[i].y,
        ...fluxes[i],
        apRatio: checks[i]?.ratio,
        apVariance: checks[i]?.variance,
      });
    });
    return out;
  });
  await ctx.step('write-forced', () =>
    ctx.writeProduct(POSTPROCESS_PRODUCTS.forced, encodeForcedTable(rows, errors, residual)),
  );
  let stamps = 0;
  if (m.cutouts.length > 0) {
    stamps = await ctx.step('cutouts', async () => {
      const science = await loadImage(
        await ctx.fetch({ uri: m.science.uri, checksum: m.science.checksum }),
        m.science.hdu,
      );
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
      forcedTemplateResidual: residual.fraction,
      forcedTemplateResidualSamples: residual.samples,
    },
  };
}
