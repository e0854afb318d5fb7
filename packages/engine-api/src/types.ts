/**
 * Column types and values as engines hand them to the gateway. Engines never serialise to HTTP formats:
 * they produce columnar batches of plain JavaScript values in the representation below, and the gateway
 * encodes them as JSON, NDJSON or CSV.
 */

/**
 * How a column's values are represented in a {@link ColumnBatch}:
 *
 * | kind          | value in a batch                                                      |
 * |---------------|-----------------------------------------------------------------------|
 * | `boolean`     | `boolean`                                                             |
 * | `integer`     | `number` (integers of up to 32 bits)                                  |
 * | `bigint`      | `bigint` (64- and 128-bit integers)                                   |
 * | `float`       | `number` (may be NaN or ±Infinity)                                    |
 * | `decimal`     | `string`, exact decimal text such as `"-12.50"`                       |
 * | `string`      | `string` (also UUID, JSON, ENUM)                                       |
 * | `blob`        | `Uint8Array`                                                          |
 * | `date`        | `number`, days since 1970-01-01                                       |
 * | `time`        | `bigint`, microseconds since midnight                                 |
 * | `timestamp`   | `bigint`, microseconds since 1970-01-01 00:00:00 (no time zone)       |
 * | `timestamptz` | `bigint`, microseconds since 1970-01-01 00:00:00 UTC                  |
 * | `interval`    | `string`, ISO 8601 duration such as `"P1M2DT3S"`                      |
 * | `list`        | `readonly unknown[]` of the element type's values                     |
 * | `struct`      | `Readonly<Record<string, unknown>>` of the fields' values             |
 * | `map`         | `readonly { key: unknown; value: unknown }[]`                         |
 * | `other`       | `string`, the engine's text rendering                                 |
 *
 * `null` stands for SQL NULL in every kind.
 */
export type ValueKind =
  | 'boolean'
  | 'integer'
  | 'bigint'
  | 'float'
  | 'decimal'
  | 'string'
  | 'blob'
  | 'date'
  | 'time'
  | 'timestamp'
  | 'timestamptz'
  | 'interval'
  | 'list'
  | 'struct'
  | 'map'
  | 'other';

export interface ColumnType {
  readonly kind: ValueKind;
  /** The engine's SQL type name, e.g. `BIGINT`, `DECIMAL(18,3)`, `VARCHAR[]`. */
  readonly sqlType: string;
  /** Element type of a `list`. */
  readonly element?: ColumnType;
  /** Fields of a `struct`. */
  readonly fields?: readonly Column[];
  /** Key and value types of a `map`. */
  readonly key?: ColumnType;
  readonly value?: ColumnType;
}

export interface Column {
  readonly name: string;
  readonly type: ColumnType;
}

export type Schema = readonly Column[];

/** A slice of a result, stored by column: `columns[i][row]` is the value of column `i`. */
export interface ColumnBatch {
  readonly rowCount: number;
  readonly columns: readonly (readonly unknown[])[];
}

/**
 * How a dataset's files are written. `pgcopy` is PostgreSQL's binary COPY format with a header naming the columns:
 * the dump of a PostgreSQL source's interval, which local-agg reads; datasets are not configured in it.
 */
export type DatasetFormat = 'parquet' | 'csv' | 'tsv' | 'ndjson' | 'pgcopy';

export interface SnapshotFile {
  /** Absolute local path the engine reads. */
  readonly path: string;
  readonly size: number;
  /** Origin ETag (or a content fingerprint for local files). */
  readonly etag: string;
}

/** An immutable view of a dataset at one version: engines read snapshots, never a live location. */
export interface DatasetSnapshot {
  readonly tenant: string;
  readonly dataset: string;
  readonly format: DatasetFormat;
  /** Derived from the files' names, sizes and ETags: equal versions mean equal contents. */
  readonly version: string;
  readonly files: readonly SnapshotFile[];
}

/** A name the query may use, bound to the snapshot it reads. */
/** What every table binding has, whoever holds the table's data. */
interface TableBindingBase {
  /** The dataset's name as tenants write it (matched case-insensitively). */
  readonly name: string;
  /**
   * A SQL predicate over the dataset's columns that every row read under this name must satisfy. The engine
   * applies it so that no name the query can write reaches the unfiltered rows, and never shows its text to the
   * tenant. An engine that cannot apply it must decline the query in `check()`.
   */
  readonly rowFilter?: string;
}

/** A dataset of files in storage, read through the gateway's cache at one snapshot. */
export interface FileTableBinding extends TableBindingBase {
  readonly snapshot: DatasetSnapshot;
  readonly table?: never;
}

/**
 * A dataset that lives inside one engine (a table of a remote database or cluster): the gateway routes queries
 * that read it only to that engine, which reads `table` in the tenant's own space (its database, its user).
 * Engines that hold no tables must decline a request carrying one in `check()`.
 */
export interface EngineTableBinding extends TableBindingBase {
  /** The table's name inside the engine, as configured (`tenants.<t>.datasets.<name>.table`). */
  readonly table: string;
  readonly snapshot?: never;
}

/** A table a query may read under `name`: files at a snapshot, or a table inside the engine. */
export type TableBinding = FileTableBinding | EngineTableBinding;

/** True when the binding is a dataset of files at a snapshot (not a table inside an engine). */
export function isFileBinding(binding: TableBinding): binding is FileTableBinding {
  return binding.snapshot !== undefined;
}

/** A constant table the gateway serves itself, such as `information_schema.tables`. */
export interface VirtualTable {
  /** Schema the table is named in (e.g. `information_schema`), lower case. */
  readonly schema: string;
  /** Table name, lower case. */
  readonly name: string;
  readonly columns: readonly {
    readonly name: string;
    readonly sqlType: 'VARCHAR' | 'BIGINT' | 'BOOLEAN' | 'BIGINT[]' | 'VARCHAR[]';
  }[];
  /** Values by column; a BOOLEAN column's are `'true'` or `'false'`, a list column's like `'[1, 2]'`. */
  readonly rows: readonly (readonly (string | number | null)[])[];
}

export interface QueryRequest {
  /** Unique per query; engines use it in logs and to name per-query resources. */
  readonly queryId: string;
  readonly tenant: string;
  /**
   * The tenant's SQL exactly as written. The engine is the authority on what it does: it runs it only if its own
   * parser, on this exact text, finds one read-only query whose tables are `tables`, `virtualTables` or CTEs in
   * scope, and refuses anything else (FORBIDDEN_STATEMENT, UNKNOWN_TABLE, INVALID_SQL). The gateway's own checks
   * only ever narrow what reaches it.
   */
  readonly sql: string;
  readonly tables: readonly TableBinding[];
  /**
   * Qualifiers under which `tables` may also be named, lower case, such as `[['acme'], ['lakegate', 'acme']]` for
   * `acme.orders` and `lakegate.acme.orders`. Unqualified names always resolve to `tables`.
   */
  readonly qualifiers?: readonly (readonly string[])[];
  /** Constant tables the query may read under `<schema>.<name>` (also behind a catalog of `qualifiers`). */
  readonly virtualTables?: readonly VirtualTable[];
  /** Produce at most this many rows; the engine stops reading once it has them. */
  readonly maxRows?: number;
  /**
   * Values of the text's positional parameters (`$1` is `parameters[0]`), bound by the engine as parameters of
   * its prepared statement and never spliced into the text, so that no value can change what the query is. Each is
   * `null`, a `boolean`, a `number`, a `bigint`, a `string` (which the engine casts to the type the parameter's
   * place in the query needs, as a SQL string literal would be) or a `Uint8Array`. An engine that cannot bind
   * parameters (capability `parameters: false`) declines a request carrying any in `check()`.
   */
  readonly parameters?: readonly unknown[];
  /**
   * Only the result's columns are wanted (a Postgres client's Describe before it runs a prepared statement): the
   * engine checks and plans the query exactly as for running it, and answers its schema with no rows, without
   * reading data where it can. An engine that cannot plan without running may run it; the caller reads no row.
   */
  readonly describeOnly?: boolean;
}

export interface ExecuteOptions {
  /** Aborting it cancels the query: before it starts, while it runs, or while it streams. */
  readonly signal: AbortSignal;
}

/**
 * A running query's result. The schema is known as soon as `execute` resolves, before the first batch.
 * Iterate to receive batches; stopping early (`break`, `return()`) frees the query.
 */
export interface QueryStream extends AsyncIterable<ColumnBatch>, AsyncDisposable {
  readonly schema: Schema;
  /** Frees the query without reading further, also when it was never iterated. Idempotent. */
  close(): Promise<void>;
}

/** An engine's answer to "would you run this?", asked before anything runs. */
export type CheckResult = { readonly supported: true } | { readonly supported: false; readonly reason: string };
