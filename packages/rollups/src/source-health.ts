/** The last failure to read each context's source (its server down, its files unlisted), until a read succeeds. */
export class SourceHealth {
  readonly #failures = new Map<string, { readonly at: string; readonly message: string }>();

  static #key(tenant: string, source: string): string {
    return `${tenant}\0${source}`;
  }

  failed(tenant: string, source: string, message: string, now: number): void {
    this.#failures.set(SourceHealth.#key(tenant, source), { at: new Date(now).toISOString(), message });
  }

  succeeded(tenant: string, source: string): void {
    this.#failures.delete(SourceHealth.#key(tenant, source));
  }

  /** The source's failure since its last good read, if any. */
  failure(tenant: string, source: string): { readonly at: string; readonly message: string } | undefined {
    return this.#failures.get(SourceHealth.#key(tenant, source));
  }
}
