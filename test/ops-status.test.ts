/** rapid status: the JSON shape of the issue, the latest run by default, database-wide counts. */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BACKENDS, fakeImage, rapid, testEnv } from './support/ops.ts';

for (const backend of BACKENDS) {
  describe(`status on ${backend}`, () => {
    test('--json: run, images, references, jobs by status and exit code, products, sources', async (t) => {
      const env = await testEnv(t, backend);
      if (!env) return;
      try {
        const empty = rapid(['status', '--json', ...env.args]);
        assert.equal(empty.code, 0, empty.stderr);
        const e = JSON.parse(empty.stdout);
        assert.equal(e.run, null);
        assert.equal(e.jobs.total, 0);
        for (let i = 0; i < 3; i++)
          await writeFile(
            join(env.dir, `a${i}.fits`),
            fakeImage({ ra: 9.6, dec: -44, date: `2028-09-0${i + 1}` }),
          );
        await writeFile(join(env.dir, 'b.fits'), fakeImage({ ra: 30, dec: 10, date: '2028-09-05' }));
        assert.equal(rapid(['ingest', env.dir, ...env.args]).code, 0);
        const l1 = rapid([
          'launch',
          '--from',
          '2028-09-03',
          '--to',
          '2028-09-06',
          '--executor',
          'none',
          ...env.args,
        ]);
        assert.equal(l1.code, 0, l1.stderr);
        const l2 = rapid([
          'launch',
          '--from',
          '2028-09-01',
          '--to',
          '2028-09-30',
          '--pipeline',
          'noop',
          '--jobs',
          '2',
          ...env.args,
        ]);
        assert.equal(l2.code, 0, l2.stderr);
        assert.equal(rapid(['aggregate', ...env.args]).code, 0);
        const s = JSON.parse(rapid(['status', '--json', ...env.args]).stdout);
        assert.equal(s.run.id, 2);
        assert.equal(s.run.from, '2028-09-01T00:00:00.000Z');
        assert.equal(s.run.to, '2028-09-30T00:00:00.000Z');
        assert.equal(s.images, 4);
        assert.equal(s.references, 0);
        assert.deepEqual(s.jobs, {
          total: 4,
          byStatus: { queued: 0, running: 0, succeeded: 4, failed: 0, interrupted: 0 },
          byExitCode: { '0': 4 },
        });
        assert.equal(s.products, 4);
        assert.equal(s.sources, 0);
        const r1 = JSON.parse(rapid(['status', '--run', '1', '--json', ...env.args]).stdout);
        assert.equal(r1.run.id, 1);
        // Image a2 (day 3) and b (day 5): no prior frames: 33 at launch.
        assert.deepEqual(r1.jobs.byExitCode, { '33': 2 });
        assert.equal(r1.jobs.byStatus.failed, 2);
        const text = rapid(['status', ...env.args]);
        assert.match(text.stdout, /images 4, references 0, runs 2/);
        assert.match(text.stdout, /jobs 4: 4 succeeded/);
        const none = rapid(['status', '--run', '99', ...env.args]);
        assert.equal(none.code, 66);
        assert.match(none.stderr, /no run 99/);
      } finally {
        await env.cleanup();
      }
    });
  });
}
