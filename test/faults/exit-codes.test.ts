/**
 * Exit codes an operator can trust (issue 17, cases 6 and 11): each situation ends with the code
 * README.md's "Exit codes" table gives it, in every command, with one line on standard error
 * saying what to fix: never "internal error" (70) or a stack trace for something that is not a
 * bug. The built command (bin/rapid.js over dist/) runs as a child process; where a situation
 * cannot be produced here (a read-only file system, a full disk), the mapping is tested in
 * process with the errors the system gives.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { reportError } from '../../src/cli/errors.ts';
import { parseId, parseIndex } from '../../src/cli/options.ts';
import { jsonErrorOffset } from '../../src/config.ts';
import { dbError } from '../../src/ops/db.ts';
import { s3Error } from '../../src/store/s3.ts';
import { ExitCode, RapidError, systemError } from '../../src/util/errors.ts';
import { ROOT } from '../support/cli.ts';
import { fakeImage, PG_ADMIN_URL, requirePostgres } from '../support/ops.ts';

const BIN = fileURLToPath(new URL('../../bin/rapid.js', import.meta.url));

interface Run {
  code: number;
  stderr: string;
  stdout: string;
}

/** Run the built command; `user` runs it as another user (root: to meet permissions). */
function rapid(
  args: string[],
  o: { env?: NodeJS.ProcessEnv; cwd?: string; user?: { uid: number; gid: number } } = {},
): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    cwd: o.cwd ?? ROOT,
    env: { ...process.env, ...o.env },
    timeout: 120_000,
    ...(o.user ?? {}),
  });
  return { code: r.status ?? -1, stderr: r.stderr, stdout: r.stdout };
}

/** Standard error's lines that are not the backends' description or migrations: the error. */
function errorLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.trim() !== '')
    .filter((l) => !/^rapid: (database: |applied migration )/.test(l));
}

/** The command ended with `code` and one line (matching `pattern`), no stack, no "internal error". */
function assertOneLine(r: Run, code: number, pattern: RegExp, what: string): void {
  const lines = errorLines(r.stderr);
  assert.equal(r.code, code, `${what}: exit ${r.code}, expected ${code}: ${r.stderr}`);
  assert.equal(lines.length, 1, `${what}: one line expected on standard error, got:\n${r.stderr}`);
  assert.match(lines[0], /^rapid: /, what);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at |\[object Object\]/, `${what}: ${r.stderr}`);
  assert.match(lines[0], pattern, `${what}: ${lines[0]}`);
}

let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'rapid-exit-codes-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A fresh data folder (PGlite and a folder store inside). */
async function home(name: string): Promise<string> {
  const dir = join(tmp, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

describe('--run and ids: parsed strictly, before anything is opened (64)', () => {
  test('the shared parser: decimal digits, 1 ≤ id ≤ 2^63 − 1', () => {
    assert.equal(parseId('1', '--run'), 1n);
    assert.equal(parseId('9223372036854775807', '--run'), 2n ** 63n - 1n);
    for (const bad of [
      '0x1',
      '1e3',
      '-1',
      '0',
      '99999999999999999999',
      '9223372036854775808',
      ' 1',
      '1.0',
      '',
    ])
      assert.throws(
        () => parseId(bad, '--run'),
        (e: unknown) => e instanceof RapidError && e.exitCode === ExitCode.USAGE,
        bad,
      );
    assert.equal(parseIndex('12', '--jobs'), 12);
    for (const bad of ['0x2', '1e3', '-1', '2.0', '99999999999999999999'])
      assert.throws(() => parseIndex(bad, '--jobs'), /decimal digits/, bad);
  });

  test('status, aggregate, postprocess, alerts, report: --run 0x1, 1e3, -1, 0, 99999999999999999999 are usage errors', async () => {
    const h = await home('run-parse');
    const commands: string[][] = [
      ['status'],
      ['aggregate'],
      ['postprocess'],
      ['alerts', '--out', join(h, 'alerts')],
      ['report', '--out', join(h, 'report')],
    ];
    for (const cmd of commands)
      for (const id of ['0x1', '1e3', '-1', '0', '99999999999999999999']) {
        const r = rapid([...cmd, `--run=${id}`, '--home', h]);
        assertOneLine(r, ExitCode.USAGE, /--run must be an id/, `${cmd[0]} --run ${id}`);
      }
    // Refused before the database was created.
    assert.deepEqual(await readdir(h), []);
  });

  test('object 99999999999999999999: a usage error, not a bigint out of range', async () => {
    const h = await home('object-id');
    const r = rapid(['object', '99999999999999999999', '--home', h]);
    assertOneLine(r, ExitCode.USAGE, /object id must be an id/, 'object');
  });
});

test('no such run: 66 in status, report, aggregate, postprocess and alerts', async () => {
  const h = await home('no-run');
  const commands: string[][] = [
    ['status'],
    ['report', '--out', join(h, 'report')],
    ['aggregate'],
    ['postprocess'],
    ['alerts', '--out', join(h, 'alerts')],
  ];
  for (const cmd of commands) {
    const r = rapid([...cmd, '--run', '42', '--home', h]);
    assertOneLine(r, ExitCode.MISSING_INPUT, /no run 42/, `${cmd[0]} --run 42`);
  }
  // The largest id is a valid one: no run, not a failed query.
  const max = rapid(['status', '--run', '9223372036854775807', '--home', h]);
  assertOneLine(max, ExitCode.MISSING_INPUT, /no run 9223372036854775807/, 'status --run 2^63 − 1');
});

describe('DATABASE_URL', () => {
  test('malformed: 64, with what to write (option and environment)', async () => {
    const h = await home('bad-url');
    for (const url of ['postgres://a:b@[bad/x', 'postgres://host:notaport/db']) {
      const viaOption = rapid(['status', '--home', h, '--database-url', url]);
      assertOneLine(viaOption, ExitCode.USAGE, /not a valid URL; write postgres:\/\/USER/, url);
      const viaEnv = rapid(['aggregate', '--home', h], { env: { DATABASE_URL: url } });
      assertOneLine(viaEnv, ExitCode.USAGE, /not a valid URL/, `DATABASE_URL=${url}`);
      assert.doesNotMatch(viaOption.stderr, /:b@/, 'the password is not printed');
    }
  });

  test('a role the server does not know: 77, saying to check the user and password', async (t) => {
    if (!(await requirePostgres(t))) return;
    const url = new URL(PG_ADMIN_URL);
    url.username = 'rapid_no_such_role';
    url.password = '';
    const r = rapid(['status', '--home', await home('bad-role'), '--database-url', url.toString()]);
    assertOneLine(r, ExitCode.NO_PERMISSION, /refused the login .*check the user and password/, 'bad role');
  });

  test('a host that does not exist: 64 (configuration), no retry advice', async () => {
    const h = await home('pg-host');
    const r = rapid([
      'status',
      '--home',
      h,
      '--database-url',
      'postgres://rapid@no-such-host.invalid:5432/rapid',
    ]);
    assertOneLine(r, ExitCode.USAGE, /no such host .*check the host name/, 'unknown host');
    assert.doesNotMatch(r.stderr, /retry/);
  });

  test('connection refused and an unroutable host: 75, one line, within PGCONNECT_TIMEOUT', async () => {
    const h = await home('pg-unreachable');
    const refused = rapid(['status', '--home', h, '--database-url', 'postgres://rapid@127.0.0.1:1/rapid']);
    assertOneLine(refused, ExitCode.TEMPORARY, /database unreachable .*retry/, 'refused');
    const t0 = Date.now();
    const unroutable = rapid(
      ['status', '--home', h, '--database-url', 'postgres://rapid@10.255.255.1:5432/rapid'],
      {
        env: { PGCONNECT_TIMEOUT: '2' },
      },
    );
    assertOneLine(unroutable, ExitCode.TEMPORARY, /database unreachable .*retry/, 'unroutable');
    assert.ok(Date.now() - t0 < 60_000, 'the connection attempt gives up (PGCONNECT_TIMEOUT)');
  });
});

describe('the object store and the disk', () => {
  test('a store folder that cannot be written (permission denied): 77, naming the folder', async (t) => {
    const root = process.getuid?.() === 0;
    // As root permissions are not checked: run the command as the unprivileged user "nobody".
    const user = root ? { uid: 65534, gid: 65534 } : undefined;
    if (user && rapid(['--version'], { user, cwd: tmpdir() }).code !== 0) {
      t.skip('cannot run the command as uid 65534 here; the mapping is tested in process below');
      return;
    }
    await chmod(tmp, 0o755); // mkdtemp's 0700 would keep "nobody" out of everything below
    const h = await home('read-only-store');
    const images = join(h, 'images');
    await mkdir(images);
    for (let i = 0; i < 2; i++)
      await writeFile(
        join(images, `a${i}.fits`),
        fakeImage({ ra: 9.6, dec: -44, date: `2028-09-0${i + 1}` }),
      );
    const store = join(h, 'store');
    await mkdir(store);
    if (user) for (const p of [h, images, store]) await chown(p, user.uid, user.gid);
    const args = ['--home', h, '--store', store];
    const ingest = rapid(['ingest', images, ...args], { user, cwd: h });
    assert.equal(ingest.code, 0, ingest.stderr);
    await chmod(store, 0o555);
    const r = rapid(
      [
        'launch',
        '--from',
        '2028-09-01',
        '--to',
        '2028-09-03',
        '--pipeline',
        'noop',
        '--executor',
        'none',
        ...args,
      ],
      { user, cwd: h },
    );
    assertOneLine(r, ExitCode.NO_PERMISSION, /permission denied \(EACCES\)/, 'read-only store');
    assert.match(errorLines(r.stderr)[0], new RegExp(store.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    await chmod(store, 0o755);
  });

  // Node's recursive mkdir reports EROFS on a parent as ENOENT; the folder store makes each
  // level itself then, so the real error (and 77) comes through.
  test('a store on a read-only file system (a read-only tmpfs, where this user may mount one): 77', async (t) => {
    const h = await home('read-only-fs');
    const images = join(h, 'images');
    await mkdir(images);
    await writeFile(join(images, 'a.fits'), fakeImage({ ra: 9.6, dec: -44, date: '2028-09-01' }));
    const store = join(h, 'store');
    await mkdir(store);
    const args = ['--home', h, '--store', store];
    assert.equal(rapid(['ingest', images, ...args]).code, 0);
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', store], { encoding: 'utf8' });
    if (m.status !== 0) {
      t.skip(
        `cannot mount a tmpfs here (${m.stderr?.trim() || m.error?.message}); EROFS is tested in process`,
      );
      return;
    }
    try {
      const r = rapid([
        'launch',
        '--from',
        '2028-09-01',
        '--to',
        '2028-09-02',
        '--pipeline',
        'noop',
        '--executor',
        'none',
        ...args,
      ]);
      assertOneLine(r, ExitCode.NO_PERMISSION, /read-only file system \(EROFS\)/, 'read-only file system');
    } finally {
      spawnSync('umount', [store]);
    }
  });

  test('permission denied, read-only file system (in process): 77; never 70', () => {
    for (const code of ['EACCES', 'EPERM', 'EROFS']) {
      const err = Object.assign(new Error(`${code}: open '/data/store/x'`), {
        code,
        path: '/data/store/x',
        syscall: 'open',
      });
      const e = systemError(err);
      assert.equal(e?.exitCode, ExitCode.NO_PERMISSION, code);
      assert.match(e!.message, /^\/data\/store\/x: /);
      assert.equal(captureReport(err).code, ExitCode.NO_PERMISSION);
    }
    assert.match(
      systemError(Object.assign(new Error('x'), { code: 'EROFS' }))!.message,
      /read-only file system/,
    );
  });

  test('a full disk (ENOSPC; PGlite’s file-system error; PostgreSQL’s 53100): 75, saying the disk is full', () => {
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, write '/data/store/x'"), {
      code: 'ENOSPC',
      path: '/data/store/x',
      syscall: 'write',
    });
    // PGlite (Emscripten) throws this object, not an Error: it printed as "[object Object]" (70).
    const pglite = { name: 'ErrnoError', errno: 51 };
    const server = Object.assign(
      new Error('could not extend file "base/16384/16385": No space left on device'),
      {
        code: '53100',
      },
    );
    for (const [what, err] of [
      ['PGlite ErrnoError 51', pglite],
      ['SQLSTATE 53100', server],
    ] as const) {
      const e = dbError('PGlite in /data/db', err);
      assert.ok(e instanceof RapidError, what);
      assert.equal((e as RapidError).exitCode, ExitCode.TEMPORARY, what);
      assert.match(e.message, /^PGlite in \/data\/db: the database's disk is full/, what);
    }
    // A file's error inside a database call (a store write in a transaction) keeps its path.
    assert.equal(dbError('PGlite in /data/db', enospc), enospc);
    const r = captureReport(enospc);
    assert.equal(r.code, ExitCode.TEMPORARY);
    assert.match(r.stderr, /^rapid: \/data\/store\/x: the disk is full \(ENOSPC/);
    const p = captureReport(pglite);
    assert.equal(p.code, ExitCode.TEMPORARY);
    assert.doesNotMatch(p.stderr, /object Object|internal error/);
    // PGlite's other file-system errors: by their names, not "[object Object]".
    assert.equal(captureReport({ name: 'ErrnoError', errno: 2 }).code, ExitCode.NO_PERMISSION);
    assert.match(captureReport({ name: 'ErrnoError', errno: 999 }).stderr, /errno: 999/);
  });
});

test('PGlite on a real full disk (an 8 MB tmpfs, where this user may mount one): 75, one line', async (t) => {
  const dir = await home('full-disk');
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { encoding: 'utf8' });
  if (m.status !== 0) {
    t.skip(
      `cannot mount a tmpfs here (${m.stderr?.trim() || m.error?.message}); the mapping is tested in process`,
    );
    return;
  }
  try {
    // A new PGlite database needs some 40 MB: it runs out of space while being created.
    const r = rapid(['status', '--home', join(dir, 'h')]);
    assertOneLine(r, ExitCode.TEMPORARY, /disk is full/, 'PGlite on a full disk');
  } finally {
    spawnSync('umount', [dir]);
  }
});

describe('S3: what retrying cannot fix is not 75', () => {
  test('an endpoint host that does not exist: 64, naming the setting', async () => {
    const h = await home('s3-host');
    const r = rapid(
      ['ingest', 's3://bucket/images', '--home', h, '--s3-endpoint', 'http://no-such-host.invalid:9000'],
      {
        env: { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', AWS_REGION: 'us-east-1' },
      },
    );
    assertOneLine(r, ExitCode.USAGE, /no such host no-such-host\.invalid .*--s3-endpoint/, 'S3 unknown host');
    assert.doesNotMatch(r.stderr, /retry/);
  });

  test('no credentials: 77, saying which variables to set', async () => {
    const h = await home('s3-creds');
    const env: NodeJS.ProcessEnv = {
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_SESSION_TOKEN: '',
      AWS_PROFILE: '',
      AWS_CONFIG_FILE: join(h, 'none'),
      AWS_SHARED_CREDENTIALS_FILE: join(h, 'none'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '',
      AWS_CONTAINER_CREDENTIALS_FULL_URI: '',
      AWS_WEB_IDENTITY_TOKEN_FILE: '',
      AWS_REGION: 'us-east-1',
    };
    const r = rapid(['ingest', 's3://bucket/images', '--home', h, '--s3-endpoint', 'http://127.0.0.1:9'], {
      env,
    });
    assertOneLine(r, ExitCode.NO_PERMISSION, /no AWS credentials .*AWS_ACCESS_KEY_ID/, 'S3 credentials');
    assert.doesNotMatch(r.stderr, /retry/);
  });

  test('access denied is 77, a server error still 75 (in process)', () => {
    const denied = s3Error('s3://b/k', 'read', { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    assert.equal((denied as RapidError).exitCode, ExitCode.NO_PERMISSION);
    const busy = s3Error('s3://b/k', 'read', { name: 'SlowDown', $metadata: { httpStatusCode: 503 } });
    assert.equal((busy as RapidError).exitCode, ExitCode.TEMPORARY);
  });
});

describe('options checked before files are read or the database opened', () => {
  test('launch --from after --to: 64, and no database created', async () => {
    const h = await home('launch-range');
    const r = rapid(['launch', '--from', '2028-09-02', '--to', '2028-09-01', '--home', h]);
    assertOneLine(r, ExitCode.USAGE, /--from .* must be before --to/, 'launch range');
    assert.doesNotMatch(r.stderr, /applied migration|database: /);
    assert.deepEqual(await readdir(h), []);
  });

  test('ingest --nside 3: one usage error, not every file unreadable', async () => {
    const h = await home('ingest-nside');
    const images = join(h, 'images');
    await mkdir(images);
    await writeFile(join(images, 'a.fits'), fakeImage({ ra: 9.6, dec: -44, date: '2028-09-01' }));
    const r = rapid(['ingest', images, '--nside', '3', '--home', h]);
    assertOneLine(r, ExitCode.USAGE, /nside must be a power of two/, 'ingest --nside 3');
    assert.deepEqual(await readdir(h), ['images']);
  });

  test('launch --config /etc/passwd: 65, the position of the error, never the file’s contents', async () => {
    const h = await home('launch-config');
    const secret = join(h, 'passwd');
    await writeFile(secret, 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n');
    const r = rapid([
      'launch',
      '--from',
      '2028-09-01',
      '--to',
      '2028-09-02',
      '--config',
      secret,
      '--home',
      h,
    ]);
    assertOneLine(
      r,
      ExitCode.BAD_INPUT,
      /not a valid configuration file \(expected JSON.*line 1, column 1\)/,
      'config',
    );
    assert.doesNotMatch(r.stderr, /root:x|daemon/);
    const trailing = join(h, 'trailing.json');
    await writeFile(trailing, '{\n  "science": {"a": 1,}\n}\n');
    const t = rapid([
      'launch',
      '--from',
      '2028-09-01',
      '--to',
      '2028-09-02',
      '--config',
      trailing,
      '--home',
      h,
    ]);
    assertOneLine(t, ExitCode.BAD_INPUT, /line 2, column 22/, 'trailing comma');
    assert.equal(jsonErrorOffset('{"a": [1, 2]}'), -1);
    assert.equal(jsonErrorOffset('{"a": tru}'), 6);
  });

  test('non-numeric coordinates: 64 in wcs pix2sky as in tile', () => {
    const hdr = join(ROOT, 'test/data/wcs-headers/1904-66_TAN.hdr');
    assertOneLine(rapid(['tile', 'abc', '10']), ExitCode.USAGE, /RA must be a number/, 'tile abc');
    assertOneLine(
      rapid(['wcs', 'pix2sky', hdr, 'abc', '10']),
      ExitCode.USAGE,
      /x must be a number/,
      'pix2sky abc',
    );
    assertOneLine(
      rapid(['wcs', 'sky2pix', hdr, 'abc', '10']),
      ExitCode.USAGE,
      /RA must be a number/,
      'sky2pix abc',
    );
  });
});

/** reportError's code and what it printed. */
function captureReport(err: unknown): { code: number; stderr: string } {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...a: unknown[]) => {
    lines.push(a.map(String).join(' '));
  };
  try {
    return { code: reportError(err), stderr: lines.join('\n') };
  } finally {
    console.error = original;
  }
}
