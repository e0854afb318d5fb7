/**
 * Remembers how long each query text ran for each tenant, to tell long queries from short ones before they
 * start. Dashboards repeat their queries, so the last run is a good forecast of the next.
 */
export class CostModel {
  readonly #limit: number;
  readonly #longMs: number;
  readonly #durations = new Map<string, number>();

  constructor(longMs: number, limit = 10_000) {
    this.#longMs = longMs;
    this.#limit = limit;
  }

  static key(tenant: string, sql: string): string {
    return `${tenant}\0${sql}`;
  }

  /** True when the last run of this query took `longMs` or more. */
  isLong(key: string): boolean {
    return (this.#durations.get(key) ?? 0) >= this.#longMs;
  }

  record(key: string, durationMs: number): void {
    this.#durations.delete(key);
    if (this.#durations.size >= this.#limit) this.#durations.delete(this.#durations.keys().next().value as string);
    this.#durations.set(key, durationMs);
  }

  get longMs(): number {
    return this.#longMs;
  }
}
