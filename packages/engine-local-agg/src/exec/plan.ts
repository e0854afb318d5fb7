import type { ColumnType } from '@lakegate/engine-api';
import type { TDigestState } from '../aggregate/t-digest.js';
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
  /**
   * Columns past the files' own (never decoded) that hold the same number in every row, set once before the first:
   * the time of a dumped interval, whose rows all fall in one bucket.
   */
  readonly constants?: readonly { readonly column: number; readonly value: number }[];
}

/** A group's key value as plain data (VARCHAR keys as strings, timestamps as microseconds). */
export type KeyValue = number | string | null;

/** One dimension of partial groups: numbers, or for VARCHAR indexes into `dictionary`. */
export interface KeyColumn {
  readonly values: Float64Array<ArrayBuffer>;
  readonly nulls: Uint8Array<ArrayBuffer>;
  readonly dictionary?: readonly string[];
}

/** One state of partial groups, by column (see {@link StateKind}). */
export type StateColumn =
  | { readonly kind: 'count'; readonly counts: Float64Array<ArrayBuffer> }
  | { readonly kind: 'sum'; readonly sums: Float64Array<ArrayBuffer>; readonly counts: Float64Array<ArrayBuffer> }
  | {
      readonly kind: 'min' | 'max';
      readonly values: Float64Array<ArrayBuffer>;
      readonly seen: Uint8Array<ArrayBuffer>;
      readonly dictionary?: readonly string[];
    }
  | { readonly kind: 'distinct'; readonly sets: readonly (readonly (number | string)[])[] }
  /** Value-count maps in one buffer: group g's sorted values are `values[offsets[g]..offsets[g + 1])`. */
  | {
      readonly kind: 'values';
      readonly offsets: Int32Array<ArrayBuffer>;
      readonly values: Float64Array<ArrayBuffer>;
      readonly counts: Float64Array<ArrayBuffer>;
    }
  | { readonly kind: 'digest'; readonly digests: readonly (TDigestState | null)[] };

/**
 * A grouping set's groups after one thread's pass, by column: typed arrays that move between threads without being
 * copied (their buffers are transferred), whatever the number of groups.
 */
export interface PartialGroups {
  readonly size: number;
  readonly keys: readonly KeyColumn[];
  readonly states: readonly StateColumn[];
}

/** Groups as plain rows (what rollup files store): key values and one JSON-able partial per state. */
export interface PlainGroups {
  readonly keys: KeyValue[][];
  readonly states: unknown[][];
}

/** The buffers of partial groups, to transfer them to another thread. */
export function transferables(partials: readonly PartialGroups[]): ArrayBuffer[] {
  const buffers: ArrayBuffer[] = [];
  for (const partial of partials) {
    for (const key of partial.keys) buffers.push(key.values.buffer, key.nulls.buffer);
    for (const state of partial.states) {
      if (state.kind === 'count') buffers.push(state.counts.buffer);
      else if (state.kind === 'sum') buffers.push(state.sums.buffer, state.counts.buffer);
      else if (state.kind === 'min' || state.kind === 'max') buffers.push(state.values.buffer, state.seen.buffer);
      else if (state.kind === 'values') buffers.push(state.offsets.buffer, state.values.buffer, state.counts.buffer);
    }
  }
  return buffers;
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
