/** When each tenant last queried: the rollups of tenants with recent traffic are computed first. */
export class RecentTraffic {
  readonly #last = new Map<string, number>();
  readonly #clock: () => number;

  constructor(clock: () => number) {
    this.#clock = clock;
  }

  /** `tenant` ran a query now. */
  note(tenant: string): void {
    this.#last.set(tenant, this.#clock());
  }

  /** When `tenant` last queried, if it has since the start. */
  last(tenant: string): number | undefined {
    return this.#last.get(tenant);
  }
}
