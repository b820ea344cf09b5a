import type { Command } from 'commander';
import { DEFAULT_NSIDE, tileCentre, tileCorners, tileNeighbours, tileOf } from '../sky/tiles.ts';
import { parseNumber, printJson } from './options.ts';

export function registerTileCommands(program: Command): void {
  program
    .command('tile')
    .description('the sky tile (HEALPix nested index) containing a position, with its centre')
    .argument('<ra>', 'right ascension, degrees')
    .argument('<dec>', 'declination, degrees')
    .option('--nside <n>', 'HEALPix nside (a power of two)', String(DEFAULT_NSIDE))
    .option('--corners', 'also give the corners (N, W, S, E) and the 8 neighbours')
    .option('--json', 'print JSON: {"nside", "tile", "ra", "dec"} (ra/dec: the tile centre)')
    .action((raText: string, decText: string, opts: { nside: string; json?: boolean; corners?: boolean }) => {
      const ra = parseNumber(raText, 'RA');
      const dec = parseNumber(decText, 'Dec');
      const nside = parseNumber(opts.nside, '--nside');
      const tile = tileOf(ra, dec, nside);
      const centre = tileCentre(tile, nside);
      const extra = opts.corners
        ? { corners: tileCorners(tile, nside), neighbours: tileNeighbours(tile, nside) }
        : {};
      if (opts.json) {
        printJson({ nside, tile, ra: centre.ra, dec: centre.dec, ...extra });
        return;
      }
      console.log(
        `tile ${tile} (nside ${nside}, nested): centre RA ${centre.ra.toFixed(6)} Dec ${centre.dec.toFixed(6)}`,
      );
      if (opts.corners) {
        const names = ['N', 'W', 'S', 'E'];
        tileCorners(tile, nside).forEach((c, i) => {
          console.log(`  corner ${names[i]}: RA ${c.ra.toFixed(6)} Dec ${c.dec.toFixed(6)}`);
        });
        console.log(`  neighbours (SW W NW N NE E SE S): ${tileNeighbours(tile, nside).join(' ')}`);
      }
    });
}
