import type { IntervalRecord } from './interval-record.js';
import { definitionOf, type RollupContext, rollupKey } from './rollup-context.js';
import type { RollupLedger } from './rollup-ledger.js';

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
 * A summary older than this is read again. The scheduler reads every rollup's records each tick, and other
 * replicas' writes show only in such reads; a tick of thousands of old rollups takes minutes.
 */
const SUMMARY_TTL_MS = 5 * 60_000;

/** This replica's puts of one rollup's records. */
interface WriteLog {
  begun: number;
  ended: number;
  /**
   * Each interval put since tracking began, by the number of puts begun at its last one, oldest first: kept only
   * for a reader that reads what changed (see {@link IntervalLedger.trackFrom}).
   */
  readonly written: Map<number, number>;
  /** Intervals put at or before this many puts had begun are not in `written`. */
  forgotten: number;
  tracking: boolean;
}

/** Intervals a write log keeps at most; the oldest half go beyond it. */
const WRITTEN_KEPT = 4096;

/** The rollups' use of the {@link RollupLedger}: typed interval records, and claims that renew themselves. */
export class IntervalLedger {
  readonly #ledger: RollupLedger;
  readonly #clock: () => number;
  readonly #summaries = new Map<string, KeptSummary>();
  /** Reads of summaries under way: scrapes that ask meanwhile wait for the same read. */
  readonly #reading = new Map<string, Promise<RollupSummary>>();
  /** This replica's puts of each rollup: a read of its records during which one began may lack it. */
  readonly #writes = new Map<string, WriteLog>();

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

  /**
   * Tells the ledger that no other replica has put the rollup's records since they were last read (their version
   * says so): its summary, kept up to date by this replica's puts since, stands as of now.
   */
  confirm(tenant: string, name: string): void {
    const summary = this.#summaries.get(rollupKey(tenant, name));
    if (summary && summary.at !== Number.NEGATIVE_INFINITY) summary.at = this.#clock();
  }

  /** A rollup's interval records by start. */
  async records(tenant: string, name: string): Promise<Map<number, IntervalRecord>> {
    const key = rollupKey(tenant, name);
    const writes = this.#log(key).begun;
    const raw = await this.#ledger.rollupIntervals(key);
    // A write begun during the read may be missing from it: the summary is then read again when next asked for.
    const at = this.#log(key).begun === writes ? this.#clock() : Number.NEGATIVE_INFINITY;
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
    const log = this.#log(key);
    log.begun++;
    if (log.tracking) {
      log.written.delete(record.start);
      log.written.set(record.start, log.begun);
    } else log.forgotten = log.begun;
    if (log.written.size > WRITTEN_KEPT) {
      for (const [start, begun] of log.written) {
        if (log.written.size <= WRITTEN_KEPT / 2) break;
        log.written.delete(start);
        log.forgotten = begun;
      }
    }
    try {
      await this.#ledger.putRollupInterval(key, record.start, JSON.stringify(record));
    } finally {
      log.ended++;
    }
    const summary = this.#summaries.get(key);
    if (summary) noteInSummary(summary, record);
  }

  /** The number of puts of the rollup's records by all replicas (see {@link RollupLedger.rollupVersion}). */
  version(tenant: string, name: string): Promise<number> {
    return this.#ledger.rollupVersion(rollupKey(tenant, name));
  }

  /** How many of this replica's puts of the rollup's records have begun, and how many have ended. */
  writes(tenant: string, name: string): { readonly begun: number; readonly ended: number } {
    const { begun, ended } = this.#log(rollupKey(tenant, name));
    return { begun, ended };
  }

  /**
   * The intervals this replica has put since `begun` of its puts of the rollup had begun, or `undefined` when that
   * is not known (too long ago, or before {@link trackFrom}).
   */
  writtenSince(tenant: string, name: string, begun: number): number[] | undefined {
    const log = this.#log(rollupKey(tenant, name));
    if (begun < log.forgotten) return undefined;
    const starts: number[] = [];
    for (const [start, at] of log.written) if (at > begun) starts.push(start);
    return starts;
  }

  /**
   * Keeps which intervals this replica's puts of the rollup write after the first `begun`, for a reader that has
   * read its records as of then, and forgets those before: no one will ask for them.
   */
  trackFrom(tenant: string, name: string, begun: number): void {
    const log = this.#log(rollupKey(tenant, name));
    log.tracking = true;
    for (const [start, at] of log.written) {
      if (at > begun) break;
      log.written.delete(start);
    }
    log.forgotten = Math.max(log.forgotten, begun);
  }

  #log(key: string): WriteLog {
    let log = this.#writes.get(key);
    if (!log) {
      log = { begun: 0, ended: 0, written: new Map(), forgotten: 0, tracking: false };
      this.#writes.set(key, log);
    }
    return log;
  }

  /**
   * Claims an interval of the context for `owner`, renewed every third of `ttlMs` until released, so that a crashed
   * owner's claim lapses; `undefined` when another owner holds it. The claim covers every rollup of the context,
   * since they are computed together.
   */
  async claim(context: RollupContext, start: number, owner: string, ttlMs: number): Promise<IntervalClaim | undefined> {
    const key = `${context.tenant}/${context.source}@${context.intervalMs}`;
    if (!(await this.#ledger.claimRollupInterval(key, start, owner, ttlMs))) return undefined;
    const renew = setInterval(() => {
      void this.#ledger.claimRollupInterval(key, start, owner, ttlMs).catch(() => undefined);
    }, ttlMs / 3);
    renew.unref();
    return {
      release: async () => {
        clearInterval(renew);
        await this.#ledger.releaseRollupInterval(key, start, owner).catch(() => undefined);
      },
    };
  }
}
