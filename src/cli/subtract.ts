/**
 * `rapid subtract`: ZOGY and/or SFFT subtraction of a science image and a reference, with the
 * difference catalogs. Exit 4 when SFFT fails beside ZOGY (ZOGY's products are complete).
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { exposureMetadata } from '../instrument/exposure.ts';
import { loadImage, loadPsf } from '../pipeline/load.ts';
import { subtractionProducts } from '../pipeline/products.ts';
import { DEFAULT_SUBTRACT, type SubtractImage, subtract, subtractMethod } from '../pipeline/subtract.ts';
import { sha256 } from '../store/store.ts';
import { BadInputError, ExitCode, UsageError } from '../util/errors.ts';
import { hasCelestialAxes, Wcs } from '../wcs/index.ts';
import { parseNumber, printJson } from './options.ts';

async function loadPlane(path: string, width: number, height: number, what: string): Promise<Float32Array> {
  const { image } = await loadImage(path);
  if (image.width !== width || image.height !== height) {
    throw new BadInputError(
      `${path}: the ${what} is ${image.width}×${image.height}, its image ${width}×${height}`,
    );
  }
  return image.data;
}

export function registerSubtractCommands(program: Command): void {
  program
    .command('subtract')
    .description(
      'subtract a reference from a science image with ZOGY and/or SFFT; writes the difference products and catalogs',
    )
    .requiredOption('--sci <file>', 'science image (FITS)')
    .requiredOption('--ref <file>', 'reference image (FITS)')
    .requiredOption('--out <dir>', 'output folder for the products')
    .option('--sci-psf <file>', 'science PSF (FITS image or PSFEx .psf); estimated from stars otherwise')
    .option('--ref-psf <file>', 'reference PSF; estimated otherwise')
    .option('--sci-unc <file>', '1σ uncertainty image of the science image')
    .option('--ref-unc <file>', '1σ uncertainty image of the reference')
    .option('--ref-coverage <file>', 'coverage map of the reference (frames per pixel)')
    .option('--sci-dq <file>', 'data-quality image of the science image (nonzero = bad)')
    .option('--sci-gain <g>', 'science gain, e⁻ per unit (default: the GAIN card)')
    .option('--ref-gain <g>', 'reference gain (default: the GAIN card)')
    .option('--flux-ratio <r>', 'science/reference flux ratio, instead of measuring it')
    .option(
      '--astrometric-sigma <px>',
      'registration noise in pixels when too few bright stars measure it (default 0.2)',
    )
    .option('--aligned', 'the images share one pixel grid (cutouts without a WCS): no resampling')
    .option('--threshold <sigma>', '|Scorr| detection threshold', String(DEFAULT_SUBTRACT.detectThreshold))
    .option(
      '--coverage-threshold <frames>',
      'mask reference pixels with less coverage',
      String(DEFAULT_SUBTRACT.coverageThreshold),
    )
    .option(
      '--cosmic-rays <mode>',
      "'search' the science image for cosmic rays, or 'none' when they were removed or flagged upstream (Roman's ramp fitting, a data-quality image)",
      DEFAULT_SUBTRACT.cosmicRays ? 'search' : 'none',
    )
    .option(
      '--method <name>',
      "'zogy', 'sfft' or 'both' (SFFT's products are named sfftdiffimage_*; exit 4 when SFFT fails beside ZOGY)",
      DEFAULT_SUBTRACT.method,
    )
    .option(
      '--sfft-mode <mode>',
      "'cross' (both images cross-convolved with the other's PSF, then decorrelated; RAPID's --crossconv) or 'direct' (the reference convolved toward the science image)",
      DEFAULT_SUBTRACT.sfft.mode,
    )
    .option(
      '--sfft-convolve <image>',
      "direct mode: the image SFFT's kernel convolves, 'auto' (the one with the sharper PSF), 'reference' or 'science'",
      DEFAULT_SUBTRACT.sfft.convolve,
    )
    .option('--kernel-half-width <px>', "SFFT's kernel half-width", String(DEFAULT_SUBTRACT.sfft.halfWidth))
    .option(
      '--kernel-order <n>',
      "polynomial degree of SFFT's kernel variation over the image (0-2)",
      String(DEFAULT_SUBTRACT.sfft.kernelOrder),
    )
    .option(
      '--background-order <n>',
      "polynomial degree of SFFT's differential background (0-2)",
      String(DEFAULT_SUBTRACT.sfft.backgroundOrder),
    )
    .option('--json', 'print the QA summary as JSON')
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const sci = await loadImage(String(opts.sci));
      const ref = await loadImage(String(opts.ref));
      const wcsOf = (h: typeof sci.header) => (hasCelestialAxes(h) ? Wcs.fromHeader(h) : undefined);
      const num = (name: string) =>
        opts[name] === undefined ? undefined : parseNumber(String(opts[name]), `--${name}`);
      const science: SubtractImage = {
        image: sci.image,
        header: sci.header,
        wcs: opts.aligned ? wcsOf(sci.header) : Wcs.fromHeader(sci.header),
        psf: opts.sciPsf === undefined ? undefined : await loadPsf(String(opts.sciPsf)),
        gain: num('sciGain'),
        uncertainty: opts.sciUnc
          ? await loadPlane(String(opts.sciUnc), sci.image.width, sci.image.height, 'uncertainty')
          : undefined,
        dataQuality: opts.sciDq
          ? await loadPlane(String(opts.sciDq), sci.image.width, sci.image.height, 'data-quality image')
          : undefined,
      };
      const reference: SubtractImage = {
        image: ref.image,
        header: ref.header,
        wcs: opts.aligned ? wcsOf(ref.header) : Wcs.fromHeader(ref.header),
        psf: opts.refPsf === undefined ? undefined : await loadPsf(String(opts.refPsf)),
        gain: num('refGain'),
        uncertainty: opts.refUnc
          ? await loadPlane(String(opts.refUnc), ref.image.width, ref.image.height, 'uncertainty')
          : undefined,
        coverage: opts.refCoverage
          ? await loadPlane(String(opts.refCoverage), ref.image.width, ref.image.height, 'coverage map')
          : undefined,
      };
      const fluxRatio = num('fluxRatio');
      const crMode = String(opts.cosmicRays);
      if (crMode !== 'search' && crMode !== 'none')
        throw new UsageError(`--cosmic-rays must be 'search' or 'none', got '${crMode}'`);
      const method = subtractMethod(String(opts.method));
      const sfftMode = String(opts.sfftMode);
      if (sfftMode !== 'cross' && sfftMode !== 'direct')
        throw new UsageError(`--sfft-mode must be 'cross' or 'direct', got '${sfftMode}'`);
      const sfftConvolve = String(opts.sfftConvolve);
      if (sfftConvolve !== 'auto' && sfftConvolve !== 'reference' && sfftConvolve !== 'science')
        throw new UsageError(
          `--sfft-convolve must be 'auto', 'reference' or 'science', got '${sfftConvolve}'`,
        );
      const order = (name: string, flag: string) => {
        const v = parseNumber(String(opts[name]), flag);
        if (!Number.isInteger(v) || v < 0 || v > 2)
          throw new UsageError(`${flag} must be 0, 1 or 2, got ${v}`);
        return v;
      };
      const halfWidth = parseNumber(String(opts.kernelHalfWidth), '--kernel-half-width');
      if (!Number.isInteger(halfWidth) || halfWidth < 1 || halfWidth > 30)
        throw new UsageError(`--kernel-half-width must be an integer from 1 to 30, got ${halfWidth}`);
      const timings: Record<string, number> = {};
      const result = await subtract(
        science,
        reference,
        {
          aligned: Boolean(opts.aligned),
          cosmicRays: crMode === 'search',
          astrometricSigma: num('astrometricSigma'),
          fluxRatio,
          detectThreshold: parseNumber(String(opts.threshold), '--threshold'),
          coverageThreshold: parseNumber(String(opts.coverageThreshold), '--coverage-threshold'),
          method,
          sfft: {
            mode: sfftMode,
            convolve: sfftConvolve,
            halfWidth,
            kernelOrder: order('kernelOrder', '--kernel-order'),
            backgroundOrder: order('backgroundOrder', '--background-order'),
          },
        },
        async (name, fn) => {
          const t0 = performance.now();
          const v = await fn();
          timings[name] = (performance.now() - t0) / 1000;
          console.error(
            JSON.stringify({ event: 'step', step: name, seconds: Number(timings[name].toFixed(3)) }),
          );
          return v;
        },
      );
      for (const w of result.warnings) console.error(`rapid: warning: ${w}`);
      const out = String(opts.out);
      await mkdir(out, { recursive: true });
      const zeroPoint = science.zeroPoint ?? exposureMetadata(sci.header).zeroPoint ?? 0;
      const written: { name: string; kind: string; bytes: number; sha256: string }[] = [];
      for (const p of subtractionProducts(result, sci.header, science.wcs, zeroPoint)) {
        const path = join(out, p.name);
        await writeFile(`${path}.tmp`, p.bytes);
        await rename(`${path}.tmp`, path);
        written.push({
          name: p.name,
          kind: p.kind,
          bytes: p.bytes.length,
          sha256: sha256(p.bytes).slice('sha256:'.length),
        });
      }
      const summary = { qa: result.qa, warnings: result.warnings, timings, products: written };
      const sfft = result.sfft;
      if (opts.json) printJson(summary);
      else {
        if (result.zogy)
          console.log(
            `ZOGY: ${result.sources.length} difference sources (${result.qa.vettedSources} pass vetting); flux ratio ${Number(result.qa.fluxRatio).toFixed(4)} (${result.qa.fluxRatioMethod})`,
          );
        if (sfft?.result)
          console.log(
            `SFFT: ${sfft.sources.length} difference sources (${sfft.sources.filter((s) => s.vetFlags === 0).length} pass vetting); flux ratio ${sfft.result.fluxRatio.toFixed(4)} (kernel sum)`,
          );
        console.log(`products in ${out}`);
      }
      if (sfft?.error) {
        console.error(`rapid: SFFT failed (exit 4; ZOGY's products are complete): ${sfft.error}`);
        process.exitCode = ExitCode.SECONDARY_FAILED;
      }
    });
}
