/**
 * What the operations commands share: opening the database and the store that the backend
 * options name (cli/options.ts addBackendOptions; environment variables otherwise, see
 * config.ts), saying on standard error which ones are in use.
 */
import { type ConfigOptions, describeConfig, type RapidConfig, resolveConfig } from '../config.ts';
import { openStore } from '../store/index.ts';
import { StoreRouter } from '../store/router.ts';
import type { ObjectStore } from '../store/store.ts';
import { type Db, openDatabase } from './db.ts';

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
