/** A rollup's source in PostgreSQL: a table of raw facts, dumped one interval at a time. */
export interface PostgresSourceSpec {
  /** `postgres://…`; absent parts come from libpq's environment (PGHOST, PGUSER, PGPASSWORD, …). */
  readonly url: string | undefined;
  /** The table, optionally schema-qualified (`facts.api_calls`). */
  readonly table: string;
  readonly timeColumn: string;
  /** The column that names a row's scope (an organisation, a tenant of the tenant): a dimension of the rollup. */
  readonly scopeColumn: string;
  /** Rows may still arrive this long after their interval ends: until then the interval is checked each tick. */
  readonly lateRowsMs: number;
}

/** A table of PostgreSQL where a rollup's rows are loaded, one transaction per interval. */
export interface PostgresSinkSpec {
  readonly url: string | undefined;
  readonly table: string;
}
