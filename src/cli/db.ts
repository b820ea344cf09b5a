import type { Command } from 'commander';
import { describeConfig } from '../config.ts';
import { configFrom } from '../ops/context.ts';
import { openDatabase, schemaVersion } from '../ops/db.ts';
import { addBackendOptions, printJson } from './options.ts';

export function registerDbCommands(program: Command): void {
  const db = program.command('db').description('the operations database');
  addBackendOptions(
    db
      .command('migrate')
      .description('apply the schema migrations not yet applied (plain SQL files, in version order)')
      .option('--json', 'print {"applied": [...], "version": N}'),
  ).action(async (opts: { json?: boolean; home?: string; databaseUrl?: string; store?: string }) => {
    const config = configFrom(opts);
    process.stderr.write(`rapid: ${describeConfig(config)}\n`);
    const applied: { version: number; name: string }[] = [];
    const d = await openDatabase(config, {
      onMigration: (m) => {
        applied.push({ version: m.version, name: m.name });
        process.stderr.write(`rapid: applied migration ${m.version} (${m.name})\n`);
      },
    });
    try {
      const version = await schemaVersion(d);
      if (opts.json) printJson({ applied, version });
      else
        process.stdout.write(
          `schema version ${version}${applied.length ? ` (${applied.length} applied now)` : ' (up to date)'}\n`,
        );
    } finally {
      await d.close();
    }
  });
}
