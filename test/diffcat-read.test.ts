/** Reading the difference-image catalog: which position a source is registered at. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeFits, parseFits, readTable } from '../src/fits/index.ts';
import { PsfFlag } from '../src/image/extract/flags.ts';
import type { DiffCatalogRow } from '../src/pipeline/catalog.ts';
import { decodeDiffCatalog, encodeDiffCatalog } from '../src/pipeline/catalog.ts';

const source = (n: number): DiffCatalogRow => ({
  number: n,
  x: 100 + n,
  y: 200 + n,
  ra: 10 + n / 1000,
  dec: -44 - n / 1000,
  fluxPsf: 1000,
  fluxErrPsf: 10,
  magPsf: 20,
  magErrPsf: 0.01,
  snrPsf: 100,
  scorrPeak: 20,
  isDiffPos: true,
  fwhm: 1.5,
  elongation: 1.1,
  flags: 0,
});

test('the PSF fit position where the fit converged, the barycentre otherwise or without PSF columns', () => {
  const rows = [1, 2, 3, 4].map(source);
  const base = encodeDiffCatalog(rows);
  // The same table with the PSF fit's position and flags, as the science job writes them.
  const flags = [0, PsfFlag.HAS_MASKED, PsfFlag.NOT_CONVERGED, PsfFlag.NO_DATA];
  const withPsf = encodeFits([
    { data: [], shape: [] },
    {
      kind: 'bintable',
      name: 'LDAC_OBJECTS',
      columns: [
        ...decodeColumns(base),
        { name: 'XPSF_IMAGE', data: Float64Array.from(rows, (r) => r.x + 0.4) },
        { name: 'YPSF_IMAGE', data: Float64Array.from(rows, (r) => r.y - 0.3) },
        { name: 'ALPHAPSF_J2000', data: Float64Array.from(rows, (r) => r.ra + 1e-5) },
        { name: 'DELTAPSF_J2000', data: Float64Array.from(rows, (r) => r.dec - 1e-5) },
        { name: 'FLAGS_PSF', data: Int16Array.from(flags) },
      ],
    },
  ]);
  const read = decodeDiffCatalog(withPsf, 'test');
  for (const [i, s] of read.entries()) {
    const fitted = i < 2;
    assert.equal(s.x, rows[i].x + (fitted ? 0.4 : 0), `source ${i + 1} x`);
    assert.equal(s.y, rows[i].y - (fitted ? 0.3 : 0), `source ${i + 1} y`);
    assert.equal(s.ra, rows[i].ra + (fitted ? 1e-5 : 0), `source ${i + 1} ra`);
    assert.equal(s.dec, rows[i].dec - (fitted ? 1e-5 : 0), `source ${i + 1} dec`);
  }
  // Catalogs from other software without the PSF columns: the barycentre.
  assert.deepEqual(
    decodeDiffCatalog(base, 'test').map((s) => [s.x, s.ra]),
    rows.map((r) => [r.x, r.ra]),
  );
});

/** The columns of an encoded catalog, to extend it. */
function decodeColumns(bytes: Uint8Array) {
  const table = readTable(parseFits(bytes).hdus[1]);
  return table.columns.map((c) => ({ name: c.name, data: c.data as Float64Array }));
}
