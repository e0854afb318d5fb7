/**
 * The console's Overview: per tenant, one bucket per minute over the last hour (queries, latency percentiles, errors
 * by code, refusals), kept in this process from the end of every query.
 */

const MINUTE_MS = 60_000;
const MINUTES = 60;
/** Durations kept per bucket for its percentiles: enough for p99 to mean something, bounded in memory. */
const SAMPLES = 512;

/** Codes of a query refused for capacity (429 and 503 answers). */
const REFUSALS = new Set(['RATE_LIMITED', 'ENGINE_BUSY', 'SHUTTING_DOWN']);

interface Bucket {
  readonly minute: number;
  queries: number;
  refused: number;
  readonly errors: Map<string, number>;
  readonly durations: number[];
}

/** One minute of a tenant's queries, as `GET /v1/overview` answers it. */
export interface OverviewMinute {
  /** The minute's start, epoch ms. */
  readonly minute: number;
  readonly queries: number;
  readonly errors: Readonly<Record<string, number>>;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly refused: number;
  /** Queries of the tenant queued for admission when asked. */
  readonly queued: number;
}

const percentile = (sorted: readonly number[], q: number): number =>
  sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);

export class QueryOverview {
  readonly #tenants = new Map<string, Bucket[]>();

  constructor(readonly clock: () => number = Date.now) {}

  /** Counts one query's end. */
  record(tenant: string, durationMs: number, code: string | undefined): void {
    const minute = Math.floor(this.clock() / MINUTE_MS) * MINUTE_MS;
    let buckets = this.#tenants.get(tenant);
    if (!buckets) {
      buckets = [];
      this.#tenants.set(tenant, buckets);
    }
    let bucket = buckets.at(-1);
    if (bucket?.minute !== minute) {
      bucket = { minute, queries: 0, refused: 0, errors: new Map(), durations: [] };
      buckets.push(bucket);
      while ((buckets[0] as Bucket).minute <= minute - MINUTES * MINUTE_MS) buckets.shift();
    }
    bucket.queries++;
    if (code) {
      bucket.errors.set(code, (bucket.errors.get(code) ?? 0) + 1);
      if (REFUSALS.has(code)) bucket.refused++;
    }
    // A reservoir: every duration has the same chance to be kept.
    if (bucket.durations.length < SAMPLES) bucket.durations.push(durationMs);
    else {
      const slot = Math.floor(Math.random() * bucket.queries);
      if (slot < SAMPLES) bucket.durations[slot] = durationMs;
    }
  }

  /** The last hour's minutes of each tenant (or of `tenant` only), with `queued` from admission now. */
  minutes(tenant: string | undefined, queued: (tenant: string) => number): Record<string, OverviewMinute[]> {
    const oldest = this.clock() - MINUTES * MINUTE_MS;
    const out: Record<string, OverviewMinute[]> = {};
    for (const [id, buckets] of this.#tenants) {
      if (tenant !== undefined && id !== tenant) continue;
      out[id] = buckets
        .filter((b) => b.minute > oldest)
        .map((b) => {
          const sorted = [...b.durations].sort((x, y) => x - y);
          return {
            minute: b.minute,
            queries: b.queries,
            errors: Object.fromEntries(b.errors),
            p50Ms: Math.round(percentile(sorted, 0.5)),
            p99Ms: Math.round(percentile(sorted, 0.99)),
            refused: b.refused,
            queued: queued(id),
          };
        });
    }
    if (tenant !== undefined) out[tenant] ??= [];
    return out;
  }
}
