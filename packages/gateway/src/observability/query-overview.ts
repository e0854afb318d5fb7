import type { MinuteFigures, OverviewStore } from '../state/overview-store.js';
import { MINUTE_MS, MinuteBuckets, minuteOf, WINDOW_MINUTES } from './minute-buckets.js';

/**
 * The console's Overview: per tenant, one bucket per minute over the last hour (queries, latency percentiles, errors
 * by code, refusals), kept in this process from the end of every query, and shared with the other replicas
 * through the state store when there is one.
 */

/** Durations kept per bucket for its percentiles: enough for p99 to mean something, bounded in memory. */
const SAMPLES = 512;

/** Codes of a query refused for capacity (429 and 503 answers). */
const REFUSALS = new Set(['RATE_LIMITED', 'ENGINE_BUSY', 'SHUTTING_DOWN']);

interface Bucket {
  readonly tenant: string;
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

/** Durations a replica shares per tenant and minute. */
const SHARED_SAMPLES = 128;

/** Merges minutes' figures (of several replicas) into one minute of the Overview. */
function merge(minute: number, figures: readonly MinuteFigures[], queued: number): OverviewMinute {
  const errors: Record<string, number> = {};
  for (const f of figures) for (const [code, n] of Object.entries(f.errors)) errors[code] = (errors[code] ?? 0) + n;
  const sorted = figures.flatMap((f) => f.durations).sort((x, y) => x - y);
  return {
    minute,
    queries: figures.reduce((n, f) => n + f.queries, 0),
    errors,
    p50Ms: Math.round(percentile(sorted, 0.5)),
    p99Ms: Math.round(percentile(sorted, 0.99)),
    refused: figures.reduce((n, f) => n + f.refused, 0),
    queued,
  };
}

/** A bucket's figures, with at most `samples` of its durations. */
const figuresOf = (bucket: Bucket, samples: number): MinuteFigures => ({
  queries: bucket.queries,
  refused: bucket.refused,
  errors: Object.fromEntries(bucket.errors),
  durations: bucket.durations.slice(0, samples),
});

export class QueryOverview {
  readonly #tenants = new MinuteBuckets<Bucket>((tenant, minute) => ({
    tenant,
    minute,
    queries: 0,
    refused: 0,
    errors: new Map(),
    durations: [],
  }));
  /** Buckets changed since they were last shared. */
  readonly #dirty = new Set<Bucket>();

  constructor(readonly clock: () => number = Date.now) {}

  /** Counts one query's end. */
  record(tenant: string, durationMs: number, code: string | undefined): void {
    const bucket = this.#tenants.current(tenant, minuteOf(this.clock()));
    this.#dirty.add(bucket);
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

  /** Shares the minutes changed since the last call with the other replicas, through `store`. */
  async publish(store: OverviewStore, replica: string): Promise<void> {
    const changed = [...this.#dirty];
    this.#dirty.clear();
    await Promise.all(
      changed.map((bucket) => store.publish(replica, bucket.tenant, bucket.minute, figuresOf(bucket, SHARED_SAMPLES))),
    );
  }

  /**
   * The last hour's minutes of every replica together, from `store`, for `tenants` (those with none are left out),
   * with `queued` from this replica's admission now.
   */
  async shared(
    store: OverviewStore,
    tenants: readonly string[],
    queued: (tenant: string) => number,
  ): Promise<Record<string, OverviewMinute[]>> {
    const now = minuteOf(this.clock());
    const minutes = Array.from({ length: WINDOW_MINUTES }, (_, i) => now - (WINDOW_MINUTES - 1 - i) * MINUTE_MS);
    const out: Record<string, OverviewMinute[]> = {};
    await Promise.all(
      tenants.map(async (tenant) => {
        const read = await store.read(tenant, minutes);
        const merged = minutes.flatMap((m) => {
          const figures = read.get(m);
          return figures ? [merge(m, figures, queued(tenant))] : [];
        });
        if (merged.length > 0) out[tenant] = merged;
      }),
    );
    return out;
  }

  /** The last hour's minutes of each tenant (or of `tenant` only), with `queued` from admission now. */
  minutes(tenant: string | undefined, queued: (tenant: string) => number): Record<string, OverviewMinute[]> {
    const out: Record<string, OverviewMinute[]> = {};
    for (const id of this.#tenants.tenants()) {
      if (tenant !== undefined && id !== tenant) continue;
      out[id] = this.#tenants.recent(id, this.clock()).map((b) => merge(b.minute, [figuresOf(b, SAMPLES)], queued(id)));
    }
    if (tenant !== undefined) out[tenant] ??= [];
    return out;
  }
}
