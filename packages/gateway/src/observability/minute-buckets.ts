/** A minute in epoch ms. */
export const MINUTE_MS = 60_000;
/** Minutes the console's per-minute views keep: the last hour. */
export const WINDOW_MINUTES = 60;

/** The start of the minute holding `ms`. */
export const minuteOf = (ms: number): number => Math.floor(ms / MINUTE_MS) * MINUTE_MS;

/**
 * Per tenant, one bucket per minute over the last hour, oldest first: the current minute's bucket is made on first
 * use, and buckets older than the hour go as new ones come.
 */
export class MinuteBuckets<B extends { readonly minute: number }> {
  readonly #tenants = new Map<string, B[]>();

  constructor(readonly make: (tenant: string, minute: number) => B) {}

  /** The tenant's bucket for `minute` (the current one), made if it is new. */
  current(tenant: string, minute: number): B {
    let buckets = this.#tenants.get(tenant);
    if (!buckets) {
      buckets = [];
      this.#tenants.set(tenant, buckets);
    }
    let bucket = buckets.at(-1);
    if (bucket?.minute !== minute) {
      bucket = this.make(tenant, minute);
      buckets.push(bucket);
      while ((buckets[0] as B).minute <= minute - WINDOW_MINUTES * MINUTE_MS) buckets.shift();
    }
    return bucket;
  }

  /** The tenant's buckets within the hour before `now`, oldest first. */
  recent(tenant: string, now: number): B[] {
    const oldest = now - WINDOW_MINUTES * MINUTE_MS;
    return (this.#tenants.get(tenant) ?? []).filter((b) => b.minute > oldest);
  }

  /** The tenants with buckets. */
  tenants(): IterableIterator<string> {
    return this.#tenants.keys();
  }
}
