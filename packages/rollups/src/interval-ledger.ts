import type { IntervalRecord } from './interval-record.js';
import { definitionOf, type RollupContext, rollupKey } from './rollup-context.js';
import type { RollupChanges, RollupLedger } from './rollup-ledger.js';

/**
 * Takes a record into a rollup's summary. The newest done interval moves forward here; when it is no longer done,
 * the one before it is not known, and the summary is read again when next asked for.
 */
function noteInSummary(summary: KeptSummary, record: IntervalRecord): void {
  if (record.state === 'done') summary.newestDone = Math.max(summary.newestDone ?? record.start, record.start);
  else if (record.start === summary.newestDone) summary.at = Number.NEGATIVE_INFINITY;
  if (record.audit && !record.audit.ok) summary.mismatched.add(record.start);
  else summary.mismatched.delete(record.start);
}

/** A claim on one interval of a context, renewed while held. */
export interface IntervalClaim {
  /**
   * Aborted once the claim is no longer this owner's: a renewal found another owner holding it, or none succeeded
   * for a whole `ttlMs` (the claim may have lapsed). The work under it stops and writes nothing more: the interval
   * is another owner's to compute.
   */
  readonly lost: AbortSignal;
  /** Stops renewing and gives the claim up (never fails: an unreleased claim lapses on its own). */
  release(): Promise<void>;
}

/** What the metrics read of a rollup's records: kept from each read of them, and each write since. */
export interface RollupSummary {
  /** The start of its newest interval recorded done. */
  readonly newestDone: number | undefined;
  /** Intervals whose last audit found other rows than the source has. */
  readonly mismatched: ReadonlySet<number>;
}

/** A summary as the ledger keeps it: updated in place by writes, with the time of the read it was taken from. */
interface KeptSummary extends RollupSummary {
  newestDone: number | undefined;
  readonly mismatched: Set<number>;
  /** When it was read, or -Infinity when it is to be read again. */
  at: number;
}

/**
 * A summary older than this is read again. Each tick keeps it current from the intervals put since its last read
 * (see {@link IntervalLedger.noteChanged}); a replica whose ticks do not reach a rollup reads it again after this.
 */
const SUMMARY_TTL_MS = 5 * 60_000;

/** The rollups' use of the {@link RollupLedger}: typed interval records, and claims that renew themselves. */
export class IntervalLedger {
  readonly #ledger: RollupLedger;
  readonly #clock: () => number;
  readonly #summaries = new Map<string, KeptSummary>();
  /** Reads of summaries under way: scrapes that ask meanwhile wait for the same read. */
  readonly #reading = new Map<string, Promise<RollupSummary>>();
  /** Writes begun on each rollup: a read of its records during which one began may lack it. */
  readonly #writes = new Map<string, number>();

  constructor(ledger: RollupLedger, clock: () => number = Date.now) {
    this.#ledger = ledger;
    this.#clock = clock;
  }

  /**
   * The rollup's summary, as of its last read within five minutes and this replica's writes since: the metrics of
   * thousands of rollups read this at each scrape, rather than every record of each.
   */
  async summary(tenant: string, name: string): Promise<RollupSummary> {
    const key = rollupKey(tenant, name);
    const known = this.#summaries.get(key);
    if (known && this.#clock() - known.at < SUMMARY_TTL_MS) return known;
    let reading = this.#reading.get(key);
    if (!reading) {
      reading = this.records(tenant, name)
        .then(() => this.#summaries.get(key) ?? { newestDone: undefined, mismatched: new Set<number>() })
        .finally(() => this.#reading.delete(key));
      this.#reading.set(key, reading);
    }
    return reading;
  }

  /** The rollup's summary as last kept, however old, without reading anything; none before its first read. */
  keptSummary(tenant: string, name: string): RollupSummary | undefined {
    return this.#summaries.get(rollupKey(tenant, name));
  }

  /** A rollup's interval records by start. */
  async records(tenant: string, name: string): Promise<Map<number, IntervalRecord>> {
    const key = rollupKey(tenant, name);
    const writes = this.#writes.get(key) ?? 0;
    const raw = await this.#ledger.rollupIntervals(key);
    // A write begun during the read may be missing from it: the summary is then read again when next asked for.
    const at = (this.#writes.get(key) ?? 0) === writes ? this.#clock() : Number.NEGATIVE_INFINITY;
    // Straight into the map: a tick reads every record of a rollup's history, thousands for a month-old one.
    const records = new Map<number, IntervalRecord>();
    const summary: KeptSummary = { newestDone: undefined, mismatched: new Set(), at };
    for (const [start, text] of raw) {
      const record = JSON.parse(text) as IntervalRecord;
      records.set(start, record);
      noteInSummary(summary, record);
    }
    this.#summaries.set(key, summary);
    return records;
  }

  /** A rollup's record of one interval, if any. */
  async record(tenant: string, name: string, start: number): Promise<IntervalRecord | undefined> {
    return (await this.recordsFor(tenant, name, [start])).get(start);
  }

  /** A rollup's records of the given intervals, those it has. */
  async recordsFor(tenant: string, name: string, starts: readonly number[]): Promise<Map<number, IntervalRecord>> {
    const records = new Map<number, IntervalRecord>();
    for (const [start, text] of await this.#ledger.rollupIntervalsAt(rollupKey(tenant, name), starts))
      records.set(start, JSON.parse(text) as IntervalRecord);
    return records;
  }

  /** The records of each rollup of the context, in its order. */
  recordsOf(context: RollupContext): Promise<Map<number, IntervalRecord>[]> {
    return Promise.all(context.rollups.map((r) => this.records(context.tenant, r.name)));
  }

  /**
   * {@link recordsOf} for one interval only: each rollup's map holds at most its record of `start`. A computation
   * reads this, so that its cost does not grow with the rollup's history.
   */
  recordsAt(context: RollupContext, start: number): Promise<Map<number, IntervalRecord>[]> {
    return Promise.all(
      context.rollups.map(async (r) => {
        const record = await this.record(context.tenant, r.name, start);
        return new Map(record ? [[start, record]] : []);
      }),
    );
  }

  /** Records an interval for every rollup of the context, each with its own definition's fingerprint. */
  async putForContext(context: RollupContext, record: IntervalRecord): Promise<void> {
    await Promise.all(
      context.rollups.map((r) => this.put(context.tenant, r.name, { ...record, definition: definitionOf(r) })),
    );
  }

  async put(tenant: string, name: string, record: IntervalRecord): Promise<void> {
    const key = rollupKey(tenant, name);
    this.#writes.set(key, (this.#writes.get(key) ?? 0) + 1);
    await this.#ledger.putRollupInterval(key, record.start, JSON.stringify(record));
    const summary = this.#summaries.get(key);
    if (summary) noteInSummary(summary, record);
  }

  /** The rollup's version, and the intervals put since version `since` (see {@link RollupLedger.rollupChanges}). */
  changes(tenant: string, name: string, since: number): Promise<RollupChanges> {
    return this.#ledger.rollupChanges(rollupKey(tenant, name), since);
  }

  /**
   * Takes into the rollup's summary the records of every interval put since its last read or the last call, and
   * keeps it as of now: read after the changes that named those intervals, they are all that changed since.
   */
  noteChanged(tenant: string, name: string, changed: Iterable<IntervalRecord>): void {
    const summary = this.#summaries.get(rollupKey(tenant, name));
    if (!summary) return;
    for (const record of changed) noteInSummary(summary, record);
    if (summary.at !== Number.NEGATIVE_INFINITY) summary.at = this.#clock();
  }

  /**
   * Claims an interval of the context for `owner`, renewed every third of `ttlMs` until released, so that a crashed
   * owner's claim lapses; `undefined` when another owner holds it. The claim covers every rollup of the context,
   * since they are computed together.
   */
  async claim(context: RollupContext, start: number, owner: string, ttlMs: number): Promise<IntervalClaim | undefined> {
    const key = `${context.tenant}/${context.source}@${context.intervalMs}`;
    if (!(await this.#ledger.claimRollupInterval(key, start, owner, ttlMs))) return undefined;
    const lost = new AbortController();
    let renewed = performance.now();
    const renew = setInterval(() => {
      void this.#ledger.claimRollupInterval(key, start, owner, ttlMs).then(
        (held) => {
          if (held) renewed = performance.now();
          else lost.abort(new Error(`the claim on ${key} at ${new Date(start).toISOString()} went to another owner`));
        },
        () => {
          // The ledger unreachable: the claim lapses a TTL after its last renewal, and may be another's since.
          if (performance.now() - renewed >= ttlMs)
            lost.abort(new Error(`the claim on ${key} at ${new Date(start).toISOString()} could not be renewed`));
        },
      );
    }, ttlMs / 3);
    renew.unref();
    return {
      lost: lost.signal,
      release: async () => {
        clearInterval(renew);
        await this.#ledger.releaseRollupInterval(key, start, owner).catch(() => undefined);
      },
    };
  }
}
