/**
 * `rapid wcs pix2sky` and `rapid wcs sky2pix`: one position through the celestial WCS of a FITS
 * file (.fits, .fits.gz, .fz) or of a bare header file (80-character cards, with or without line
 * breaks, as astropy's .hdr files or SCAMP's .head files).
 *
 * Standard output holds the result only; which HDU was used goes to standard error.
 */
import { open } from 'node:fs/promises';
import { extname } from 'node:path';
import type { Command } from 'commander';
import { Header } from '../fits/header.ts';
import { readFits } from '../fits/index.ts';
import { BadInputError, MissingInputError, UsageError } from '../util/errors.ts';
import { hasCelestialAxes, Wcs } from '../wcs/index.ts';

/** A header to look for a WCS in, and where it is. */
export interface HeaderUnit {
  header: Header;
  index: number;
}

const HEADER_TEXT_EXTENSIONS = new Set(['.hdr', '.head', '.txt']);

function warnToStderr(message: string): void {
  console.error(`rapid: warning: ${message}`);
}

/** Are these bytes printable ASCII with optional line breaks: a header written as text? */
function isHeaderText(bytes: Uint8Array): boolean {
  for (const b of bytes) if ((b < 0x20 || b > 0x7e) && b !== 0x0a && b !== 0x0d) return false;
  return true;
}

async function readWhole(path: string): Promise<Uint8Array> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new MissingInputError(`${path}: no such file; check the path`);
    if (code === 'EISDIR') throw new BadInputError(`${path}: is a directory, not a FITS or header file`);
    throw err;
  }
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

function headerFromText(path: string, bytes: Uint8Array): HeaderUnit[] {
  const header = Header.fromText(Buffer.from(bytes).toString('latin1'), { file: path }, warnToStderr);
  return [{ header, index: 0 }];
}

/**
 * The headers of a FITS file (for a compressed image, the image's header), or the one header
 * of a header text file. A header file named .hdr/.head/.txt is read as text; any other name is
 * read as FITS first and, when that fails on a file of printable text, as text.
 */
export async function readHeaderUnits(path: string): Promise<HeaderUnit[]> {
  if (HEADER_TEXT_EXTENSIONS.has(extname(path).toLowerCase())) {
    const bytes = await readWhole(path);
    if (isHeaderText(bytes)) return headerFromText(path, bytes);
  }
  try {
    const file = await readFits(path, { warn: warnToStderr });
    return file.hdus.map((h) => ({ header: h.imageHeader, index: h.index }));
  } catch (err) {
    // A header saved without its data (astropy's .hdr files start with SIMPLE and end at END).
    if (err instanceof BadInputError) {
      const bytes = await readWhole(path);
      if (isHeaderText(bytes)) return headerFromText(path, bytes);
    }
    throw err;
  }
}

/** The WCS of the chosen HDU, or of the first HDU with celestial axes. */
export async function loadWcs(
  path: string,
  hdu?: string,
): Promise<{ wcs: Wcs; index: number; ctype: string }> {
  const units = await readHeaderUnits(path);
  let unit: HeaderUnit | undefined;
  if (hdu !== undefined) {
    const n = Number(hdu);
    unit = /^\s*\d+\s*$/.test(hdu)
      ? units.find((u) => u.index === n)
      : units.find(
          (u) =>
            String(u.header.get('EXTNAME') ?? '')
              .trim()
              .toUpperCase() === hdu.trim().toUpperCase(),
        );
    if (!unit) {
      throw new BadInputError(
        `${path}: no HDU '${hdu}'; the file has ${units.length} (0 … ${units.length - 1})`,
      );
    }
  } else {
    unit = units.find((u) => hasCelestialAxes(u.header));
    if (!unit) {
      const seen = units.map(
        (u) => `HDU ${u.index}: CTYPE1 = ${JSON.stringify(u.header.get('CTYPE1') ?? null)}`,
      );
      throw new BadInputError(
        `${path}: no HDU has a celestial WCS (CTYPE1/CTYPE2 such as 'RA---TAN'/'DEC--TAN'); ${seen.join(', ')}`,
      );
    }
  }
  const wcs = Wcs.fromHeader(unit.header, { source: { file: path, hdu: unit.index }, warn: warnToStderr });
  return { wcs, index: unit.index, ctype: String(unit.header.get('CTYPE1') ?? '').trim() };
}

/**
 * A number from the command line; a usage error (exit 64) when it is not one, as for every
 * command's numeric arguments (`rapid tile abc 10` too): the command line is wrong, not a file.
 */
function parseCoordinate(text: string, what: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v))
    throw new UsageError(`${what} must be a number, got '${text}'`);
  return v;
}

/** An angle in degrees, or sexagesimal (RA in hours: 12:30:49.4; Dec in degrees: -05:12:03). */
function parseAngle(text: string, what: 'RA' | 'Dec'): number {
  const m = /^\s*([+-]?)(\d+):(\d+)(?::(\d+(?:\.\d*)?))?\s*$/.exec(text);
  if (!m) return parseCoordinate(text, what);
  const [, sign, a, b, c] = m;
  const value = Number(a) + Number(b) / 60 + Number(c ?? 0) / 3600;
  if (Number(b) >= 60 || Number(c ?? 0) >= 60)
    throw new UsageError(`${what} '${text}' has minutes or seconds ≥ 60`);
  const deg = (what === 'RA' ? 15 : 1) * value;
  return sign === '-' ? -deg : deg;
}

function sexagesimal(value: number, hours: boolean, decimals: number): string {
  const sign = value < 0 ? '-' : hours ? '' : '+';
  // Round once, on the total number of seconds, so that 59.99995 does not print as 60.
  const scale = 10 ** decimals;
  let s = Math.round((Math.abs(value) / (hours ? 15 : 1)) * 3600 * scale) / scale;
  const d = Math.floor(s / 3600);
  s -= d * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const two = (n: number) => String(n).padStart(2, '0');
  return `${sign}${two(d)}:${two(m)}:${s.toFixed(decimals).padStart(decimals + 3, '0')}`;
}

interface WcsOptions {
  hdu?: string;
  oneBased?: boolean;
  json?: boolean;
}

function describeUse(path: string, index: number, ctype: string, oneBased: boolean): string {
  return `rapid: ${path} HDU ${index} (${ctype}); ${oneBased ? '1-based (FITS)' : '0-based'} pixels`;
}

export function registerWcsCommands(program: Command): void {
  const wcs = program
    .command('wcs')
    .description(
      'pixel ↔ sky through the celestial WCS (TAN, TAN-SIP, TPV, SIN, ZPN) of a FITS file or header',
    );

  wcs
    .command('pix2sky')
    .description('sky position (degrees) of a pixel position')
    .argument('<file>', 'FITS file (.fits, .fits.gz, .fz) or header file of 80-character cards')
    .argument('<x>', 'pixel x (0-based: the first pixel centre is 0; see --one-based)')
    .argument('<y>', 'pixel y')
    .option('--hdu <n>', 'HDU index or EXTNAME (default: the first HDU with a celestial WCS)')
    .option('--one-based', 'pixel coordinates in the FITS convention: the first pixel centre is 1')
    .option('--json', 'print {"ra": deg, "dec": deg} at full double precision')
    .action(async (path: string, xText: string, yText: string, opts: WcsOptions) => {
      const x = parseCoordinate(xText, 'x');
      const y = parseCoordinate(yText, 'y');
      const { wcs: w, index, ctype } = await loadWcs(path, opts.hdu);
      console.error(describeUse(path, index, ctype, opts.oneBased === true));
      const { ra, dec } = w.pixelToSky(x, y, { origin: opts.oneBased ? 1 : 0 });
      if (!Number.isFinite(ra) || !Number.isFinite(dec)) {
        throw new BadInputError(
          `pixel (${x}, ${y}) is outside the domain of the ${w.projection.code} projection: it has no sky position`,
        );
      }
      if (opts.json) {
        console.log(`{"ra": ${ra}, "dec": ${dec}}`);
        return;
      }
      if (w.axes[0] !== 'RA') {
        // Galactic or ecliptic: no hours, and the axes by their own names.
        console.log(`${w.axes[0]} ${ra.toFixed(10)} ${w.axes[1]} ${dec.toFixed(10)} deg`);
        return;
      }
      console.log(
        `RA ${ra.toFixed(10)} Dec ${dec.toFixed(10)} deg  (${sexagesimal(ra, true, 4)} ${sexagesimal(dec, false, 3)})`,
      );
    });

  wcs
    .command('sky2pix')
    .description('pixel position of a sky position')
    .argument('<file>', 'FITS file (.fits, .fits.gz, .fz) or header file of 80-character cards')
    .argument('<ra>', 'right ascension: degrees, or hours as hh:mm:ss.s')
    .argument('<dec>', 'declination: degrees, or ±dd:mm:ss.s (put -- before a negative dd:mm:ss)')
    .option('--hdu <n>', 'HDU index or EXTNAME (default: the first HDU with a celestial WCS)')
    .option('--one-based', 'pixel coordinates in the FITS convention: the first pixel centre is 1')
    .option('--json', 'print {"x": px, "y": px} at full double precision')
    .action(async (path: string, raText: string, decText: string, opts: WcsOptions) => {
      const ra = parseAngle(raText, 'RA');
      const dec = parseAngle(decText, 'Dec');
      if (dec < -90 || dec > 90) throw new UsageError(`Dec must be within ±90°, got ${dec}`);
      const { wcs: w, index, ctype } = await loadWcs(path, opts.hdu);
      console.error(describeUse(path, index, ctype, opts.oneBased === true));
      const origin = opts.oneBased ? 1 : 0;
      const { x, y } = w.skyToPixel(ra, dec, { origin });
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        throw new BadInputError(
          `RA ${ra}, Dec ${dec} cannot be placed on this image's ${w.projection.code} projection (far side of the sky, or beyond the distortion's range)`,
        );
      }
      if (w.width !== undefined && w.height !== undefined && !w.contains(ra, dec)) {
        console.error(`rapid: the position is outside the ${w.width} × ${w.height} image`);
      }
      if (opts.json) {
        console.log(`{"x": ${x}, "y": ${y}}`);
        return;
      }
      console.log(`x ${x.toFixed(6)} y ${y.toFixed(6)}  (${origin}-based pixels)`);
    });
}
