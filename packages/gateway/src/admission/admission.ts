import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { LakegateError } from '@lakegate/engine-api';

/** Limits on queries, for one tenant or the whole gateway. Absent keys set no limit. */
export interface QueryLimits {
  /** Queries running at once. */
  readonly concurrentQueries?: number | undefined;
  /** Queries waiting for a slot; beyond this, RATE_LIMITED. */
  readonly queuedQueries?: number | undefined;
  /** Queries admitted per second (a token bucket with a one-second burst). */
  readonly queriesPerSecond?: number | undefined;
}

export interface AdmissionOptions {
  readonly global: QueryLimits;
  readonly tenant: (tenant: string) => QueryLimits;
  /** Refuse new work while the process's resident memory is above this many bytes. */
  readonly maxMemoryBytes?: number | undefined;
  /** The process's resident memory in bytes (tests give their own). */
  readonly memoryUsage?: () => number;
  /** The JavaScript heap in use and its limit, in bytes (tests give their own). */
  readonly heapUsage?: () => { readonly used: number; readonly limit: number };
  readonly clock?: () => number;
}

/** New work is refused while the JavaScript heap holds more than this share of its limit. */
const HEAP_SHARE_AT_MOST = 0.85;

/** Memory readings are reused for this long, so that refusing a flood does not read them per request. */
const MEMORY_READING_MS = 50;

/**
 * The default `maxMemoryBytes`: 90% of the memory this process may use, the host's or, in a container with a
 * memory limit (cgroup v2 or v1), the container's if lower.
 */
export function defaultMaxMemoryBytes(): number {
  let available = totalmem();
  for (const path of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    try {
      const limit = Number(readFileSync(path, 'utf8').trim());
      if (Number.isFinite(limit) && limit > 0) available = Math.min(available, limit);
    } catch {
      // not there: no such limit
    }
  }
  return Math.floor(available * 0.9);
}

function v8Heap(): { used: number; limit: number } {
  const heap = getHeapStatistics();
  return { used: heap.used_heap_size, limit: heap.heap_size_limit };
}

export interface AdmissionStats {
  readonly running: number;
  readonly queued: number;
  readonly byTenant: Readonly<Record<string, { readonly running: number; readonly queued: number }>>;
}

interface Waiter {
  readonly grant: () => void;
}

class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(
    readonly rate: number,
    now: number,
  ) {
    this.#tokens = rate;
    this.#at = now;
  }

  /** Takes a token (unless `peek`), or returns the seconds until one is there. */
  take(now: number, peek = false): number {
    this.#tokens = Math.min(this.rate, this.#tokens + ((now - this.#at) / 1000) * this.rate);
    this.#at = now;
    if (this.#tokens >= 1) {
      if (!peek) this.#tokens -= 1;
      return 0;
    }
    return (1 - this.#tokens) / this.rate;
  }
}

/** A tenant that submitted or finished a query this recently counts as active when slots are shared. */
const ACTIVE_MS = 1000;

/** How fast a tenant's recent slot time fades: half of it is forgotten every second. */
const USAGE_HALF_LIFE_MS = 1000;

/**
 * Admission control: per-tenant and gateway-wide limits on running and queued queries and on their rate, with a
 * fair queue — when a slot frees, the next query comes from the waiting tenant that has used the fewest slot
 * seconds lately (in turn among equals), so a tenant's burst waits behind its own backlog — and fair shares: while
 * several tenants are active, none holds more than its share of the gateway's slots, so a light tenant's query
 * finds a slot free. Refusals are RATE_LIMITED (429) with Retry-After, at once, never a timeout.
 */
export class Admission {
  readonly #options: AdmissionOptions;
  readonly #clock: () => number;
  readonly #running = new Map<string, number>();
  /** Waiters by tenant, FIFO within a tenant; `#turns` is the round-robin order of tenants that wait. */
  readonly #queues = new Map<string, Waiter[]>();
  #turns: string[] = [];
  #total = 0;
  #queued = 0;
  readonly #buckets = new Map<string, TokenBucket>();
  /** Each tenant's slot time, decaying (see USAGE_HALF_LIFE_MS), and when it was last brought up to date. */
  readonly #usage = new Map<string, { ms: number; at: number }>();
  /** When each tenant last had a query admitted, queued or finished (see {@link #fairShare}). */
  readonly #lastActive = new Map<string, number>();
  /** Per tenant, how many queries run and the sum of their start times (their time so far, for #load). */
  readonly #runningStarts = new Map<string, { count: number; sum: number }>();
  /** Dispatches again when shares may have grown (a tenant held to its share has queries waiting). */
  #shareTimer: ReturnType<typeof setTimeout> | undefined;
  /** The last memory check: when, and its refusal if any (see MEMORY_READING_MS). */
  #memoryReading: { at: number; refusal: LakegateError | undefined } | undefined;

  constructor(options: AdmissionOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
  }

  stats(): AdmissionStats {
    const tenants = new Set([...this.#running.keys(), ...this.#queues.keys()]);
    return {
      running: this.#total,
      queued: this.#queued,
      byTenant: Object.fromEntries(
        [...tenants].map((t) => [t, { running: this.#running.get(t) ?? 0, queued: this.#queues.get(t)?.length ?? 0 }]),
      ),
    };
  }

  /** The refusal of a rate limit, or undefined after taking a token (only looking when `peek`). */
  #rate(key: string, rate: number | undefined, what: string, peek: boolean): LakegateError | undefined {
    if (rate === undefined) return undefined;
    let bucket = this.#buckets.get(key);
    if (!bucket || bucket.rate !== rate) {
      bucket = new TokenBucket(rate, this.#clock());
      this.#buckets.set(key, bucket);
    }
    const wait = bucket.take(this.#clock(), peek);
    if (wait === 0) return undefined;
    return new LakegateError('RATE_LIMITED', `${what} is limited to ${rate} queries per second; retry shortly.`, {
      retryAfterSeconds: Math.max(1, Math.ceil(wait)),
    });
  }

  /**
   * The refusal while the process's resident memory is above `maxMemoryBytes`, or its JavaScript heap nearly full
   * (the process would crash at the heap's limit whatever the machine has free). Read at most every
   * MEMORY_READING_MS.
   */
  #memory(): LakegateError | undefined {
    const now = this.#clock();
    const reading = this.#memoryReading;
    if (reading && now - reading.at < MEMORY_READING_MS) return reading.refusal;
    const { maxMemoryBytes } = this.#options;
    const rss = maxMemoryBytes === undefined ? 0 : (this.#options.memoryUsage ?? process.memoryUsage.rss)();
    const heap = (this.#options.heapUsage ?? v8Heap)();
    const short =
      maxMemoryBytes !== undefined && rss > maxMemoryBytes
        ? 'memory'
        : heap.used > heap.limit * HEAP_SHARE_AT_MOST
          ? 'memory for results'
          : undefined;
    const refusal = short
      ? new LakegateError('ENGINE_BUSY', `The gateway is short of ${short} and takes no new queries for a moment.`, {
          retryAfterSeconds: 2,
        })
      : undefined;
    this.#memoryReading = { at: now, refusal };
    return refusal;
  }

  /** The refusal of a full queue, when `tenant` can neither run now nor wait. */
  #queue(tenant: string): LakegateError | undefined {
    if (this.#canRun(tenant) && !this.#queues.has(tenant)) return undefined;
    const tenantQueued = this.#queues.get(tenant)?.length ?? 0;
    if (tenantQueued >= (this.#options.tenant(tenant).queuedQueries ?? Number.POSITIVE_INFINITY)) {
      return new LakegateError(
        'RATE_LIMITED',
        `Your tenant has ${tenantQueued} queries waiting, the most allowed; retry shortly.`,
        { retryAfterSeconds: 1 },
      );
    }
    if (this.#queued >= (this.#options.global.queuedQueries ?? Number.POSITIVE_INFINITY)) {
      return new LakegateError('RATE_LIMITED', 'The gateway is at capacity; retry shortly.', { retryAfterSeconds: 1 });
    }
    return undefined;
  }

  /**
   * The refusal {@link admit} would give a query of `tenant` right now, if any, without taking a token or a place:
   * a route checks it before reading and preparing the request, so that refusing a flood costs little.
   */
  refusal(tenant: string): LakegateError | undefined {
    return this.#refusal(tenant, false);
  }

  /**
   * Every check first, taking nothing; then, for a query that passes them all and `take`, one token of each rate
   * (a query refused by its tenant's rate or a full queue spends none of the gateway's).
   */
  #refusal(tenant: string, take: boolean): LakegateError | undefined {
    const global = this.#options.global.queriesPerSecond;
    const own = this.#options.tenant(tenant).queriesPerSecond;
    const refused =
      this.#memory() ??
      this.#rate('*', global, 'The gateway', true) ??
      this.#rate(`tenant:${tenant}`, own, 'Your tenant', true) ??
      this.#queue(tenant);
    if (refused || !take) return refused;
    this.#rate('*', global, 'The gateway', false);
    this.#rate(`tenant:${tenant}`, own, 'Your tenant', false);
    return undefined;
  }

  #canRun(tenant: string): boolean {
    const { global } = this.#options;
    const limits = this.#options.tenant(tenant);
    const running = this.#running.get(tenant) ?? 0;
    return (
      this.#total < (global.concurrentQueries ?? Number.POSITIVE_INFINITY) &&
      running < (limits.concurrentQueries ?? Number.POSITIVE_INFINITY) &&
      running < this.#fairShare(tenant)
    );
  }

  /**
   * The most gateway slots `tenant` may hold: all of them while no other tenant is active, or while it has no
   * queries waiting and another active tenant has used more slot time lately; else (it is the heaviest, or it has
   * a backlog) an equal share (rounded up) of them, leaving at least one slot per other active tenant. So a
   * flooding tenant's running queries cannot hold every slot while another tenant has work: the other tenant's
   * next query finds a slot free, or waits for one query at most, instead of waiting behind the flood.
   */
  #fairShare(tenant: string): number {
    const slots = this.#options.global.concurrentQueries;
    if (slots === undefined) return Number.POSITIVE_INFINITY;
    const now = this.#clock();
    let others = 0;
    let heaviestOther = 0;
    for (const [other, seen] of this.#lastActive) {
      if (other === tenant) continue;
      if ((this.#running.get(other) ?? 0) > 0 || this.#queues.has(other) || now - seen < ACTIVE_MS) {
        others++;
        heaviestOther = Math.max(heaviestOther, this.#load(other, now));
      } else this.#lastActive.delete(other);
    }
    // Held to its share: the heaviest user of late, and any tenant with a backlog (its demand exceeds what it has,
    // as a fresh flood's does before its usage shows it). A lighter tenant without one may take any free slot.
    if (others === 0 || (!this.#queues.has(tenant) && this.#load(tenant, now) < heaviestOther)) return slots;
    return Math.max(1, Math.min(Math.ceil(slots / (others + 1)), slots - others));
  }

  /** The tenant's recent slot time, decayed to now, plus `add` milliseconds. */
  #recentUsage(tenant: string, add = 0): number {
    const now = this.#clock();
    const entry = this.#usage.get(tenant);
    const ms = (entry ? entry.ms * 0.5 ** ((now - entry.at) / USAGE_HALF_LIFE_MS) : 0) + add;
    if (add > 0 || entry) this.#usage.set(tenant, { ms, at: now });
    return ms;
  }

  /** A tenant's recent slot time, including the time so far of its queries still running. */
  #load(tenant: string, now: number): number {
    const running = this.#runningStarts.get(tenant);
    return this.#recentUsage(tenant) + (running ? running.count * now - running.sum : 0);
  }

  #start(tenant: string): () => void {
    this.#total++;
    this.#running.set(tenant, (this.#running.get(tenant) ?? 0) + 1);
    this.#lastActive.set(tenant, this.#clock());
    const started = this.#clock();
    const starts = this.#runningStarts.get(tenant) ?? { count: 0, sum: 0 };
    starts.count++;
    starts.sum += started;
    this.#runningStarts.set(tenant, starts);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#total--;
      this.#running.set(tenant, (this.#running.get(tenant) ?? 1) - 1);
      starts.count--;
      starts.sum -= started;
      this.#recentUsage(tenant, Math.max(1, this.#clock() - started));
      this.#lastActive.set(tenant, this.#clock());
      this.#dispatch();
    };
  }

  /** Takes one waiter out of a tenant's queue; a tenant left with none leaves the turns. */
  #dequeue(tenant: string, queue: Waiter[], index: number): Waiter {
    const [waiter] = queue.splice(index, 1) as [Waiter];
    this.#queued--;
    if (queue.length === 0) {
      this.#queues.delete(tenant);
      this.#turns = this.#turns.filter((t) => t !== tenant);
    }
    return waiter;
  }

  /**
   * Grants freed slots: each to the waiting tenant with the least recent slot time that is under its own limit
   * (the earliest in turn among equals), until no waiting tenant can run.
   */
  #dispatch(): void {
    for (;;) {
      let chosen: string | undefined;
      let least = Number.POSITIVE_INFINITY;
      for (const tenant of this.#turns) {
        if (!this.#queues.get(tenant)?.length || !this.#canRun(tenant)) continue;
        const usage = this.#recentUsage(tenant);
        if (usage < least) {
          least = usage;
          chosen = tenant;
        }
      }
      if (chosen === undefined) {
        this.#retryWhenSharesGrow();
        return;
      }
      // The chosen tenant goes to the end of the turns, so equals take turns.
      this.#turns = [...this.#turns.filter((t) => t !== chosen), chosen];
      this.#dequeue(chosen, this.#queues.get(chosen) as Waiter[], 0).grant();
    }
  }

  /**
   * A waiting tenant held to its share gets more once the others have been quiet for ACTIVE_MS, which no release
   * signals: look again then (the timer does not keep the process alive).
   */
  #retryWhenSharesGrow(): void {
    if (this.#shareTimer !== undefined) return;
    const slots = this.#options.global.concurrentQueries;
    if (slots === undefined || this.#total >= slots || this.#queued === 0) return;
    this.#shareTimer = setTimeout(() => {
      this.#shareTimer = undefined;
      this.#dispatch();
    }, ACTIVE_MS);
    this.#shareTimer.unref?.();
  }

  /**
   * Admits a query of `tenant` that needs no slot (an answer from the result cache, which runs nothing): takes its
   * tokens of each rate, as {@link admit} would, and returns the refusal it would give instead, if any.
   */
  admitWithoutSlot(tenant: string): LakegateError | undefined {
    return this.#refusal(tenant, true);
  }

  /**
   * Admits a query of `tenant`: resolves with the release function once it may run, waits in the fair queue when
   * the limits are reached, and refuses with RATE_LIMITED when the queue or the rate is full.
   */
  async admit(tenant: string, signal: AbortSignal): Promise<() => void> {
    const refused = this.#refusal(tenant, true);
    if (refused) throw refused;
    if (this.#canRun(tenant) && !this.#queues.has(tenant)) return this.#start(tenant);
    return new Promise<() => void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          signal.removeEventListener('abort', cancel);
          resolve(this.#start(tenant));
        },
      };
      const cancel = (): void => {
        const queue = this.#queues.get(tenant);
        const index = queue?.indexOf(waiter) ?? -1;
        if (queue && index >= 0) this.#dequeue(tenant, queue, index);
        reject(
          signal.reason instanceof LakegateError
            ? signal.reason
            : new LakegateError('QUERY_CANCELLED', 'The query was cancelled while waiting.'),
        );
      };
      if (signal.aborted) {
        cancel();
        return;
      }
      signal.addEventListener('abort', cancel, { once: true });
      this.#lastActive.set(tenant, this.#clock());
      const queue = this.#queues.get(tenant) ?? [];
      if (queue.length === 0) this.#turns.push(tenant);
      queue.push(waiter);
      this.#queues.set(tenant, queue);
      this.#queued++;
      this.#retryWhenSharesGrow();
    });
  }
}
