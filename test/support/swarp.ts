/**
 * Running SWarp (the reference resampler and co-adder) on the same inputs as ours, with the
 * settings that make it comparable: no background subtraction, no flux rescaling other than
 * the local pixel-area ratio (FSCALASTRO_TYPE VARIABLE), no oversampling, no weight
 * rescaling, and the output grid given exactly by a `.head` file beside the output.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Header } from '../../src/fits/header.ts';
import { formatCard } from '../../src/fits/header.ts';

export interface SwarpRun {
  image: string;
  weight: string;
  seconds: number;
  /** Peak resident memory of SWarp, kB (from /usr/bin/time). */
  maxRssKb: number;
}

/** The target grid as SWarp's ASCII header: one 80-character card per line, then END. */
export function headText(header: Header, width: number, height: number): string {
  const cards = [
    `NAXIS   = ${'2'.padStart(20)}`,
    `NAXIS1  = ${String(width).padStart(20)}`,
    `NAXIS2  = ${String(height).padStart(20)}`,
  ];
  for (const c of header.cards) {
    if (['NAXIS', 'NAXIS1', 'NAXIS2', 'SIMPLE', 'BITPIX', 'END'].includes(c.key)) continue;
    cards.push(formatCard(c));
  }
  return `${[...cards.map((c) => c.padEnd(80)), 'END'.padEnd(80)].join('\n')}\n`;
}

export function runSwarp(
  inputs: string[],
  dir: string,
  target: Header,
  width: number,
  height: number,
  settings: Record<string, string> = {},
): SwarpRun {
  const image = join(dir, 'swarp.fits');
  const weight = join(dir, 'swarp.weight.fits');
  writeFileSync(join(dir, 'swarp.head'), headText(target, width, height));
  const config: Record<string, string> = {
    IMAGEOUT_NAME: image,
    WEIGHTOUT_NAME: weight,
    HEADER_SUFFIX: '.head',
    RESAMPLE_DIR: dir,
    RESAMPLING_TYPE: 'LANCZOS3',
    COMBINE: 'Y',
    COMBINE_TYPE: 'AVERAGE',
    SUBTRACT_BACK: 'N',
    FSCALASTRO_TYPE: 'VARIABLE',
    FSCALE_KEYWORD: 'NOSUCHKEY',
    FSCALE_DEFAULT: '1.0',
    OVERSAMPLING: '1',
    INTERPOLATE: 'N',
    RESCALE_WEIGHTS: 'N',
    WEIGHT_TYPE: 'NONE',
    CELESTIAL_TYPE: 'NATIVE',
    BLANK_BADPIXELS: 'Y',
    DELETE_TMPFILES: 'Y',
    COPY_KEYWORDS: '',
    WRITE_XML: 'N',
    WRITE_FILEINFO: 'N',
    VERBOSE_TYPE: 'QUIET',
    NTHREADS: '0',
    ...settings,
  };
  const args = ['-f', '%M', 'SWarp', ...inputs, '-c', '/dev/null'];
  for (const [k, v] of Object.entries(config)) args.push(`-${k}`, v);
  const t = performance.now();
  const r = spawnSync('/usr/bin/time', args, { encoding: 'utf8', cwd: dir, maxBuffer: 1 << 24 });
  const seconds = (performance.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`SWarp failed (${r.status}): ${r.stderr}`);
  const maxRssKb = Number(r.stderr.trim().split('\n').pop());
  return { image, weight, seconds, maxRssKb };
}
