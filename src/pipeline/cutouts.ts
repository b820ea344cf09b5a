/**
 * The cutouts of a post-processing job: for each vetted detection, stamps of the science image,
 * the reference on the science grid (the template) and the difference, each a gzipped FITS
 * image with its WCS (alerts/cutout.ts), keyed by the detection's database id.
 */
import { CUTOUT_SIZE, cutout } from '../alerts/cutout.ts';
import { Header } from '../fits/header.ts';
import type { Image } from '../image/image.ts';
import { Wcs } from '../wcs/index.ts';

export interface StampSource {
  image: Image;
  header: Header;
}

export type CutoutSet = Record<string, { science: string; template: string; difference: string }>;

/** Stamps for every position, as base64 strings (the job's `cutouts.json`). */
export function cutoutStamps(
  positions: readonly { sourceId: number; x: number; y: number }[],
  images: { science: StampSource; template: StampSource; difference: StampSource },
  size = CUTOUT_SIZE,
): CutoutSet {
  const kinds = ['science', 'template', 'difference'] as const;
  const wcs = Object.fromEntries(kinds.map((k) => [k, Wcs.fromHeader(images[k].header)])) as Record<
    (typeof kinds)[number],
    Wcs
  >;
  const out: CutoutSet = {};
  for (const p of positions) {
    const stamp = (k: (typeof kinds)[number]) => {
      const { image } = images[k];
      const header = new Header();
      header.set('CUTOUT', k, 'what the stamp shows');
      header.set('SOURCEID', p.sourceId, 'database id of the difference-image source');
      return Buffer.from(
        cutout(image.data, image.width, image.height, p.x, p.y, wcs[k], { size, header }),
      ).toString('base64');
    };
    out[String(p.sourceId)] = {
      science: stamp('science'),
      template: stamp('template'),
      difference: stamp('difference'),
    };
  }
  return out;
}
