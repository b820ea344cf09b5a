/** Stores by URI: the objects of a run may live in several stores (folders, S3 buckets). */
import { openStore } from './index.ts';
import type { ObjectStore } from './store.ts';

/** Stores by URI: one S3 client per bucket, one folder store for paths. */
export class StoreRouter {
  private readonly stores = new Map<string, ObjectStore>();
  constructor(private readonly endpoint?: string) {}

  for(uri: string): ObjectStore {
    const key = uri.startsWith('s3://') ? /^s3:\/\/[^/]+/.exec(uri)![0] : '/';
    let s = this.stores.get(key);
    if (!s) {
      s = openStore(key, { endpoint: this.endpoint });
      this.stores.set(key, s);
    }
    return s;
  }

  async close(): Promise<void> {
    for (const s of this.stores.values()) await s.close();
    this.stores.clear();
  }
}
