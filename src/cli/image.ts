/**
 * `rapid background`, `rapid resample` and `rapid coadd`: read FITS, call the numerics of
 * src/image, write FITS. Informational lines go to standard error; `--json` puts a summary
 * on standard output.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Header } from '../fits/header.ts';
import { readImage, writeFits } from '../fits/index.ts';
import { estimateBackground } from '../image/background.ts';
import { type CoaddFrame, coadd, type TargetGrid, tileGrid } from '../image/coadd.ts';
import type { Image } from '../image/image.ts';
import { RESAMPLE_KERNELS, type ResampleKernelName, resample } from '../image/resample.ts';
import type { ExposureMetadata } from '../instrument/exposure.ts';
import { diskFrameStore } from '../pipeline/frame-store.ts';
import { effectiveHeader, loadImage, openFits } from '../pipeline/load.ts';
import { DEFAULT_NSIDE } from '../sky/tiles.ts';
import { BadInputError, UsageError } from '../util/errors.ts';
import { hasCelestialAxes, Wcs } from '../wcs/index.ts';
import { parseIndex, parseNumber, printJson } from './options.ts';

function wcsOf(header: Header, path: string): Wcs {
  if (!hasCelestialAxes(header)) {
    throw new BadInputError(
      `${path}: no celestial WCS (CTYPE1/CTYPE2 RA/DEC) in the image header or the primary header`,
    );
  }
  return Wcs.fromHeader(header);
}

/** Pixels, WCS and the optional VARIANCE and MASK extensions of a FITS file. */
async function loadWithPlanes(
  path: string,
): Promise<{ image: Image; header: Header; wcs: Wcs; metadata: ExposureMetadata }> {
  const loaded = await loadImage(path);
  const planes: { variance?: Float32Array; mask?: Uint8Array } = {};
  for (const h of loaded.fits.hdus) {
    const name = h.name?.toUpperCase();
    if (name !== 'VARIANCE' && name !== 'MASK') continue;
    const img = readImage(h);
    if (img.width !== loaded.image.width || img.height !== loaded.image.height) {
      throw new BadInputError(
        `${path}: the ${name} extension is ${img.width}×${img.height}, the image ${loaded.image.width}×${loaded.image.height}`,
      );
    }
    if (name === 'VARIANCE') planes.variance = Float32Array.from(img.data as ArrayLike<number>);
    else planes.mask = Uint8Array.from(img.data as ArrayLike<number>);
  }
  return {
    image: { ...loaded.image, ...planes },
    header: loaded.header,
    wcs: wcsOf(loaded.header, path),
    metadata: loaded.metadata,
  };
}

/** Target grid from a FITS file or header: its WCS and NAXIS1 × NAXIS2. */
async function gridFrom(path: string): Promise<TargetGrid> {
  const fits = await openFits(path);
  const h = fits.hdus.find((x) => x.shape.length === 2 && x.shape.every((n) => n > 0)) ?? fits.hdus[0];
  const header = effectiveHeader(fits, h.index);
  const width = header.optionalNumber('NAXIS1') ?? h.shape[0];
  const height = header.optionalNumber('NAXIS2') ?? h.shape[1];
  if (!(width > 0 && height > 0))
    throw new BadInputError(`${path}: the target grid has no size (NAXIS1, NAXIS2)`);
  return { wcs: wcsOf(header, path), width, height };
}

function kernelOption(text: string): ResampleKernelName {
  const k = text.toLowerCase() as ResampleKernelName;
  if (!RESAMPLE_KERNELS.includes(k))
    throw new UsageError(`--kernel must be one of ${RESAMPLE_KERNELS.join(', ')}, got '${text}'`);
  return k;
}

export function registerImageCommands(program: Command): void {
  program
    .command('background')
    .description('SourceExtractor-style mesh background and background RMS of an image')
    .argument('<image>', 'FITS image')
    .requiredOption('--out <file>', 'background map (FITS)')
    .option('--rms-out <file>', 'background RMS map (FITS)')
    .option('--back-size <n>', 'mesh size in pixels (BACK_SIZE)', '64')
    .option('--filter-size <n>', 'median filter size in meshes (BACK_FILTERSIZE)', '3')
    .option('--json', 'print the global background and RMS as JSON')
    .action(
      async (
        path: string,
        opts: { out: string; rmsOut?: string; backSize: string; filterSize: string; json?: boolean },
      ) => {
        const meshSize = parseIndex(opts.backSize, '--back-size');
        const filterSize = parseIndex(opts.filterSize, '--filter-size');
        if (meshSize < 1 || filterSize < 1)
          throw new UsageError('--back-size and --filter-size must be at least 1');
        const { image, header } = await loadImage(path);
        const bkg = estimateBackground(image, { meshSize, filterSize });
        const hdr = header.clone();
        hdr.set('BACKSIZE', meshSize, '[px] background mesh size');
        hdr.set('BACKFILT', filterSize, '[meshes] background median filter size');
        await writeFits(opts.out, [{ data: bkg.level, shape: [image.width, image.height], header: hdr }]);
        if (opts.rmsOut)
          await writeFits(opts.rmsOut, [{ data: bkg.rms, shape: [image.width, image.height], header: hdr }]);
        const summary = {
          global: bkg.mesh.globalLevel,
          globalRms: bkg.mesh.globalRms,
          meshes: [bkg.mesh.nx, bkg.mesh.ny],
          badMeshes: bkg.mesh.badMeshes,
        };
        if (opts.json) printJson(summary);
        else
          console.error(
            `background ${summary.global.toPrecision(6)}, RMS ${summary.globalRms.toPrecision(4)} (${summary.meshes.join('×')} meshes)`,
          );
      },
    );

  program
    .command('resample')
    .description(
      "warp an image onto a target FITS file's WCS grid, conserving flux (variance and mask come along)",
    )
    .argument('<image>', 'FITS image with a WCS (VARIANCE and MASK extensions are carried along)')
    .requiredOption('--onto <target>', 'FITS file (or header) whose WCS and NAXIS1×NAXIS2 define the grid')
    .requiredOption('--out <file>', 'output FITS: the image, then MASK, COVERAGE (and VARIANCE) extensions')
    .option('--kernel <name>', `interpolation kernel: ${RESAMPLE_KERNELS.join(', ')}`, 'lanczos3')
    .option('--json', 'print a summary as JSON')
    .action(async (path: string, opts: { onto: string; out: string; kernel: string; json?: boolean }) => {
      const kernel = kernelOption(opts.kernel);
      const grid = await gridFrom(opts.onto);
      const { image, wcs } = await loadWithPlanes(path);
      let out: Awaited<ReturnType<typeof resample>>;
      try {
        out = await resample(image, wcs, grid.wcs, grid.width, grid.height, { kernel });
      } catch (err) {
        if (err instanceof BadInputError)
          throw new BadInputError(`${path} onto ${opts.onto}: ${err.message}`);
        throw err;
      }
      const header = grid.wcs.toHeader();
      header.set('RESAMPKN', kernel, 'resampling kernel');
      header.set('FLUXCONS', true, 'fluxes conserved (pixel-area ratio applied)');
      const shape = [grid.width, grid.height];
      await writeFits(opts.out, [
        { data: out.data, shape, header },
        { data: out.mask, shape, name: 'MASK' },
        { data: out.coverage, shape, name: 'COVERAGE' },
        ...(out.variance ? [{ data: out.variance, shape, name: 'VARIANCE' }] : []),
      ]);
      const summary = { width: grid.width, height: grid.height, kernel, validPixels: out.validPixels };
      if (opts.json) printJson(summary);
      else
        console.error(
          `resampled onto ${grid.width}×${grid.height} (${kernel}): ${out.validPixels} pixels with data`,
        );
    });

  program
    .command('coadd')
    .description(
      'co-add images into a reference: background-subtracted, scaled to a common zero point, resampled, combined',
    )
    .argument('<inputs...>', 'FITS images with WCS (and a zero point: ZPTMAG, MAGZP, …)')
    .requiredOption(
      '--out <dir>',
      'output folder: refimage.fits, refimage_cov.fits, refimage_unc.fits, refimage_qa.json',
    )
    .option(
      '--tile <id>',
      'sky tile (HEALPix nested index): north-up TAN grid covering it plus a detector width',
    )
    .option('--nside <n>', 'HEALPix nside of --tile', String(DEFAULT_NSIDE))
    .option('--grid <target>', 'FITS file (or header) whose WCS and size define the grid')
    .option(
      '--combine <mode>',
      'clipped-mean (inverse-variance weighted, outliers rejected) or median',
      'clipped-mean',
    )
    .option(
      '--photometry <how>',
      'scale to a common zero point from header zero points (header) or matched stars (stars)',
      'header',
    )
    .option('--zero-point <mag>', 'the common zero point (default: the first input’s)')
    .option('--kernel <name>', `resampling kernel: ${RESAMPLE_KERNELS.join(', ')}`, 'lanczos3')
    .option('--json', 'print the QA values as JSON')
    .action(
      async (
        inputs: string[],
        opts: {
          out: string;
          tile?: string;
          nside: string;
          grid?: string;
          combine: string;
          photometry: string;
          zeroPoint?: string;
          kernel: string;
          json?: boolean;
        },
      ) => {
        if ((opts.tile === undefined) === (opts.grid === undefined))
          throw new UsageError('give exactly one of --tile ID or --grid TARGET.fits');
        if (opts.combine !== 'clipped-mean' && opts.combine !== 'median')
          throw new UsageError(`--combine must be clipped-mean or median, got '${opts.combine}'`);
        if (opts.photometry !== 'header' && opts.photometry !== 'stars')
          throw new UsageError(`--photometry must be header or stars, got '${opts.photometry}'`);
        const kernel = kernelOption(opts.kernel);
        const zeroPoint =
          opts.zeroPoint === undefined ? undefined : parseNumber(opts.zeroPoint, '--zero-point');
        const grid =
          opts.tile !== undefined
            ? tileGrid(parseIndex(opts.tile, '--tile'), parseIndex(opts.nside, '--nside'))
            : await gridFrom(opts.grid!);
        await mkdir(opts.out, { recursive: true });
        const frames: CoaddFrame[] = inputs.map((path) => ({
          name: path,
          load: async () => {
            const { image, wcs, metadata } = await loadWithPlanes(path);
            return {
              image,
              wcs,
              zeroPoint: metadata.zeroPoint,
              saturation: metadata.saturation,
            };
          },
        }));
        const started = performance.now();
        const result = await coadd(frames, grid, {
          combine: opts.combine,
          photometry: opts.photometry,
          zeroPoint,
          kernel,
          store: await diskFrameStore(opts.out, '.coadd-'),
          onFrame: (f) =>
            console.error(
              f.pixels > 0
                ? `${f.name}: scale ${f.scale.toPrecision(5)}${f.matchedStars !== undefined ? ` (${f.matchedStars} stars)` : ''}, ${f.pixels} pixels`
                : `${f.name}: does not overlap the grid; skipped`,
            ),
        });
        const header = grid.wcs.toHeader();
        header.set('NCOMBINE', result.qa.nInputs, 'inputs co-added');
        header.set('ZPTMAG', result.qa.zeroPoint, 'AB mag of 1 count (common zero point)');
        header.set('COMBINE', opts.combine, 'combination');
        const shape = [grid.width, grid.height];
        await writeFits(join(opts.out, 'refimage.fits'), [{ data: result.image, shape, header }]);
        await writeFits(join(opts.out, 'refimage_cov.fits'), [
          { data: result.coverage, shape, header: grid.wcs.toHeader() },
        ]);
        await writeFits(join(opts.out, 'refimage_unc.fits'), [
          { data: result.uncertainty, shape, header: grid.wcs.toHeader() },
        ]);
        const qa = {
          ...result.qa,
          width: grid.width,
          height: grid.height,
          tile: grid.tile?.id,
          seconds: Number(((performance.now() - started) / 1000).toFixed(2)),
          timings: Object.fromEntries(
            Object.entries(result.timings).map(([k, v]) => [k, Number(v.toFixed(2))]),
          ),
          frames: result.frames.map((f) => ({
            name: f.name,
            scale: f.scale,
            zeroPoint: f.zeroPoint,
            pixels: f.pixels,
          })),
        };
        await writeFile(join(opts.out, 'refimage_qa.json'), `${JSON.stringify(qa, null, 2)}\n`);
        if (opts.json) printJson(qa);
        else
          console.error(
            `co-added ${result.qa.nInputs} inputs onto ${grid.width}×${grid.height}: cov5percent ${result.qa.cov5percent.toFixed(1)}, FWHM ${result.qa.fwhmArcsec.toFixed(3)}″`,
          );
      },
    );
}
