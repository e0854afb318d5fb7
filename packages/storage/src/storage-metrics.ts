/** Per-tenant cache figures, as `GET /v1/cache` reports them. */
export interface TenantCacheMetrics {
  /** Snapshot acquisitions served entirely from the cache. */
  readonly hits: number;
  /** Acquisitions that had to wait for origin reads. */
  readonly misses: number;
  readonly hitRatio: number | null;
  readonly originRequests: number;
  readonly originBytes: number;
  /** Bytes of cached files handed to queries. */
  readonly bytesServed: number;
  readonly evictions: number;
  readonly evictedBytes: number;
  readonly refreshes: number;
  readonly refreshFailures: number;
  /** Listings that found a new version. */
  readonly versionsChanged: number;
  readonly bytesCached: number;
  readonly quotaBytes: number | null;
}

export type Counter = Exclude<keyof TenantCacheMetrics, 'hitRatio' | 'bytesCached' | 'quotaBytes'>;

export class MetricsRegistry {
  readonly #tenants = new Map<string, Record<Counter, number>>();

  #of(tenant: string): Record<Counter, number> {
    let counters = this.#tenants.get(tenant);
    if (!counters) {
      counters = {
        hits: 0,
        misses: 0,
        originRequests: 0,
        originBytes: 0,
        bytesServed: 0,
        evictions: 0,
        evictedBytes: 0,
        refreshes: 0,
        refreshFailures: 0,
        versionsChanged: 0,
      };
      this.#tenants.set(tenant, counters);
    }
    return counters;
  }

  add(tenant: string, counter: Counter, amount = 1): void {
    this.#of(tenant)[counter] += amount;
  }

  report(tenant: string, bytesCached: number, quotaBytes: number | undefined): TenantCacheMetrics {
    const c = this.#of(tenant);
    const lookups = c.hits + c.misses;
    return { ...c, hitRatio: lookups === 0 ? null : c.hits / lookups, bytesCached, quotaBytes: quotaBytes ?? null };
  }
}
