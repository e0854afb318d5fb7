/** Runs remembered per query: enough to see through one run slowed by its neighbours. */
const RECENT_RUNS = 3;

interface Runs {
  /** The durations of the recent runs, oldest first. */
  readonly durations: number[];
  rows?: number;
}

/**
 * Remembers how long each query text ran for each tenant, and how many rows it returned, to tell long queries from
 * short ones (and small results from large) before they start. Dashboards repeat their queries, so recent runs are
 * a good forecast of the next. A query counts as long when even the fastest of its recent runs took `longMs`: a
 * short query slowed down by a busy machine stays short, and a long one that ran fast because it had the machine to
 * itself stays long.
 */
export class CostModel {
  readonly #limit: number;
  readonly #longMs: number;
  readonly #runs = new Map<string, Runs>();

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
    return runs !== undefined && runs.durations.length > 0 && Math.min(...runs.durations) >= this.#longMs;
  }

  /** The rows the query's last complete run returned, if it ran to the end. */
  lastRows(key: string): number | undefined {
    return this.#runs.get(key)?.rows;
  }

  /**
   * Remembers a run's duration, and its rows when it ran to the end; `replaceLast` corrects the previous record (a
   * provisional one).
   */
  record(key: string, durationMs: number, replaceLast = false, rows?: number): void {
    const runs = this.#runs.get(key) ?? { durations: [] };
    this.#runs.delete(key);
    if (this.#runs.size >= this.#limit) this.#runs.delete(this.#runs.keys().next().value as string);
    if (replaceLast) runs.durations.pop();
    runs.durations.push(durationMs);
    if (runs.durations.length > RECENT_RUNS) runs.durations.shift();
    if (rows !== undefined) runs.rows = rows;
    this.#runs.set(key, runs);
  }

  get longMs(): number {
    return this.#longMs;
  }
}
