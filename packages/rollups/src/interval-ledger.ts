import type { IntervalRecord } from './interval-record.js';
import { definitionOf, type RollupContext, rollupKey } from './rollup-context.js';
import type { RollupLedger } from './rollup-ledger.js';

/** A claim on one interval of a context, renewed while held. */
export interface IntervalClaim {
  /** Stops renewing and gives the claim up (never fails: an unreleased claim lapses on its own). */
  release(): Promise<void>;
}

/** The rollups' use of the {@link RollupLedger}: typed interval records, and claims that renew themselves. */
export class IntervalLedger {
  readonly #ledger: RollupLedger;

  constructor(ledger: RollupLedger) {
    this.#ledger = ledger;
  }

  /** A rollup's interval records by start. */
  async records(tenant: string, name: string): Promise<Map<number, IntervalRecord>> {
    const raw = await this.#ledger.rollupIntervals(rollupKey(tenant, name));
    // Straight into the map: a tick reads every record of a rollup's history, thousands for a month-old one.
    const records = new Map<number, IntervalRecord>();
    for (const [start, text] of raw) records.set(start, JSON.parse(text) as IntervalRecord);
    return records;
  }

  /** A rollup's record of one interval, if any. */
  async record(tenant: string, name: string, start: number): Promise<IntervalRecord | undefined> {
    const text = await this.#ledger.rollupInterval(rollupKey(tenant, name), start);
    return text === undefined ? undefined : (JSON.parse(text) as IntervalRecord);
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

  put(tenant: string, name: string, record: IntervalRecord): Promise<void> {
    return this.#ledger.putRollupInterval(rollupKey(tenant, name), record.start, JSON.stringify(record));
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
