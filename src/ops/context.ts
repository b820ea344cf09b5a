/**
 * What the operations commands share: the backend options (--home, --database-url, --store,
 * --s3-endpoint; environment variables otherwise, see config.ts), and opening the database and
 * the store they name, saying on standard error which ones are in use.
 */
import type { Command } from 'commander';
import { type ConfigOptions, describeConfig, type RapidConfig, resolveConfig } from '../config.ts';
import { StoreRouter } from '../pipeline/runner.ts';
import { openStore } from '../store/index.ts';
import type { ObjectStore } from '../store/store.ts';
import { type Db, openDatabase } from './db.ts';

export function addBackendOptions(cmd: Command): Command {
  return cmd
    .option('--home <dir>', 'data folder (env RAPID_HOME; default ./rapid-data)')
    .option('--database-url <url>', 'PostgreSQL URL (env DATABASE_URL; default PGlite in the data folder)')
    .option(
      '--store <uri>',
      'object store: a folder or s3://bucket/prefix (env RAPID_STORE; default <home>/store)',
    )
    .option('--s3-endpoint <url>', 'endpoint of an S3-compatible store (env RAPID_S3_ENDPOINT)');
}

export function configFrom(opts: ConfigOptions): RapidConfig {
  return resolveConfig({
    home: opts.home,
    databaseUrl: opts.databaseUrl,
    store: opts.store,
    s3Endpoint: opts.s3Endpoint,
  });
}

export interface OpsContext {
  config: RapidConfig;
  db: Db;
  store: ObjectStore;
  stores: StoreRouter;
  close(): Promise<void>;
}

export async function openContext(
  opts: ConfigOptions,
  options: { quiet?: boolean; config?: RapidConfig } = {},
): Promise<OpsContext> {
  const config = options.config ?? configFrom(opts);
  if (!options.quiet) process.stderr.write(`rapid: ${describeConfig(config)}\n`);
  const db = await openDatabase(config, {
    onMigration: (m) => {
      if (!options.quiet) process.stderr.write(`rapid: applied migration ${m.version} (${m.name})\n`);
    },
  });
  let store: ObjectStore;
  try {
    store = openStore(config.store, { endpoint: config.s3Endpoint });
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
  const stores = new StoreRouter(config.s3Endpoint);
  return {
    config,
    db,
    store,
    stores,
    async close() {
      await stores.close();
      await store.close();
      await db.close();
    },
  };
}

/** Run `fn` with an open context, closing it whatever happens. */
export async function withContext<T>(
  opts: ConfigOptions,
  fn: (ctx: OpsContext) => Promise<T>,
  options: { quiet?: boolean; config?: RapidConfig } = {},
): Promise<T> {
  const ctx = await openContext(opts, options);
  let out: T;
  try {
    out = await fn(ctx);
  } catch (err) {
    // What went wrong is what is reported: closing (a lost connection, a full disk) may fail too.
    await ctx.close().catch(() => {});
    throw err;
  }
  await ctx.close();
  return out;
}
