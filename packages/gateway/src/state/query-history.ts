/**
 * Every query's end, with its SQL text, kept for the console's History and `GET /v1/history`: the one place where
 * query texts are kept (logs never hold them). Bounded per tenant, and forgotten after the retention period.
 */

/** One query, as History shows it. */
export interface HistoryEntry {
  readonly id: string;
  readonly tenant: string;
  /** Epoch ms of the query's end. */
  readonly at: number;
  readonly sql: string;
  readonly fingerprint?: string | undefined;
  /** `http`, `trino`, `livy`, `postgres`. */
  readonly protocol: string;
  /** The client's name when it gave one (Postgres `application_name`, Trino `X-Trino-Source`). */
  readonly client?: string | undefined;
  readonly engine: string;
  readonly route?: string | undefined;
  readonly rows: number;
  readonly durationMs: number;
  readonly waitMs?: number | undefined;
  readonly cache?: string | undefined;
  readonly outcome: string;
  readonly code?: string | undefined;
}

export interface HistoryFilter {
  /** Only this tenant's queries (a tenant always sees only its own). */
  readonly tenant?: string | undefined;
  /** Case-insensitive text found in the SQL, engine, outcome or error code. */
  readonly search?: string | undefined;
  readonly outcome?: string | undefined;
  readonly limit: number;
}

export interface QueryHistory {
  record(entry: HistoryEntry): void;
  /** The newest entries first. */
  list(filter: HistoryFilter): Promise<readonly HistoryEntry[]>;
}

export interface HistoryLimits {
  /** Entries kept per tenant at most (the oldest go first). */
  readonly maxPerTenant: number;
  /** Entries older than this are forgotten. */
  readonly retentionMs: number;
}

/** Whether `entry` passes `filter`. */
export function matches(entry: HistoryEntry, filter: HistoryFilter): boolean {
  if (filter.tenant !== undefined && entry.tenant !== filter.tenant) return false;
  if (filter.outcome !== undefined && entry.outcome !== filter.outcome) return false;
  if (filter.search) {
    const needle = filter.search.toLowerCase();
    const haystack = `${entry.sql}\n${entry.engine}\n${entry.outcome}\n${entry.code ?? ''}\n${entry.protocol}`;
    if (!haystack.toLowerCase().includes(needle)) return false;
  }
  return true;
}

/** History in this process's memory: per tenant, a bounded list, newest last. */
export class MemoryQueryHistory implements QueryHistory {
  readonly #tenants = new Map<string, HistoryEntry[]>();

  constructor(
    readonly limits: HistoryLimits,
    readonly clock: () => number = Date.now,
  ) {}

  record(entry: HistoryEntry): void {
    let list = this.#tenants.get(entry.tenant);
    if (!list) {
      list = [];
      this.#tenants.set(entry.tenant, list);
    }
    list.push(entry);
    // Trimmed once it holds twice the limit, not at every entry: removing the oldest one by one moved the whole
    // list each query. `list` reads only the newest `maxPerTenant`.
    if (list.length >= 2 * this.limits.maxPerTenant) list.splice(0, list.length - this.limits.maxPerTenant);
  }

  async list(filter: HistoryFilter): Promise<readonly HistoryEntry[]> {
    const oldest = this.clock() - this.limits.retentionMs;
    const lists = filter.tenant !== undefined ? [this.#tenants.get(filter.tenant) ?? []] : [...this.#tenants.values()];
    const out: HistoryEntry[] = [];
    for (const list of lists) {
      const first = Math.max(0, list.length - this.limits.maxPerTenant);
      for (let i = first; i < list.length; i++) {
        const entry = list[i] as HistoryEntry;
        if (entry.at >= oldest && matches(entry, filter)) out.push(entry);
      }
    }
    return out.sort((a, b) => b.at - a.at).slice(0, filter.limit);
  }
}
