/** The `rapid` program loads only the named command's module: the table must name every command. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildProgram, COMMAND_MODULES } from '../src/cli/main.ts';
import { rapid } from './support/cli.ts';

test('every command is in the module table, and naming it registers exactly its module', async () => {
  const all = (await buildProgram([])).commands.map((c) => c.name());
  assert.deepEqual(
    all,
    COMMAND_MODULES.flatMap((m) => m.names),
  );
  for (const m of COMMAND_MODULES) {
    for (const name of m.names) {
      const p = await buildProgram(['node', 'rapid', name, '--help']);
      assert.deepEqual(
        p.commands.map((c) => c.name()),
        m.names,
        name,
      );
    }
  }
});

test('help and unknown commands still see every command', () => {
  const help = rapid(['--help']);
  assert.equal(help.status, 0);
  for (const name of COMMAND_MODULES.flatMap((m) => m.names))
    assert.match(help.stdout, new RegExp(`\\n  ${name}\\b`));
  const typo = rapid(['extrct']);
  assert.notEqual(typo.status, 0);
  assert.match(typo.stderr, /extract/);
});
