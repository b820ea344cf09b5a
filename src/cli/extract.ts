/**
 * `rapid extract IMAGE`: SourceExtractor-compatible source extraction (pipeline/extract.ts) from
 * the command line: --config and --params name SourceExtractor's .sex and .param files, --out
 * the ASCII_HEAD catalog, --fits-out a FITS table, --measure-on a measurement image, --psf a PSF.
 * Exit codes: 64 for an unsupported configuration or a wrong command line, 65 for bad input
 * data, 66 for a missing file.
 */
import type { Command } from 'commander';
import { COLUMNS } from '../image/extract/index.ts';
import { runExtract } from '../pipeline/extract.ts';
import { UsageError } from '../util/errors.ts';

export function registerExtractCommands(program: Command): void {
  program
    .command('extract')
    .description('detect and measure sources, SourceExtractor-compatible (reads .sex and .param files)')
    .argument('[image]', 'detection image (.fits, .fits.gz, .fz)')
    .option('--measure-on <image>', 'measure on this image (dual-image mode; same pixel grid)')
    .option('--config <file.sex>', "SourceExtractor configuration (default: SourceExtractor's defaults)")
    .option(
      '--params <file.param>',
      "output columns (default: the configuration's PARAMETERS_NAME; without --config, a built-in list)",
    )
    .option('--psf <psf.fits>', 'PSF stamp (centred, odd sides) for FLUX_PSF and friends')
    .option(
      '--psf-fit-position',
      'fit the position in the PSF fit too (default: linear flux fit at XWIN, YWIN)',
    )
    .option('--negative', 'also detect on −image (difference images: fainter-than-reference sources)')
    .option('--out <cat.txt>', 'catalog (ASCII_HEAD, or as CATALOG_TYPE says)')
    .option('--fits-out <cat.fits>', 'the catalog as a FITS binary table too')
    .option('--hdu <n>', 'HDU of the image (default: the first with image data)')
    .option(
      '--set <KEY=VALUE>',
      'override configuration keys (as source-extractor -KEY VALUE); repeat for more keys',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--list-params', 'list the supported output columns and exit')
    .action(async (image: string | undefined, opts: Record<string, unknown>) => {
      if (opts.listParams) {
        for (const c of COLUMNS.values())
          process.stdout.write(`${c.name.padEnd(22)} ${c.description}${c.unit ? ` [${c.unit}]` : ''}\n`);
        return;
      }
      if (image === undefined) throw new UsageError("missing required argument 'image'");
      if (!opts.out) throw new UsageError("required option '--out <cat.txt>' not specified");
      let hdu: number | undefined;
      if (opts.hdu !== undefined) {
        hdu = Number(opts.hdu);
        if (!Number.isInteger(hdu) || hdu < 0)
          throw new UsageError(`--hdu must be a non-negative integer, got '${opts.hdu}'`);
      }
      const r = await runExtract(String(image), {
        measureOn: opts.measureOn as string | undefined,
        config: opts.config as string | undefined,
        params: opts.params as string | undefined,
        psf: opts.psf as string | undefined,
        out: String(opts.out),
        fitsOut: opts.fitsOut as string | undefined,
        hdu,
        set: opts.set as string[] | undefined,
        negative: opts.negative === true,
        psfFitPosition: opts.psfFitPosition === true,
      });
      for (const w of r.warnings) console.error(`rapid: warning: ${w}`);
      console.error(`rapid extract: ${r.sources} sources → ${String(opts.out)}`);
    });
}
