import { ROLLUP_CHANGES_KEPT, type RollupChanges, type RollupLedger } from './rollup-ledger.js';

const claimKey = (rollup: string, start: number): string => `${rollup}@${start}`;

/** Rollup interval records and claims in this process's memory: a single gateway's ledger, and the tests'. */
export class MemoryRollupLedger implements RollupLedger {
  readonly #intervals = new Map<string, Map<number, string>>();
  /**
   * Per rollup: its version, and the interval of each of the last puts, the put of version `v` at `v` modulo their
   * number (a few bytes each, for thousands of rollups).
   */
  readonly #changes = new Map<string, { version: number; readonly puts: Float64Array }>();
  readonly #claims = new Map<string, { owner: string; until: number }>();
  readonly #clock: () => number;

  /** `clock` decides when claims lapse (tests move it instead of waiting). */
  constructor(clock: () => number = Date.now) {
    this.#clock = clock;
  }

  async rollupIntervals(rollup: string): Promise<Map<number, string>> {
    return new Map(this.#intervals.get(rollup) ?? []);
  }

  async rollupIntervalsAt(rollup: string, starts: readonly number[]): Promise<Map<number, string>> {
    const intervals = this.#intervals.get(rollup);
    const found = new Map<number, string>();
    for (const start of starts) {
      const record = intervals?.get(start);
      if (record !== undefined) found.set(start, record);
    }
    return found;
  }

  async putRollupInterval(rollup: string, start: number, record: string): Promise<void> {
    const intervals = this.#intervals.get(rollup) ?? new Map<number, string>();
    intervals.set(start, record);
    this.#intervals.set(rollup, intervals);
    const changes = this.#changes.get(rollup) ?? { version: 0, puts: new Float64Array(ROLLUP_CHANGES_KEPT) };
    changes.version++;
    changes.puts[changes.version % ROLLUP_CHANGES_KEPT] = start;
    this.#changes.set(rollup, changes);
  }

  async rollupChanges(rollup: string, since: number): Promise<RollupChanges> {
    const changes = this.#changes.get(rollup);
    const version = changes?.version ?? 0;
    if (since > version || since < version - ROLLUP_CHANGES_KEPT) return { version, starts: undefined };
    // Each interval once, in the order of its last put.
    const starts = new Set<number>();
    for (let v = Math.max(since, 0) + 1; v <= version; v++) {
      const start = changes?.puts[v % ROLLUP_CHANGES_KEPT] as number;
      starts.delete(start);
      starts.add(start);
    }
    return { version, starts: [...starts] };
  }

  async claimRollupInterval(rollup: string, start: number, owner: string, ttlMs: number): Promise<boolean> {
    const key = claimKey(rollup, start);
    const held = this.#claims.get(key);
    const now = this.#clock();
    if (held && held.owner !== owner && held.until > now) return false;
    this.#claims.set(key, { owner, until: now + ttlMs });
    return true;
  }

  async releaseRollupInterval(rollup: string, start: number, owner: string): Promise<void> {
    const key = claimKey(rollup, start);
    if (this.#claims.get(key)?.owner === owner) this.#claims.delete(key);
  }
}
