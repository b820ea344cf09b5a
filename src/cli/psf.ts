/** `rapid psf`: estimate an image's PSF from its stars and write it (PSF image + PSFEx-style model). */
import type { Command } from 'commander';
import { Header } from '../fits/header.ts';
import { writeFits } from '../fits/index.ts';
import { estimatePsf, psfHdus } from '../image/psf/index.ts';
import { loadImage } from '../pipeline/load.ts';
import { UsageError } from '../util/errors.ts';
import { parseIndex, parseNumber, printJson } from './options.ts';

export function registerPsfCommands(program: Command): void {
  program
    .command('psf')
    .description(
      'estimate the PSF of an image from its stars (an effective PSF, optionally oversampled and varying)',
    )
    .argument('<image>', 'FITS image (.fits, .fits.gz, .fz)')
    .requiredOption(
      '--out <file>',
      'output FITS: the PSF at the image centre, and the model in PSFEx layout (PSF_DATA)',
    )
    .option('--oversample <n>', 'grid nodes per pixel (default: 3 for undersampled PSFs, else 1)')
    .option('--degree <d>', 'polynomial degree of the variation over the image (0, 1, 2)', '0')
    .option('--size <px>', 'PSF stamp side in pixels (odd)', '25')
    .option('--hdu <n>', 'HDU holding the image (index or EXTNAME); default: the first image')
    .option('--saturation <level>', "saturation level (default: the header's, e.g. SATURATE)")
    .option('--json', 'print the PSF summary as JSON')
    .action(async (path: string, opts: Record<string, string | boolean | undefined>) => {
      const degree = parseIndex(String(opts.degree), '--degree');
      if (degree > 2) throw new UsageError(`--degree must be 0, 1 or 2, got ${degree}`);
      const size = parseIndex(String(opts.size), '--size');
      if (size % 2 !== 1 || size < 5) throw new UsageError(`--size must be an odd number ≥ 5, got ${size}`);
      const oversample =
        opts.oversample === undefined ? undefined : parseIndex(String(opts.oversample), '--oversample');
      if (oversample !== undefined && (oversample < 1 || oversample > 8)) {
        throw new UsageError(`--oversample must be from 1 to 8, got ${oversample}`);
      }
      const { image, metadata } = await loadImage(path, opts.hdu as string | undefined);
      const saturation =
        opts.saturation === undefined
          ? metadata.saturation
          : parseNumber(String(opts.saturation), '--saturation');
      const est = estimatePsf(image, {
        degree,
        size,
        oversample,
        saturation,
        gain: metadata.gain,
      });
      const shape = est.psf.shape();
      const extra = new Header();
      extra.set('PSFSTARS', est.stars.length, 'stars used');
      extra.set('PSFREJ', est.rejected, 'candidate stars rejected');
      extra.set('OVERSAMP', est.oversample, 'model grid nodes per pixel');
      extra.set('POLDEG', degree, 'degree of the variation over the image');
      extra.set('SOURCE', path.split('/').pop() ?? path, 'image the PSF was estimated from');
      await writeFits(String(opts.out), psfHdus(est.psf, extra));
      const summary = {
        file: String(opts.out),
        stars: est.stars.length,
        rejected: est.rejected,
        oversample: est.oversample,
        degree,
        size: est.psf.size,
        fwhm: shape.fwhm,
        ellipticity: shape.ellipticity,
      };
      if (opts.json) printJson(summary);
      else {
        console.log(
          `PSF from ${est.stars.length} stars (${est.rejected} rejected): FWHM ${shape.fwhm.toFixed(3)} px, ellipticity ${shape.ellipticity.toFixed(3)}; written to ${String(opts.out)}`,
        );
      }
    });
}
