import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { describeConfig, redactUrl, resolveConfig } from '../src/config.ts';
import { ExitCode, RapidError } from '../src/util/errors.ts';

test('defaults: PGlite and a folder store inside ./rapid-data', () => {
  const c = resolveConfig({}, {});
  assert.equal(c.home, resolve('./rapid-data'));
  assert.deepEqual(c.database, { kind: 'pglite', dataDir: resolve('./rapid-data/db') });
  assert.equal(c.store, resolve('./rapid-data/store'));
  assert.equal(c.s3Endpoint, undefined);
});

test('environment variables set the backends; options override them', () => {
  const env = {
    RAPID_HOME: '/data/rapid',
    DATABASE_URL: 'postgres://u:secret@db:5432/ops',
    RAPID_STORE: 's3://bucket/prefix/',
    RAPID_S3_ENDPOINT: 'http://127.0.0.1:9000',
  };
  const c = resolveConfig({}, env);
  assert.equal(c.home, '/data/rapid');
  assert.deepEqual(c.database, { kind: 'postgres', url: 'postgres://u:secret@db:5432/ops' });
  assert.equal(c.store, 's3://bucket/prefix');
  assert.equal(c.s3Endpoint, 'http://127.0.0.1:9000');
  const o = resolveConfig(
    { home: '/other', databaseUrl: 'postgresql://x@h/y', store: '/tmp/st', s3Endpoint: 'http://e' },
    env,
  );
  assert.equal(o.home, '/other');
  assert.deepEqual(o.database, { kind: 'postgres', url: 'postgresql://x@h/y' });
  assert.equal(o.store, '/tmp/st');
  assert.equal(o.s3Endpoint, 'http://e');
  // The store default follows the home folder.
  assert.equal(resolveConfig({ home: '/h' }, {}).store, '/h/store');
  assert.deepEqual(resolveConfig({ home: '/h' }, {}).database, { kind: 'pglite', dataDir: '/h/db' });
});

test('a bad database URL or store is a usage error; passwords never printed', () => {
  assert.throws(
    () => resolveConfig({ databaseUrl: 'mysql://root:pw@h/db' }, {}),
    (e: unknown) => e instanceof RapidError && e.exitCode === ExitCode.USAGE && !e.message.includes('pw@'),
  );
  assert.throws(() => resolveConfig({ store: 'gs://bucket' }, {}), /neither a folder nor s3/);
  assert.throws(() => resolveConfig({ store: 's3://' }, {}), /no bucket/);
  assert.equal(redactUrl('postgres://u:secret@h/db'), 'postgres://u:***@h/db');
  const d = describeConfig(resolveConfig({ databaseUrl: 'postgres://u:secret@h/db', store: 's3://b/p' }, {}));
  assert.match(d, /PostgreSQL at postgres:\/\/u:\*\*\*@h\/db; store: S3 s3:\/\/b\/p/);
});
