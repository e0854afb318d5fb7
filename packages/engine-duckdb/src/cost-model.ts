/** Runs remembered per query: enough to see through one run slowed by its neighbours. */
const RECENT_RUNS = 3;

/**
 * Remembers how long each query text ran for each tenant, to tell long queries from short ones before they
 * start. Dashboards repeat their queries, so recent runs are a good forecast of the next. A query counts as long
 * when even the fastest of its recent runs took `longMs`: a short query slowed down by a busy machine stays short,
 * and a long one that ran fast because it had the machine to itself stays long.
 */
export class CostModel {
  readonly #limit: number;
  readonly #longMs: number;
  readonly #runs = new Map<string, number[]>();

  constructor(longMs: number, limit = 10_000) {
    this.#longMs = longMs;
    this.#limit = limit;
  }

  static key(tenant: string, sql: string): string {
    return `${tenant}\0${sql}`;
  }

  /** True when every remembered recent run of this query took `longMs` or more. */
  isLong(key: string): boolean {
    const runs = this.#runs.get(key);
    return runs !== undefined && Math.min(...runs) >= this.#longMs;
  }

  /** Remembers a run's duration; `replaceLast` corrects the previous record (a provisional one). */
  record(key: string, durationMs: number, replaceLast = false): void {
    const runs = this.#runs.get(key) ?? [];
    this.#runs.delete(key);
    if (this.#runs.size >= this.#limit) this.#runs.delete(this.#runs.keys().next().value as string);
    if (replaceLast) runs.pop();
    runs.push(durationMs);
    if (runs.length > RECENT_RUNS) runs.shift();
    this.#runs.set(key, runs);
  }

  get longMs(): number {
    return this.#longMs;
  }
}
