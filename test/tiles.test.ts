import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  angularDistance,
  DEFAULT_NSIDE,
  tileCentre,
  tileCorners,
  tileCount,
  tileNeighbours,
  tileOf,
  tileSize,
} from '../src/sky/tiles.ts';
import { rapid } from './support/cli.ts';
import { hasPythonModule, requireTool, runPython } from './support/tools.ts';

/** Deterministic pseudo-random numbers (mulberry32) so failures are reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomPositions(n: number, seed: number): { ra: number[]; dec: number[] } {
  const r = rng(seed);
  const ra: number[] = [];
  const dec: number[] = [];
  for (let i = 0; i < n; i++) {
    ra.push(360 * r());
    dec.push((Math.asin(2 * r() - 1) * 180) / Math.PI);
  }
  // Poles, the equator, RA wrap, and near (not exactly on: a measure-zero set where libraries
  // may round differently) the boundary between polar caps and equatorial belt.
  ra.push(0, 359.9999999, 45, 90, 0, 180, 12.3);
  dec.push(90, -90, 41.8103149, 0, -41.8103148, 89.99999, -89.99999);
  // Close to the poles, where a library we use misplaces tiles.
  for (let i = 0; i < 50; i++) {
    ra.push(360 * r());
    dec.push((i % 2 ? 1 : -1) * (90 - 10 ** (-1 - 6 * r())));
  }
  return { ra, dec };
}

describe('sky tiles', () => {
  test('the default nside gives RAPID-like tiles of about 0.11°', () => {
    assert.equal(DEFAULT_NSIDE, 512);
    assert.equal(tileCount(), 12 * 512 * 512);
    const size = tileSize();
    assert.ok(size > 0.1 && size < 0.12, `tile size ${size}`);
  });

  test('a position lies close to the centre of its tile, and the centre is in the tile', () => {
    const { ra, dec } = randomPositions(2000, 1);
    for (let i = 0; i < ra.length; i++) {
      const t = tileOf(ra[i], dec[i]);
      const c = tileCentre(t);
      assert.equal(tileOf(c.ra, c.dec), t);
      // The farthest point of a tile is under ~1.5 tile sizes from its centre.
      assert.ok(angularDistance(c, { ra: ra[i], dec: dec[i] }) < 1.5 * tileSize(), `tile ${t}`);
    }
  });

  test('neighbours are mutual and adjacent', () => {
    for (const nside of [1, 2, 16, 512]) {
      const r = rng(nside);
      for (let k = 0; k < 200; k++) {
        const t = Math.floor(r() * tileCount(nside));
        const nb = tileNeighbours(t, nside);
        assert.equal(nb.length, 8);
        for (const n of nb) {
          if (n < 0) continue;
          assert.ok(
            tileNeighbours(n, nside).includes(t),
            `nside ${nside}: ${n} neighbour of ${t} but not back`,
          );
        }
        // Edge neighbours always exist.
        for (const i of [0, 2, 4, 6]) assert.ok(nb[i] >= 0);
      }
    }
  });

  test('bad input is a usage error', () => {
    assert.throws(() => tileOf(10, 95), /Dec within/);
    assert.throws(() => tileOf(10, 10, 500), /power of two/);
    assert.throws(() => tileCentre(-1), /does not exist/);
  });

  test('agrees with healpy: tile index, centre, corners and neighbours', (t) => {
    if (!requireTool(t, 'healpy', hasPythonModule('healpy'))) return;
    for (const nside of [1, 8, 512, 4096, 32768]) {
      const { ra, dec } = randomPositions(500, 7 + nside);
      const script = `
import sys, json, numpy as np, healpy as hp
d = json.load(sys.stdin); nside = d['nside']
pix = hp.ang2pix(nside, np.array(d['ra']), np.array(d['dec']), nest=True, lonlat=True)
cra, cdec = hp.pix2ang(nside, pix, nest=True, lonlat=True)
corners = []
nbs = []
for p in pix[:200]:
    v = hp.boundaries(nside, int(p), step=1, nest=True)
    lon, lat = hp.vec2ang(v.T, lonlat=True)
    corners.append([[float(a), float(b)] for a, b in zip(lon, lat)])
    nbs.append([int(x) for x in hp.get_all_neighbours(nside, int(p), nest=True)])
print(json.dumps({'pix': [int(p) for p in pix], 'ra': cra.tolist(), 'dec': cdec.tolist(), 'corners': corners, 'nbs': nbs}))
`;
      const ref = JSON.parse(runPython(script, [], JSON.stringify({ nside, ra, dec })));
      let maxSep = 0;
      for (let i = 0; i < ra.length; i++) {
        const tile = tileOf(ra[i], dec[i], nside);
        assert.equal(tile, ref.pix[i], `nside ${nside} position ${ra[i]},${dec[i]}`);
        const c = tileCentre(tile, nside);
        maxSep = Math.max(maxSep, angularDistance(c, { ra: ref.ra[i], dec: ref.dec[i] }));
        if (i < 200) {
          const k = tileCorners(tile, nside);
          for (let j = 0; j < 4; j++) {
            maxSep = Math.max(
              maxSep,
              angularDistance(k[j], { ra: ref.corners[i][j][0], dec: ref.corners[i][j][1] }),
            );
          }
          assert.deepEqual(
            tileNeighbours(tile, nside),
            ref.nbs[i],
            `neighbours of ${tile} at nside ${nside}`,
          );
        }
      }
      assert.ok(maxSep < 1e-9, `nside ${nside}: centre/corner max separation ${maxSep}°`);
    }
  });

  test('neighbours of the tiles at the poles agree with healpy', (t) => {
    if (!requireTool(t, 'healpy', hasPythonModule('healpy'))) return;
    for (const nside of [512, 32768]) {
      const tiles = [0, 1, 2, 3].flatMap((f) => [(f + 1) * nside * nside - 1, (f + 8) * nside * nside]);
      const ref = JSON.parse(
        runPython(
          `import json, healpy as hp\nprint(json.dumps([[int(x) for x in hp.get_all_neighbours(${nside}, p, nest=True)] for p in ${JSON.stringify(tiles)}]))`,
        ),
      );
      tiles.forEach((p, i) => {
        assert.deepEqual(tileNeighbours(p, nside), ref[i], `tile ${p} nside ${nside}`);
      });
    }
  });

  test('neighbours agree with healpy where only seven tiles meet', (t) => {
    if (!requireTool(t, 'healpy', hasPythonModule('healpy'))) return;
    // At nside 4 every tile is listed, including those at the 8 three-tile vertices.
    const nside = 4;
    const ref = JSON.parse(
      runPython(`
import json, healpy as hp
n = ${nside}
print(json.dumps([[int(x) for x in hp.get_all_neighbours(n, p, nest=True)] for p in range(12*n*n)]))
`),
    );
    for (let p = 0; p < tileCount(nside); p++)
      assert.deepEqual(tileNeighbours(p, nside), ref[p], `tile ${p}`);
  });
});

describe('rapid tile', () => {
  test('--json prints nside, tile and centre', () => {
    const r = rapid(['tile', '150.1', '2.2', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(out), ['nside', 'tile', 'ra', 'dec']);
    assert.equal(out.nside, 512);
    assert.equal(out.tile, tileOf(150.1, 2.2));
    assert.ok(angularDistance(out, { ra: 150.1, dec: 2.2 }) < 0.2);
  });

  test('--nside changes the tiling; bad arguments exit 64 with one line', () => {
    const r = rapid(['tile', '150.1', '2.2', '--nside', '64', '--json']);
    assert.equal(JSON.parse(r.stdout).tile, tileOf(150.1, 2.2, 64));
    const bad = rapid(['tile', 'abc', '2.2']);
    assert.equal(bad.status, 64);
    assert.match(bad.stderr, /RA must be a number/);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
    const badNside = rapid(['tile', '1', '2', '--nside', '3']);
    assert.equal(badNside.status, 64);
    assert.match(badNside.stderr, /power of two/);
  });
});
