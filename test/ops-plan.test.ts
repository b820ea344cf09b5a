/** Reference planning (pure): minimum and maximum inputs, nearest first, windows, exit 33. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type PlanCandidate, type PlanReference, planReferences } from '../src/ops/plan.ts';

const img = (id: number, mjd: number, dist = 0.01, tile = 7, filter = 'F158'): PlanCandidate => ({
  id,
  nside: 512,
  tile,
  filter,
  mjd,
  dist,
});
const opts = { minInputs: 3, maxInputs: 25 };

test('a new reference from the frames before the earliest science image; one serves all', () => {
  const prior = [img(1, 100), img(2, 105), img(3, 110), img(4, 115)];
  const science = [img(5, 120), img(6, 125)];
  const cands = [...prior, ...science];
  const p = planReferences(science, cands, [], opts);
  assert.equal(p.newReferences.length, 1);
  assert.deepEqual(p.newReferences[0].inputs.map((c) => c.id).sort(), [1, 2, 3, 4]);
  assert.equal(p.newReferences[0].version, 1);
  assert.equal(p.newReferences[0].maxInputMjd, 115);
  assert.deepEqual(p.assignments, [
    { imageId: 5, kind: 'new', newIndex: 0 },
    { imageId: 6, kind: 'new', newIndex: 0 },
  ]);
});

test('fewer than the minimum: exit 33 for every image of that tile and filter', () => {
  const p = planReferences([img(5, 120)], [img(1, 100), img(2, 105), img(5, 120)], [], opts);
  assert.equal(p.newReferences.length, 0);
  assert.equal(p.assignments[0].kind, 'none');
  assert.match((p.assignments[0] as { reason: string }).reason, /only 2 prior frames.*3 needed/);
  // The minimum is configurable.
  const q = planReferences([img(5, 120)], [img(1, 100), img(2, 105)], [], { minInputs: 2, maxInputs: 25 });
  assert.equal(q.newReferences.length, 1);
});

test('at most the maximum, nearest to the tile centre first', () => {
  const prior = Array.from({ length: 40 }, (_, i) => img(i + 1, 10 + i, 0.5 - i * 0.01));
  const p = planReferences([img(100, 1000)], prior, [], opts);
  const inputs = p.newReferences[0].inputs;
  assert.equal(inputs.length, 25);
  assert.deepEqual(
    inputs.map((c) => c.id),
    Array.from({ length: 25 }, (_, i) => 40 - i),
  );
  const q = planReferences([img(100, 1000)], prior, [], { minInputs: 3, maxInputs: 5 });
  assert.equal(q.newReferences[0].inputs.length, 5);
});

test('tiles and filters are planned separately', () => {
  const cands = [img(1, 1, 0, 7), img(2, 2, 0, 7), img(3, 3, 0, 7), img(4, 1, 0, 8), img(5, 2, 0, 8, 'F106')];
  const p = planReferences(
    [img(10, 50, 0, 7), img(11, 50, 0, 8), img(12, 50, 0, 8, 'F106')],
    cands,
    [],
    opts,
  );
  assert.equal(p.newReferences.length, 1);
  assert.equal(p.newReferences[0].tile, 7);
  assert.deepEqual(
    p.assignments.map((a) => a.kind),
    ['new', 'none', 'none'],
  );
});

test('an existing reference is reused when all its inputs precede the image; best is most inputs, then newest', () => {
  const ref = (id: number, version: number, n: number, maxMjd: number, status = 'ready'): PlanReference => ({
    id,
    nside: 512,
    tile: 7,
    filter: 'F158',
    version,
    status,
    nInputs: n,
    minInputMjd: 1,
    maxInputMjd: maxMjd,
  });
  const p = planReferences(
    [img(50, 200)],
    [],
    [ref(1, 1, 5, 100), ref(2, 2, 9, 150), ref(3, 3, 9, 160)],
    opts,
  );
  assert.deepEqual(p.assignments, [{ imageId: 50, kind: 'existing', referenceId: 3 }]);
  assert.equal(p.newReferences.length, 0);
  // One containing later frames is not usable: a new version is planned (failed ones count for numbering).
  const q = planReferences(
    [img(50, 120)],
    [img(1, 100), img(2, 101), img(3, 102)],
    [ref(3, 3, 9, 160), ref(4, 4, 9, 50, 'failed')],
    opts,
  );
  assert.equal(q.newReferences[0].version, 5);
  assert.equal(q.assignments[0].kind, 'new');
});

test('an explicit window: the reference may not serve images it contains or precedes (exit 33 for those)', () => {
  const frames = [img(1, 100), img(2, 105), img(3, 110), img(4, 115), img(5, 120)];
  // Window [100, 116): frames 1–4; science 4 (in the reference) and 3 (earlier than its latest input) get 33.
  const p = planReferences([img(3, 110), img(4, 115), img(5, 120)], frames, [], {
    ...opts,
    refFrom: 100,
    refTo: 116,
  });
  assert.equal(p.newReferences.length, 1);
  assert.deepEqual(p.newReferences[0].inputs.map((c) => c.id).sort(), [1, 2, 3, 4]);
  assert.deepEqual(
    p.assignments.map((a) => [a.imageId, a.kind]),
    [
      [3, 'none'],
      [4, 'none'],
      [5, 'new'],
    ],
  );
  assert.match((p.assignments[0] as { reason: string }).reason, /contains this image or later frames/);
});
