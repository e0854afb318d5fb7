import { LakegateError } from '@lakegate/engine-api';
import { bindAggregateQuery } from '../exec/bind.js';
import { MergedGroups } from '../exec/merge-groups.js';
import type {
  FinishPlan,
  GroupingSetPlan,
  KeyValue,
  PassPlan,
  PlainGroups,
  RowOperand,
  RowPredicate,
} from '../exec/plan.js';
import { bucketStart, compileRowPredicate, TRUE } from '../exec/row-eval.js';
import type { AggregateQuery } from '../query/aggregate-query.js';
import { parseLocalQuery } from '../query/parse-query.js';
import { Interner } from '../table/interner.js';
import type { LocalColumn } from '../table/local-types.js';
import { RowSlots } from '../table/row-decoder.js';

/**
 * An aggregation context: which dataset a rollup reads, how often, and what it keeps per interval. Each interval's
 * groups are stored with their mergeable states, so longer windows are answered by merging intervals.
 */
export interface RollupDefinition {
  readonly name: string;
  readonly source: string;
  readonly intervalMs: number;
  readonly timeColumn: string;
  /** Group-by dimensions: columns of the source or names of `derived` fields. */
  readonly dimensions: readonly string[];
  /** Derived dimensions by name: a column or a time bucket, e.g. `"date_trunc('hour', ts)"`. */
  readonly derived: Readonly<Record<string, string>>;
  /** Measures by name: aggregates such as `count(*)`, `sum(bytes)`, `quantile_cont(ms, 0.95)`, with FILTER. */
  readonly measures: Readonly<Record<string, string>>;
}

/** Rows of the interval, stored beside the measures in every rollup (the audit compares it with the raw rows). */
export const ROWS_COLUMN = '_rows';
export const STATE_COLUMN = '_state';
export const BUCKET_COLUMN = 'bucket';

const quote = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** The rollup as one SQL aggregation of local-agg's subset. */
export function rollupSql(definition: RollupDefinition): string {
  const seconds = definition.intervalMs / 1000;
  const items = [
    `time_bucket(INTERVAL '${seconds} seconds', ${quote(definition.timeColumn)}) AS ${BUCKET_COLUMN}`,
    ...definition.dimensions.map((d) => {
      const expression = definition.derived[d];
      return expression ? `${expression} AS ${quote(d)}` : quote(d);
    }),
    `count(*) AS ${ROWS_COLUMN}`,
    ...Object.entries(definition.measures).map(([name, expression]) => `${expression} AS ${quote(name)}`),
  ];
  const groups = definition.dimensions.map((_, i) => String(i + 2));
  return `SELECT ${items.join(', ')} FROM ${quote(definition.source)} GROUP BY ${['1', ...groups].join(', ')}`;
}

/** Problems with a definition (unsupported measures, bad interval), for the gateway's config check. */
export function rollupProblems(definition: RollupDefinition): string[] {
  const problems: string[] = [];
  if (!(definition.intervalMs >= 1000) || 86_400_000 % definition.intervalMs !== 0)
    problems.push('interval: must divide a day, from "1s" to "1d" (e.g. "5m", "1h")');
  try {
    const query = parseLocalQuery(rollupSql(definition));
    if (query.shape !== 'aggregate') problems.push('measures: at least one aggregate is needed');
  } catch (error) {
    problems.push(`measures/dimensions: ${(error as Error).message}`);
  }
  return problems;
}

function parseRollup(definition: RollupDefinition): AggregateQuery {
  const query = parseLocalQuery(rollupSql(definition));
  if (query.shape !== 'aggregate') throw new LakegateError('INVALID_REQUEST', 'A rollup needs measures.');
  return query;
}

const timeRange = (column: number, start: number, end: number): RowPredicate => ({
  kind: 'and',
  left: { kind: 'compare', operand: { kind: 'column', column, type: 'timestamp' }, op: '>=', value: start * 1000 },
  right: { kind: 'compare', operand: { kind: 'column', column, type: 'timestamp' }, op: '<', value: end * 1000 },
});

export interface RollupPass {
  readonly pass: PassPlan;
  readonly finishes: readonly FinishPlan[];
}

/** Whether a predicate reads `column`. */
function predicateReads(p: RowPredicate | undefined, column: number): boolean {
  if (!p) return false;
  switch (p.kind) {
    case 'and':
    case 'or':
      return predicateReads(p.left, column) || predicateReads(p.right, column);
    case 'not':
      return predicateReads(p.operand, column);
    case 'unknown':
      return false;
    default:
      return p.operand.column === column;
  }
}

/** Whether a rollup's grouping set reads `column` other than through its first dimension, the interval's bucket. */
function readsBesideBucket(set: GroupingSetPlan, column: number): boolean {
  return (
    set.dims.some((dim, i) => i > 0 && dim.column === column) ||
    set.states.some((state) => state.column === column || predicateReads(state.filter, column)) ||
    predicateReads(set.where, column)
  );
}

/**
 * One pass that computes every rollup of `definitions` (same source) for the interval `[startMs, endMs)`: a
 * grouping set per rollup, each restricted to the interval, so the interval's rows are read once for all of them.
 *
 * With `rowsWithin`, every row of the files is known to be in the interval (a dump of it): no row is tested, and a
 * time column the files leave out is the interval's start in every row, a constant of the pass, which is all its
 * bucket needs. A rollup that reads the time column otherwise (a measure or a derived dimension) needs it dumped.
 */
export function rollupPass(
  definitions: readonly RollupDefinition[],
  fileColumns: readonly LocalColumn[],
  startMs: number,
  endMs: number,
  rowsWithin = false,
): RollupPass {
  const columns = [...fileColumns];
  const constants: { column: number; value: number }[] = [];
  const sets: GroupingSetPlan[] = [];
  const finishes: FinishPlan[] = [];
  const needed = new Set<number>();
  const timeIndex = (name: string): number => columns.findIndex((c) => c.name.toLowerCase() === name.toLowerCase());
  for (const definition of definitions) {
    if (rowsWithin && timeIndex(definition.timeColumn) < 0) {
      constants.push({ column: columns.length, value: startMs * 1000 });
      columns.push({ name: definition.timeColumn, type: 'timestamp' });
    }
    const bound = bindAggregateQuery(parseRollup(definition), columns);
    const time = timeIndex(definition.timeColumn);
    if (time < 0 || columns[time]?.type !== 'timestamp')
      throw new LakegateError(
        'INVALID_REQUEST',
        `Rollup "${definition.name}": "${definition.timeColumn}" is not a TIMESTAMP column.`,
      );
    const set = bound.pass.sets[0] as GroupingSetPlan;
    if (time >= fileColumns.length && readsBesideBucket(set, time))
      throw new LakegateError(
        'INVALID_REQUEST',
        `Rollup "${definition.name}" reads "${definition.timeColumn}" beyond its bucket, and its files leave it out.`,
      );
    for (const c of bound.pass.needed) if (c < fileColumns.length) needed.add(c);
    sets.push(rowsWithin ? set : { ...set, where: timeRange(time, startMs, endMs) });
    finishes.push(bound.finish);
  }
  const pass: PassPlan = {
    columns,
    needed: [...needed].sort((a, b) => a - b),
    sets,
    ...(constants.length > 0 ? { constants } : {}),
  };
  return { pass, finishes };
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** Microseconds since 1970 as DuckDB's timestamp text. */
export function timestampText(micros: number): string {
  const date = new Date(Math.floor(micros / 1000));
  const base = `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
  const fraction = micros % 1_000_000;
  return fraction === 0 ? base : `${base}.${pad(fraction, 6)}`;
}

function jsonValue(value: unknown, kind: string): unknown {
  if (value === null || value === undefined) return null;
  if (kind === 'timestamp') return timestampText(Number(value));
  if (kind === 'date') return new Date(Number(value) * 86_400_000).toISOString().slice(0, 10);
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'number' && !Number.isFinite(value)) return null;
  return value;
}

/**
 * An interval's groups as NDJSON: one line per group with the bucket, the dimensions, `_rows`, the measures'
 * values (queryable as a dataset by any engine) and `_state`, the mergeable states as JSON text.
 */
export function rollupLines(finish: FinishPlan, merged: MergedGroups): { text: string; rows: number } {
  // No HAVING or ORDER BY in a rollup: finish() keeps the groups in the order toPlain() lists them.
  const result = merged.finish(finish, Number.POSITIVE_INFINITY);
  const partial = merged.toPlain();
  const lines: string[] = [];
  let rows = 0;
  for (let row = 0; row < result.rowCount; row++) {
    const record: Record<string, unknown> = {};
    result.schema.forEach((column, i) => {
      record[column.name] = jsonValue(result.columns[i]?.[row], column.type.kind);
    });
    rows += Number(record[ROWS_COLUMN] ?? 0);
    record[STATE_COLUMN] = JSON.stringify({ k: partial.keys[row], s: partial.states[row] });
    lines.push(JSON.stringify(record));
  }
  return { text: lines.length > 0 ? `${lines.join('\n')}\n` : '', rows };
}

/**
 * The groups stored in an interval file, and the sum of their `_rows` (what the audit compares); with `byColumn`,
 * also that sum by the column's values (a scope's rows), read in the same pass.
 */
export function readRollupLines(
  text: string,
  byColumn?: string,
): { groups: PlainGroups; rows: number; rowsBy?: Map<unknown, number> } {
  const keys: KeyValue[][] = [];
  const states: unknown[][] = [];
  const rowsBy = byColumn === undefined ? undefined : new Map<unknown, number>();
  let rows = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const record = JSON.parse(line) as Record<string, unknown>;
    const n = Number(record[ROWS_COLUMN] ?? 0);
    rows += n;
    if (rowsBy) {
      const value = record[byColumn as string] ?? null;
      rowsBy.set(value, (rowsBy.get(value) ?? 0) + n);
    }
    const state = JSON.parse(String(record[STATE_COLUMN])) as { k: KeyValue[]; s: unknown[] };
    keys.push(state.k);
    states.push(state.s);
  }
  return { groups: { keys, states }, rows, ...(rowsBy ? { rowsBy } : {}) };
}

/** How a query is answered from a rollup: the intervals it needs, and how to turn their groups into the result. */
export interface RollupAnswer {
  readonly fromMs: number;
  readonly toMs: number;
  /** Merges the intervals' groups into the query's groups and returns the result columns. */
  finish(intervals: readonly PlainGroups[], maxRows: number): ReturnType<MergedGroups['finish']>;
}

const decline = (reason: string): { reason: string } => ({ reason });

const operandKey = (operand: RowOperand): string => JSON.stringify(operand);

/**
 * Decides whether a rollup answers an aggregation of its source: every dimension is one of the rollup's (a time
 * bucket may be coarser, a multiple of the interval), every aggregate's state is one the rollup keeps, and the
 * filter reads only dimensions and a time range aligned to intervals (`ts >= a AND ts < b`, which it must have).
 */
export function planRollupAnswer(
  definition: RollupDefinition,
  query: AggregateQuery,
  columns: readonly LocalColumn[],
): RollupAnswer | { reason: string } {
  if (query.table !== definition.source.toLowerCase()) return decline('another dataset');
  let bound: ReturnType<typeof bindAggregateQuery>;
  let rollup: ReturnType<typeof bindAggregateQuery>;
  try {
    bound = bindAggregateQuery(query, columns);
    rollup = bindAggregateQuery(parseRollup(definition), columns);
  } catch (error) {
    return decline((error as Error).message);
  }
  const rollupSet = rollup.pass.sets[0] as GroupingSetPlan;
  const querySet = bound.pass.sets[0] as GroupingSetPlan;
  const bucket = rollupSet.dims[0] as Extract<RowOperand, { kind: 'bucket' }>;
  const interval = bucket.widthMicros;
  const time = bucket.column;

  // Each query dimension reads one rollup key, coarsening the time bucket when asked.
  const dimSources: { index: number; width: number }[] = [];
  for (const dim of querySet.dims) {
    if (dim.kind === 'bucket' && dim.column === time) {
      if (dim.widthMicros % interval !== 0) return decline('a time bucket finer than the interval');
      dimSources.push({ index: 0, width: dim.widthMicros });
      continue;
    }
    const index = rollupSet.dims.findIndex((d) => operandKey(d) === operandKey(dim));
    if (index < 0) return decline('a dimension the rollup does not keep');
    dimSources.push({ index, width: 0 });
  }
  const stateSources: number[] = [];
  for (const state of querySet.states) {
    const index = rollupSet.states.findIndex((s) => JSON.stringify(s) === JSON.stringify(state));
    if (index < 0) return decline('an aggregate the rollup does not keep');
    stateSources.push(index);
  }

  // The filter: dimensions, buckets of the time column, and the time column against interval boundaries.
  const dimColumns = new Set(rollupSet.dims.filter((d) => d.kind === 'column').map((d) => d.column));
  let fromMs: number | undefined;
  let toMs: number | undefined;
  const check = (p: RowPredicate, topLevel: boolean): string | undefined => {
    switch (p.kind) {
      case 'and':
        return check(p.left, topLevel) ?? check(p.right, topLevel);
      case 'or':
        return check(p.left, false) ?? check(p.right, false);
      case 'not':
        return check(p.operand, false);
      case 'unknown':
        return undefined;
      default:
    }
    const operand = p.operand;
    if (operand.kind === 'bucket')
      return operand.column === time && operand.widthMicros % interval === 0 ? undefined : 'a filter on a finer bucket';
    if (operand.column !== time)
      return dimColumns.has(operand.column) ? undefined : 'a filter on a column the rollup does not keep';
    if (p.kind !== 'compare' || typeof p.value !== 'number' || p.value % interval !== 0)
      return 'a time filter not aligned to the interval';
    if (p.op === '>=' && topLevel) fromMs = Math.max(fromMs ?? Number.NEGATIVE_INFINITY, p.value / 1000);
    else if (p.op === '<' && topLevel) toMs = Math.min(toMs ?? Number.POSITIVE_INFINITY, p.value / 1000);
    else if (p.op !== '>=' && p.op !== '<') return 'a time filter other than >= and <';
    return undefined;
  };
  const where = bound.pass.where;
  const problem = where ? check(where, true) : undefined;
  if (problem) return decline(problem);
  if (fromMs === undefined || toMs === undefined) return decline('no time range (ts >= a AND ts < b)');
  const from = fromMs;
  const to = toMs;

  return {
    fromMs: from,
    toMs: to,
    finish(intervals, maxRows) {
      const slots = new RowSlots(columns.length);
      const interners = columns.map((c) => (c.type === 'varchar' ? new Interner() : undefined));
      const test = where ? compileRowPredicate(where, slots, interners) : () => TRUE;
      const merged = new MergedGroups(querySet);
      const target: KeyValue[] = new Array(dimSources.length);
      for (const groups of intervals) {
        groups.keys.forEach((key, g) => {
          const start = key[0] as number;
          if (start < from * 1000 || start >= to * 1000) return;
          rollupSet.dims.forEach((dim, d) => {
            // Only the interval bucket (dimension 0) sets the time column; a derived bucket of it must not.
            if (d > 0 && dim.kind === 'bucket') return;
            const value = key[d] as KeyValue;
            const c = dim.column;
            slots.nulls[c] = value === null ? 1 : 0;
            if (value === null) return;
            if (typeof value === 'string') slots.ids[c] = (interners[c] as Interner).internString(value);
            else slots.nums[c] = value;
          });
          if (test() !== TRUE) return;
          for (let d = 0; d < dimSources.length; d++) {
            const { index, width } = dimSources[d] as { index: number; width: number };
            const value = key[index] as KeyValue;
            target[d] = width > 0 && typeof value === 'number' ? bucketStart(value, width) : value;
          }
          merged.addPlainRow(target, groups.states[g] as unknown[], stateSources);
        });
      }
      return merged.finish(bound.finish, maxRows);
    },
  };
}
