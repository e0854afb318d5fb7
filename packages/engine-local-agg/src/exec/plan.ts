import type { ColumnType } from '@lakegate/engine-api';
import type { AggregateFn, CompareOp } from '../query/aggregate-query.js';
import type { LocalColumn, LocalType } from '../table/local-types.js';

/**
 * A query bound to a dataset's columns. The parts a worker thread needs ({@link PassPlan}) are plain data, so they
 * travel by structured clone; literals are already converted to the pass's representation (numbers, or strings for
 * VARCHAR columns).
 */

/** A value computed from the current row: a column, or a time bucket of a timestamp column. */
export type RowOperand =
  | { readonly kind: 'column'; readonly column: number; readonly type: LocalType }
  | { readonly kind: 'bucket'; readonly column: number; readonly widthMicros: number };

export type RowPredicate =
  | { readonly kind: 'and' | 'or'; readonly left: RowPredicate; readonly right: RowPredicate }
  | { readonly kind: 'not'; readonly operand: RowPredicate }
  | { readonly kind: 'compare'; readonly operand: RowOperand; readonly op: CompareOp; readonly value: number | string }
  | {
      readonly kind: 'in';
      readonly operand: RowOperand;
      readonly values: readonly (number | string)[];
      readonly negated: boolean;
    }
  | { readonly kind: 'is-null'; readonly operand: RowOperand; readonly negated: boolean }
  | { readonly kind: 'like'; readonly operand: RowOperand; readonly regex: string; readonly negated: boolean }
  /** A comparison with NULL: unknown for every row. */
  | { readonly kind: 'unknown' };

/**
 * The mergeable state behind aggregates: several aggregates share one (avg and sum share `sum`; the percentiles of
 * one column share `values`).
 *
 * | kind       | partial state                               | serves                       |
 * |------------|---------------------------------------------|------------------------------|
 * | `count`    | rows (non-NULL values of `column`, or all)   | count(*), count(x)           |
 * | `sum`      | `[sum, n]`                                   | sum, avg                     |
 * | `min`/`max`| the value or null                            | min, max                     |
 * | `distinct` | the distinct values                          | count(DISTINCT x)            |
 * | `values`   | `[values, counts]`, sorted by value          | exact quantiles              |
 * | `digest`   | a t-digest                                   | approx_quantile              |
 */
export type StateKind = 'count' | 'sum' | 'min' | 'max' | 'distinct' | 'values' | 'digest';

export interface StatePlan {
  readonly kind: StateKind;
  /** Column aggregated; -1 for count(*). */
  readonly column: number;
  readonly type: LocalType;
  readonly filter?: RowPredicate;
}

/** One grouping set of a pass: its group-by dimensions and the states kept per group. */
export interface GroupingSetPlan {
  readonly dims: readonly RowOperand[];
  readonly states: readonly StatePlan[];
  /** Rows this set aggregates, besides the pass's own filter. */
  readonly where?: RowPredicate;
}

/** What a thread needs to aggregate files: the columns, which of them to decode, and the grouping sets. */
export interface PassPlan {
  readonly columns: readonly LocalColumn[];
  readonly needed: readonly number[];
  readonly where?: RowPredicate;
  readonly sets: readonly GroupingSetPlan[];
}

/** A group's key value or a state's partial, as plain data. */
export type KeyValue = number | string | null;

/** A grouping set's groups after a pass: keys and, per group, one partial per state. */
export interface PartialGroups {
  readonly keys: KeyValue[][];
  readonly states: unknown[][];
}

/** An aggregate of the result, read from one state. */
export interface AggregatePlan {
  readonly fn: AggregateFn;
  readonly state: number;
  readonly fraction?: number;
  /** The aggregated column's type (min/max/quantiles keep it). */
  readonly valueType: LocalType;
  readonly output: ColumnType;
}

/** A value of a result row: a group-by dimension or an aggregate. */
export interface OutputRef {
  readonly source: 'dim' | 'agg';
  readonly index: number;
}

export type OutputPredicate =
  | { readonly kind: 'and' | 'or'; readonly left: OutputPredicate; readonly right: OutputPredicate }
  | { readonly kind: 'not'; readonly operand: OutputPredicate }
  | { readonly kind: 'compare'; readonly ref: OutputRef; readonly op: CompareOp; readonly value: number | string }
  | {
      readonly kind: 'in';
      readonly ref: OutputRef;
      readonly values: readonly (number | string)[];
      readonly negated: boolean;
    }
  | { readonly kind: 'is-null'; readonly ref: OutputRef; readonly negated: boolean }
  | { readonly kind: 'like'; readonly ref: OutputRef; readonly regex: string; readonly negated: boolean }
  | { readonly kind: 'unknown' };

/** How groups become result rows: aggregates, HAVING, ORDER BY, LIMIT and the output columns. */
export interface FinishPlan {
  readonly dimTypes: readonly ColumnType[];
  readonly dimLocalTypes: readonly LocalType[];
  readonly aggregates: readonly AggregatePlan[];
  readonly select: readonly { readonly name: string; readonly ref: OutputRef }[];
  readonly having?: OutputPredicate;
  readonly order: readonly { readonly ref: OutputRef; readonly descending: boolean; readonly nullsFirst: boolean }[];
  readonly limit?: number;
  /** No GROUP BY: one row even over no input. */
  readonly global: boolean;
}
