import type { RollupLedger } from './rollup-ledger.js';

const claimKey = (rollup: string, start: number): string => `${rollup}@${start}`;

/** Rollup interval records and claims in this process's memory: a single gateway's ledger, and the tests'. */
export class MemoryRollupLedger implements RollupLedger {
  readonly #intervals = new Map<string, Map<number, string>>();
  readonly #versions = new Map<string, number>();
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
    this.#versions.set(rollup, (this.#versions.get(rollup) ?? 0) + 1);
  }

  async rollupVersion(rollup: string): Promise<number> {
    return this.#versions.get(rollup) ?? 0;
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
