/**
 * A simulated science/reference pair on one grid, written as raw float32 files for benchmark
 * children to read (each child its own process, so its time and memory are its own): sci.f32,
 * ref.f32, the truth's transients, and the true PSFs (Moffat β 2.5, FWHM 2.5 and 2.2 px) as
 * unit-sum stamps psci{side}.f32 / pref{side}.f32 for each side asked for.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { centralStamp, phaseStamps } from '../../src/sim/psf.ts';
import { makePair } from '../../test/support/pairs.ts';

export const SCIENCE_PSF = { kind: 'moffat' as const, fwhm: 2.5, beta: 2.5 };
export const REFERENCE_PSF = { kind: 'moffat' as const, fwhm: 2.2, beta: 2.5 };

/** Write the pair for an n² image; returns its transients (0-based positions, fluxes). */
export function writePairFiles(
  dir: string,
  n: number,
  sides: number[],
): { x: number; y: number; flux: number }[] {
  const p = makePair({
    size: n,
    stars: Math.round((1500 * n * n) / 4088 ** 2) * 10,
    transients: 200,
    scienceFwhm: SCIENCE_PSF.fwhm,
    referenceFwhm: REFERENCE_PSF.fwhm,
  });
  const write = (name: string, a: Float32Array) =>
    writeFileSync(join(dir, name), Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  write('sci.f32', p.science);
  write('ref.f32', p.reference);
  // The true PSFs out to each stamp's edge (not the simulator's 99.8% radius), unit sum.
  for (const side of sides) {
    for (const [name, profile] of [
      [`psci${side}.f32`, SCIENCE_PSF],
      [`pref${side}.f32`, REFERENCE_PSF],
    ] as const) {
      const s = centralStamp(phaseStamps(profile, (side - 1) / 2));
      let sum = 0;
      for (const v of s) sum += v;
      write(
        name,
        s.map((v) => v / sum),
      );
    }
  }
  return p.transients;
}

/** One of the pair's files. */
export function readPairFile(dir: string, name: string): Float32Array {
  const b = readFileSync(join(dir, name));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4).slice();
}
