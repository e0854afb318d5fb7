import { ROLLUP_CHANGES_KEPT, type RollupChanges, type RollupLedger } from './rollup-ledger.js';

const claimKey = (rollup: string, start: number): string => `${rollup}@${start}`;

/** Rollup interval records and claims in this process's memory: a single gateway's ledger, and the tests'. */
export class MemoryRollupLedger implements RollupLedger {
  readonly #intervals = new Map<string, Map<number, string>>();
  /** Per rollup: its version, and the version of the last put of each interval among the last ones. */
  readonly #changes = new Map<string, { version: number; readonly puts: Map<number, number> }>();
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
    const changes = this.#changes.get(rollup) ?? { version: 0, puts: new Map<number, number>() };
    changes.version++;
    changes.puts.delete(start);
    changes.puts.set(start, changes.version);
    for (const [kept, version] of changes.puts) {
      if (version > changes.version - ROLLUP_CHANGES_KEPT) break;
      changes.puts.delete(kept);
    }
    this.#changes.set(rollup, changes);
  }

  async rollupChanges(rollup: string, since: number): Promise<RollupChanges> {
    const { version, puts } = this.#changes.get(rollup) ?? { version: 0, puts: new Map<number, number>() };
    if (since > version || since < version - ROLLUP_CHANGES_KEPT) return { version, starts: undefined };
    const starts: number[] = [];
    for (const [start, at] of puts) if (at > since) starts.push(start);
    return { version, starts };
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
