import { type ColumnType, LakegateError } from '@lakegate/engine-api';
import type {
  Aggregate,
  AggregateQuery,
  Dimension,
  Literal,
  Operand,
  OrderTarget,
  Predicate,
  ScanQuery,
} from '../query/aggregate-query.js';
import {
  columnType,
  HUGEINT,
  isNumeric,
  type LocalColumn,
  type LocalType,
  parseDate,
  parseTimestamp,
} from '../table/local-types.js';
import type {
  AggregatePlan,
  FinishPlan,
  OutputPredicate,
  OutputRef,
  PassPlan,
  RowOperand,
  RowPredicate,
  StateKind,
  StatePlan,
} from './plan.js';

const decline = (reason: string): LakegateError => new LakegateError('UNSUPPORTED_QUERY', reason);
const DOUBLE: ColumnType = columnType('double');
const BIGINT: ColumnType = columnType('bigint');

/** A LIKE pattern as an anchored regular expression source. */
export function likeRegex(pattern: string): string {
  let source = '';
  for (const ch of pattern) {
    if (ch === '%') source += '[\\s\\S]*';
    else if (ch === '_') source += '[\\s\\S]';
    else source += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return `^${source}$`;
}

function columnIndex(columns: readonly LocalColumn[], name: string, table: string): number {
  const index = columns.findIndex((c) => c.name.toLowerCase() === name);
  if (index < 0)
    throw new LakegateError(
      'INVALID_SQL',
      `Column "${name}" does not exist in "${table}". Columns: ${columns.map((c) => c.name).join(', ')}.`,
    );
  return index;
}

/** A literal in the representation of a value of `type` (see {@link LocalType}); null for NULL. */
export function convertLiteral(literal: Literal, type: LocalType): number | string | null {
  const { value } = literal;
  if (value === null) return null;
  const fail = (): never => {
    throw decline(`local-agg cannot compare a ${type.toUpperCase()} value with ${JSON.stringify(value)}.`);
  };
  switch (type) {
    case 'varchar':
      return typeof value === 'string' && literal.typed === undefined ? value : fail();
    case 'bigint':
    case 'double': {
      const number = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
      return Number.isFinite(number) && literal.typed === undefined && value !== '' ? number : fail();
    }
    case 'boolean':
      if (typeof value === 'boolean') return Number(value);
      return value === 'true' ? 1 : value === 'false' ? 0 : fail();
    case 'date':
      return typeof value === 'string' && literal.typed !== 'timestamp' ? (parseDate(value) ?? fail()) : fail();
    default:
      return typeof value === 'string' ? (parseTimestamp(value) ?? fail()) : fail();
  }
}

class Binder {
  readonly states: StatePlan[] = [];
  readonly #stateKeys = new Map<string, number>();
  readonly aggregates: AggregatePlan[] = [];
  readonly #aggregateKeys = new Map<string, number>();
  readonly needed = new Set<number>();

  constructor(
    readonly columns: readonly LocalColumn[],
    readonly table: string,
  ) {}

  column(name: string): { index: number; type: LocalType } {
    const index = columnIndex(this.columns, name, this.table);
    this.needed.add(index);
    return { index, type: (this.columns[index] as LocalColumn).type };
  }

  rowOperand(operand: Operand): RowOperand {
    if (operand.kind === 'aggregate') throw decline('local-agg does not filter rows by an aggregate.');
    const { index, type } = this.column(operand.kind === 'bucket' ? operand.column : operand.name);
    if (operand.kind === 'bucket') {
      if (type !== 'timestamp') throw decline(`local-agg buckets only TIMESTAMP columns, not ${type.toUpperCase()}.`);
      return { kind: 'bucket', column: index, widthMicros: operand.widthMicros };
    }
    return { kind: 'column', column: index, type };
  }

  rowPredicate(p: Predicate): RowPredicate {
    switch (p.kind) {
      case 'and':
      case 'or':
        return { kind: p.kind, left: this.rowPredicate(p.left), right: this.rowPredicate(p.right) };
      case 'not':
        return { kind: 'not', operand: this.rowPredicate(p.operand) };
      case 'compare': {
        const operand = this.rowOperand(p.operand);
        const value = convertLiteral(p.value, operandType(operand));
        return value === null ? { kind: 'unknown' } : { kind: 'compare', operand, op: p.op, value };
      }
      case 'between': {
        const operand = this.rowOperand(p.operand);
        const low = convertLiteral(p.low, operandType(operand));
        const high = convertLiteral(p.high, operandType(operand));
        if (low === null || high === null) return { kind: 'unknown' };
        const range: RowPredicate = {
          kind: 'and',
          left: { kind: 'compare', operand, op: '>=', value: low },
          right: { kind: 'compare', operand, op: '<=', value: high },
        };
        return p.negated ? { kind: 'not', operand: range } : range;
      }
      case 'in': {
        const operand = this.rowOperand(p.operand);
        const values = p.values.map((v) => convertLiteral(v, operandType(operand)));
        if (values.includes(null)) throw decline('local-agg does not run IN lists that hold NULL.');
        return { kind: 'in', operand, values: values as (number | string)[], negated: p.negated };
      }
      case 'is-null':
        return { kind: 'is-null', operand: this.rowOperand(p.operand), negated: p.negated };
      case 'like': {
        const operand = this.rowOperand(p.operand);
        if (operandType(operand) !== 'varchar') throw decline('local-agg runs LIKE on VARCHAR columns only.');
        return { kind: 'like', operand, regex: likeRegex(p.pattern), negated: p.negated };
      }
    }
  }

  #state(kind: StateKind, column: number, type: LocalType, filter: RowPredicate | undefined): number {
    const key = JSON.stringify([kind, column, filter ?? null]);
    let index = this.#stateKeys.get(key);
    if (index === undefined) {
      index = this.states.length;
      this.states.push(filter ? { kind, column, type, filter } : { kind, column, type });
      this.#stateKeys.set(key, index);
    }
    return index;
  }

  aggregate(a: Aggregate): number {
    const key = JSON.stringify(a);
    const existing = this.#aggregateKeys.get(key);
    if (existing !== undefined) return existing;
    const filter = a.filter ? this.rowPredicate(a.filter) : undefined;
    let plan: AggregatePlan;
    if (a.column === undefined) {
      if (a.fn !== 'count') throw decline(`local-agg needs a column for ${a.fn}.`);
      plan = { fn: 'count', state: this.#state('count', -1, 'bigint', filter), valueType: 'bigint', output: BIGINT };
    } else {
      const { index, type } = this.column(a.column);
      const numeric = isNumeric(type);
      const need = (ok: boolean) => {
        if (!ok) throw decline(`local-agg does not compute ${a.fn} of a ${type.toUpperCase()} column.`);
      };
      const state = (kind: StateKind) => this.#state(kind, index, type, filter);
      const base = { valueType: type, ...(a.fraction === undefined ? {} : { fraction: a.fraction }) };
      switch (a.fn) {
        case 'count':
          plan = { ...base, fn: a.fn, state: state('count'), output: BIGINT };
          break;
        case 'count_distinct':
          plan = { ...base, fn: a.fn, state: state('distinct'), output: BIGINT };
          break;
        case 'sum':
          need(numeric);
          plan = { ...base, fn: a.fn, state: state('sum'), output: type === 'bigint' ? HUGEINT : DOUBLE };
          break;
        case 'avg':
          need(numeric);
          plan = { ...base, fn: a.fn, state: state('sum'), output: DOUBLE };
          break;
        case 'min':
        case 'max':
          plan = { ...base, fn: a.fn, state: state(a.fn), output: columnType(type) };
          break;
        case 'quantile_cont':
          need(numeric);
          plan = { ...base, fn: a.fn, state: state('values'), output: DOUBLE };
          break;
        case 'approx_quantile':
          need(numeric);
          plan = { ...base, fn: a.fn, state: state('digest'), output: columnType(type) };
          break;
      }
    }
    this.aggregates.push(plan);
    this.#aggregateKeys.set(key, this.aggregates.length - 1);
    return this.aggregates.length - 1;
  }
}

const operandType = (operand: RowOperand): LocalType => (operand.kind === 'bucket' ? 'timestamp' : operand.type);

const sameDimension = (a: Dimension, b: Dimension): boolean => JSON.stringify(a) === JSON.stringify(b);

export interface BoundAggregateQuery {
  readonly pass: PassPlan;
  readonly finish: FinishPlan;
}

/** Binds an aggregation to a dataset's columns: one grouping set, and how its groups become the result. */
export function bindAggregateQuery(query: AggregateQuery, columns: readonly LocalColumn[]): BoundAggregateQuery {
  for (const name of query.groupedAliases ?? []) {
    if (columns.some((c) => c.name.toLowerCase() === name))
      throw decline(`local-agg: GROUP BY ${name} names both a column and an alias, which DuckDB takes for the column.`);
  }
  const binder = new Binder(columns, query.table);
  const where = query.where ? binder.rowPredicate(query.where) : undefined;
  const dims = query.groupBy.map((d) => binder.rowOperand(d));
  const dimLocalTypes = dims.map(operandType);

  const resolve = (operand: Operand | OrderTarget, allowAlias: boolean): OutputRef => {
    if (operand.kind === 'ordinal') {
      const item = query.select[operand.index - 1];
      if (!item)
        throw new LakegateError('INVALID_SQL', `ORDER BY position ${operand.index} is not in the select list.`);
      return resolve(item.expr, false);
    }
    if (operand.kind === 'aggregate') return { source: 'agg', index: binder.aggregate(operand) };
    if (allowAlias && operand.kind === 'column') {
      const item = query.select.find((s) => s.aliased && s.name === operand.name);
      if (item) return resolve(item.expr, false);
    }
    const index = query.groupBy.findIndex((d) => sameDimension(d, operand));
    if (index < 0)
      throw decline(`local-agg: "${operand.kind === 'column' ? operand.name : 'the bucket'}" is not grouped by.`);
    return { source: 'dim', index };
  };
  const select = query.select.map((item) => ({ name: item.name, ref: resolve(item.expr, false) }));
  const outputType = (ref: OutputRef): LocalType =>
    ref.source === 'dim'
      ? (dimLocalTypes[ref.index] as LocalType)
      : outputLocalType(binder.aggregates[ref.index] as AggregatePlan);

  const outputPredicate = (p: Predicate): OutputPredicate => {
    switch (p.kind) {
      case 'and':
      case 'or':
        return { kind: p.kind, left: outputPredicate(p.left), right: outputPredicate(p.right) };
      case 'not':
        return { kind: 'not', operand: outputPredicate(p.operand) };
      case 'compare': {
        const ref = resolve(p.operand, true);
        const value = convertLiteral(p.value, outputType(ref));
        return value === null ? { kind: 'unknown' } : { kind: 'compare', ref, op: p.op, value };
      }
      case 'between': {
        const ref = resolve(p.operand, true);
        const low = convertLiteral(p.low, outputType(ref));
        const high = convertLiteral(p.high, outputType(ref));
        if (low === null || high === null) return { kind: 'unknown' };
        const range: OutputPredicate = {
          kind: 'and',
          left: { kind: 'compare', ref, op: '>=', value: low },
          right: { kind: 'compare', ref, op: '<=', value: high },
        };
        return p.negated ? { kind: 'not', operand: range } : range;
      }
      case 'in': {
        const ref = resolve(p.operand, true);
        const values = p.values.map((v) => convertLiteral(v, outputType(ref)));
        if (values.includes(null)) throw decline('local-agg does not run IN lists that hold NULL.');
        return { kind: 'in', ref, values: values as (number | string)[], negated: p.negated };
      }
      case 'is-null':
        return { kind: 'is-null', ref: resolve(p.operand, true), negated: p.negated };
      case 'like':
        return { kind: 'like', ref: resolve(p.operand, true), regex: likeRegex(p.pattern), negated: p.negated };
    }
  };
  const having = query.having ? outputPredicate(query.having) : undefined;
  const order = query.orderBy.map((o) => ({
    ref: resolve(o.target, true),
    descending: o.descending,
    nullsFirst: o.nullsFirst,
  }));
  return {
    pass: {
      columns,
      needed: [...binder.needed].sort((a, b) => a - b),
      ...(where ? { where } : {}),
      sets: [{ dims, states: binder.states }],
    },
    finish: {
      dimTypes: dimLocalTypes.map(columnType),
      dimLocalTypes,
      aggregates: binder.aggregates,
      select,
      ...(having ? { having } : {}),
      order,
      ...(query.limit === undefined ? {} : { limit: query.limit }),
      global: query.groupBy.length === 0,
    },
  };
}

/** The type an aggregate's value has in the pass's number space (for HAVING literals). */
function outputLocalType(plan: AggregatePlan): LocalType {
  switch (plan.fn) {
    case 'min':
    case 'max':
    case 'approx_quantile':
      return plan.valueType;
    case 'count':
    case 'count_distinct':
      return 'bigint';
    default:
      return 'double';
  }
}

export interface BoundScan {
  readonly columns: readonly LocalColumn[];
  /** Column indexes in output order. */
  readonly output: readonly number[];
  readonly names: readonly string[];
  readonly needed: readonly number[];
  readonly where?: RowPredicate;
  readonly limit?: number;
}

export function bindScanQuery(query: ScanQuery, columns: readonly LocalColumn[]): BoundScan {
  const binder = new Binder(columns, query.table);
  const output =
    query.columns === '*'
      ? columns.map((_, i) => i)
      : query.columns.map((item) => {
          if (item.expr.kind !== 'column') throw decline('local-agg scans select plain columns only.');
          return binder.column(item.expr.name).index;
        });
  for (const c of output) binder.needed.add(c);
  const names =
    query.columns === '*'
      ? columns.map((c) => c.name)
      : query.columns.map((item, i) => (item.aliased ? item.name : (columns[output[i] as number] as LocalColumn).name));
  const where = query.where ? binder.rowPredicate(query.where) : undefined;
  return {
    columns,
    output,
    names,
    needed: [...binder.needed].sort((a, b) => a - b),
    ...(where ? { where } : {}),
    ...(query.limit === undefined ? {} : { limit: query.limit }),
  };
}
