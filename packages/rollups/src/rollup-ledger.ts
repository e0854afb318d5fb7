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
  /** Puts an interval's record, and counts the put in the rollup's version, in one step. */
  putRollupInterval(rollup: string, start: number, record: string): Promise<void>;
  /**
   * The number of puts of the rollup's records so far (0 before any): a reader that finds it unchanged, or grown
   * by its own puts only, knows that no one else changed a record since.
   */
  rollupVersion(rollup: string): Promise<number>;
  /**
   * Claims an interval for `ttlMs`, or renews the claim when `owner` holds it already; false when another replica
   * holds it. A claim that is not renewed lapses, so a crashed replica's intervals are computed again.
   */
  claimRollupInterval(rollup: string, start: number, owner: string, ttlMs: number): Promise<boolean>;
  /** Gives up a claim; a no-op unless `owner` holds it. */
  releaseRollupInterval(rollup: string, start: number, owner: string): Promise<void>;
}
