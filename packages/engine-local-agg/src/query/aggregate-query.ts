/**
 * The query shapes local-agg runs, as the parser produces them. Two shapes exist:
 *
 * - a scan: `SELECT * | columns FROM t [WHERE p] [LIMIT n]`, streamed row by row;
 * - an aggregation: `SELECT dims, aggregates FROM t [WHERE p] [GROUP BY dims] [HAVING p] [ORDER BY ...] [LIMIT n]`,
 *   computed in one pass over the files.
 *
 * Names are lower-cased (DuckDB matches identifiers case-insensitively, quoted or not).
 */

/** A constant as written. `timestamp`/`date` mark typed literals (`TIMESTAMP '2024-01-01 10:00'`). */
export interface Literal {
  readonly kind: 'literal';
  readonly value: string | number | boolean | null;
  readonly typed?: 'timestamp' | 'date';
}

export interface ColumnRef {
  readonly kind: 'column';
  readonly name: string;
}

/**
 * A time bucket of a timestamp column: `time_bucket(INTERVAL '5 minutes', ts)` or `date_trunc('hour', ts)`.
 * `widthMicros` divides a day (seconds, minutes, hours up to 1 day), so buckets are aligned to midnight UTC.
 */
export interface BucketExpr {
  readonly kind: 'bucket';
  readonly column: string;
  readonly widthMicros: number;
}

export type Dimension = ColumnRef | BucketExpr;

export type AggregateFn =
  | 'count'
  | 'count_distinct'
  | 'sum'
  | 'min'
  | 'max'
  | 'avg'
  /** Exact, interpolated: `quantile_cont(x, p)`, `percentile_cont(p) WITHIN GROUP (ORDER BY x)`, `median(x)`. */
  | 'quantile_cont'
  /** Approximate, from a t-digest: `approx_quantile(x, p)`. */
  | 'approx_quantile';

export interface Aggregate {
  readonly kind: 'aggregate';
  readonly fn: AggregateFn;
  /** The argument column; absent for `count(*)`. */
  readonly column?: string;
  /** The quantile's fraction, 0..1, for `quantile_cont` and `approx_quantile`. */
  readonly fraction?: number;
  /** `agg(...) FILTER (WHERE p)`: only rows where `p` holds are aggregated. */
  readonly filter?: Predicate;
}

/** What a comparison's left side may be: a column (or, in HAVING, an output alias), a bucket, an aggregate. */
export type Operand = Dimension | Aggregate;

export type CompareOp = '=' | '<>' | '<' | '<=' | '>' | '>=';

export type Predicate =
  | { readonly kind: 'and' | 'or'; readonly left: Predicate; readonly right: Predicate }
  | { readonly kind: 'not'; readonly operand: Predicate }
  /** `operand op literal`; the parser turns `literal op column` around. */
  | { readonly kind: 'compare'; readonly operand: Operand; readonly op: CompareOp; readonly value: Literal }
  | {
      readonly kind: 'in';
      readonly operand: Operand;
      readonly values: readonly Literal[];
      readonly negated: boolean;
    }
  | {
      readonly kind: 'between';
      readonly operand: Operand;
      readonly low: Literal;
      readonly high: Literal;
      readonly negated: boolean;
    }
  | { readonly kind: 'is-null'; readonly operand: Operand; readonly negated: boolean }
  /** `operand LIKE 'pattern'` with `%` and `_`. */
  | { readonly kind: 'like'; readonly operand: Operand; readonly pattern: string; readonly negated: boolean };

export interface SelectItem {
  readonly expr: Operand;
  /** The output column's name: the alias, else the column's name, else the expression's text as DuckDB names it. */
  readonly name: string;
  /** Whether the name was given by `AS alias` (or a bare alias). */
  readonly aliased: boolean;
}

/** `ORDER BY` target: an output column by position (1-based) or an expression that equals a select item. */
export type OrderTarget = Operand | { readonly kind: 'ordinal'; readonly index: number };

export interface OrderItem {
  readonly target: OrderTarget;
  readonly descending: boolean;
  /** DuckDB's default is NULLS LAST in both directions. */
  readonly nullsFirst: boolean;
}

export interface ScanQuery {
  readonly shape: 'scan';
  /** The FROM table as written (lower-cased, last part of a qualified name). */
  readonly table: string;
  /** The catalog and schema written in front of it, lower-cased. */
  readonly qualifiers: readonly string[];
  /** `'*'` or the columns in order. */
  readonly columns: '*' | readonly SelectItem[];
  readonly where?: Predicate;
  readonly limit?: number;
}

export interface AggregateQuery {
  readonly shape: 'aggregate';
  readonly table: string;
  readonly qualifiers: readonly string[];
  readonly select: readonly SelectItem[];
  readonly where?: Predicate;
  /** Dimensions grouped by, resolved from ordinals, aliases and expressions. Empty: one global group. */
  readonly groupBy: readonly Dimension[];
  /**
   * Names GROUP BY took for aliases of other expressions (`time_bucket(...) AS ts ... GROUP BY ts`). DuckDB takes
   * such a name for the table's column when it has one: the binder declines the query then.
   */
  readonly groupedAliases?: readonly string[];
  readonly having?: Predicate;
  readonly orderBy: readonly OrderItem[];
  readonly limit?: number;
}

export type LocalQuery = ScanQuery | AggregateQuery;
