import { MinuteBuckets, minuteOf } from './minute-buckets.js';

/** Hits and misses of a tenant's file cache in one minute. */
export interface CacheMinute {
  /** The minute's start, epoch ms. */
  readonly minute: number;
  readonly hits: number;
  readonly misses: number;
  /** hits / (hits + misses), or null for a minute without either. */
  readonly hitRatio: number | null;
}

interface Bucket {
  readonly minute: number;
  hits: number;
  misses: number;
}

/**
 * The cache's hit ratio over the last hour, per tenant and minute, from the storage's running totals: each sample
 * adds what the totals grew by since the previous one to the current minute.
 */
export class CacheTrend {
  readonly #last = new Map<string, { hits: number; misses: number }>();
  readonly #minutes = new MinuteBuckets<Bucket>((_tenant, minute) => ({ minute, hits: 0, misses: 0 }));

  constructor(
    readonly totals: (tenant: string) => { readonly hits: number; readonly misses: number },
    readonly clock: () => number = Date.now,
  ) {}

  /** Adds the tenants' hits and misses since the previous sample to the current minute. */
  sample(tenants: readonly string[]): void {
    const minute = minuteOf(this.clock());
    for (const tenant of tenants) {
      const now = this.totals(tenant);
      // Totals start at zero with the gateway: the first sample counts everything since.
      const before = this.#last.get(tenant) ?? { hits: 0, misses: 0 };
      this.#last.set(tenant, { hits: now.hits, misses: now.misses });
      const bucket = this.#minutes.current(tenant, minute);
      bucket.hits += Math.max(0, now.hits - before.hits);
      bucket.misses += Math.max(0, now.misses - before.misses);
    }
  }

  /** The tenant's minutes of the last hour that saw any acquisition, oldest first. */
  series(tenant: string): CacheMinute[] {
    return this.#minutes
      .recent(tenant, this.clock())
      .filter((b) => b.hits + b.misses > 0)
      .map((b) => ({ ...b, hitRatio: b.hits / (b.hits + b.misses) }));
  }
}
