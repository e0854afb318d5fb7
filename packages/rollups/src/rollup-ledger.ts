/**
 * The puts of a rollup's records that a ledger keeps a note of: a reader further behind reads the records whole.
 * Every replica reads each rollup's changes every tick, so it is a few puts behind at most, unless another replica
 * fills a backlog (which is read whole anyway).
 */
export const ROLLUP_CHANGES_KEPT = 128;

/** What changed in a rollup's records: its version now, and the intervals put since the version asked about. */
export interface RollupChanges {
  /** The number of puts of the rollup's records so far (0 before any). */
  readonly version: number;
  /**
   * The intervals put after the version asked about, each once, or `undefined` when the ledger no longer knows them
   * all (more than {@link ROLLUP_CHANGES_KEPT} puts since), or the version asked about is ahead of the ledger's.
   */
  readonly starts: readonly number[] | undefined;
}

/**
 * Where replicas record rollup intervals and agree on who computes which: the gateway keeps it in Redis when
 * `state.redisUrl` is set, else in memory ({@link MemoryRollupLedger}; a restart computes the intervals again). A
 * rollup is named `tenant/name`; an interval by its start in epoch milliseconds. Every method rejects with
 * STATE_UNAVAILABLE, at once, when the ledger cannot be reached.
 */
export interface RollupLedger {
  /** The rollup's interval records (JSON text), by interval start. */
  rollupIntervals(rollup: string): Promise<Map<number, string>>;
  /**
   * The records (JSON text) of the given intervals that have one: a computation reads its own, and a query answered
   * from the rollup those of its time range, without the rollup's whole history.
   */
  rollupIntervalsAt(rollup: string, starts: readonly number[]): Promise<Map<number, string>>;
  /** Puts an interval's record, counts the put in the rollup's version and notes the interval, in one step. */
  putRollupInterval(rollup: string, start: number, record: string): Promise<void>;
  /**
   * The rollup's version and the intervals put since version `since`, read together: a replica that read the
   * records at `since` reads only these again.
   */
  rollupChanges(rollup: string, since: number): Promise<RollupChanges>;
  /**
   * Claims an interval for `ttlMs`, or renews the claim when `owner` holds it already; false when another replica
   * holds it. A claim that is not renewed lapses, so a crashed replica's intervals are computed again.
   */
  claimRollupInterval(rollup: string, start: number, owner: string, ttlMs: number): Promise<boolean>;
  /** Gives up a claim; a no-op unless `owner` holds it. */
  releaseRollupInterval(rollup: string, start: number, owner: string): Promise<void>;
}
