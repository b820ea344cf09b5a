import type { Command } from 'commander';
import { DEFAULT_SIMULATION, simulateSurvey } from '../sim/simulate.ts';
import { UsageError } from '../util/errors.ts';
import { parseNumber, printJson } from './options.ts';
import { ProgressReporter } from './progress.ts';

function integer(text: string, name: string): number {
  const v = parseNumber(text, name);
  if (!Number.isInteger(v)) throw new UsageError(`${name} must be an integer, got '${text}'`);
  return v;
}

export function registerSimulateCommands(program: Command): void {
  const d = DEFAULT_SIMULATION;
  program
    .command('simulate')
    .description("simulate a Roman-like survey with truth, in OpenUniverse 2024's file layout")
    .requiredOption('--out <dir>', 'output folder')
    .option('--tiles <n>', 'number of sky tiles (HEALPix nside 512, contiguous)', String(d.tiles))
    .option('--epochs <n>', 'number of epochs', String(d.epochs))
    .option('--filters <list>', 'comma-separated filters, F158 or H158 spelling', d.filters.join(','))
    .option('--size <px>', 'detector side in pixels (64 … 4088)', String(d.size))
    .option('--scas <n>', 'detectors (SCAs) per pointing (1 … 18)', String(d.scas))
    .option('--seed <s>', 'random seed: the same seed gives the same survey', String(d.seed))
    .option('--start <date>', 'date of the first epoch (UTC)', d.start)
    .option('--cadence-days <d>', 'days between epochs', String(d.cadenceDays))
    .option(
      '--transients-per-image <n>',
      'mean number of transients and variables per image',
      String(d.transientsPerImage),
    )
    .option(
      '--transients-from <date>',
      'supernovae and flares appear from this date on (a reference season before it sees none of their light)',
    )
    .option('--psf <kind>', 'PSF profile: moffat or airy', d.psf)
    .option(
      '--psf-variation <f>',
      'fractional FWHM growth from detector centre to corner',
      String(d.psfVariation),
    )
    .option('--cosmic-rate <r>', 'cosmic rays per million pixels per 100 s', String(d.cosmicRate))
    .option('--bad-pixels <f>', 'share of bad pixels', String(d.badPixelFraction))
    .option('--star-density <n>', 'stars per deg² per magnitude at F158 = 20', String(d.starDensity))
    .option('--galaxy-density <n>', 'galaxies per deg² per magnitude at F158 = 22', String(d.galaxyDensity))
    .option('--no-noise', 'noise-free images (no Poisson or read noise, cosmic rays or bad pixels)')
    .option('--workers <n>', 'worker threads (default: every core)')
    .option('--json', 'print the survey summary as JSON')
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const psf = String(opts.psf);
      if (psf !== 'moffat' && psf !== 'airy')
        throw new UsageError(`--psf must be moffat or airy, got '${psf}'`);
      const progress = new ProgressReporter('simulate');
      const summary = await simulateSurvey(
        String(opts.out),
        {
          tiles: integer(String(opts.tiles), '--tiles'),
          epochs: integer(String(opts.epochs), '--epochs'),
          filters: String(opts.filters)
            .split(',')
            .map((f) => f.trim())
            .filter((f) => f !== ''),
          size: integer(String(opts.size), '--size'),
          scas: integer(String(opts.scas), '--scas'),
          seed: integer(String(opts.seed), '--seed'),
          start: String(opts.start),
          cadenceDays: parseNumber(String(opts.cadenceDays), '--cadence-days'),
          transientsPerImage: parseNumber(String(opts.transientsPerImage), '--transients-per-image'),
          transientsFrom: opts.transientsFrom === undefined ? undefined : String(opts.transientsFrom),
          psf,
          psfFwhm: opts.psfFwhm === undefined ? undefined : parseNumber(String(opts.psfFwhm), '--psf-fwhm'),
          psfVariation: parseNumber(String(opts.psfVariation), '--psf-variation'),
          cosmicRate: parseNumber(String(opts.cosmicRate), '--cosmic-rate'),
          badPixelFraction: parseNumber(String(opts.badPixels), '--bad-pixels'),
          starDensity: parseNumber(String(opts.starDensity), '--star-density'),
          galaxyDensity: parseNumber(String(opts.galaxyDensity), '--galaxy-density'),
          noise: opts.noise !== false,
          workers: opts.workers === undefined ? undefined : integer(String(opts.workers), '--workers'),
        },
        (p) => progress.update(p.done, p.total, p.image),
      );
      if (opts.json) {
        printJson(summary);
        return;
      }
      const c = summary.counts;
      console.log(
        `simulated ${c.images} images in ${String(opts.out)}: ${summary.filters.join(', ')}, ${summary.epochs.length} epochs, ${summary.tiles.ids.length} tiles; ${c.stars} stars, ${c.galaxies} galaxies, ${c.transients} transients, ${c.variables} variables`,
      );
    });
}
