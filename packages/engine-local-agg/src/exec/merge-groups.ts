import type { Column } from '@lakegate/engine-api';
import { TDigest, type TDigestState } from '../aggregate/t-digest.js';
import { toBatchValue } from '../table/local-types.js';
import { valueCounts } from './grouping-set.js';
import type {
  AggregatePlan,
  FinishPlan,
  GroupingSetPlan,
  KeyValue,
  OutputPredicate,
  OutputRef,
  PartialGroups,
  StateKind,
} from './plan.js';

type Live = number | KeyValue | [number, number] | Set<number | string> | Map<number, number> | TDigest | null;

interface MergedGroup {
  readonly key: KeyValue[];
  readonly states: Live[];
}

function fromPartial(kind: StateKind, partial: unknown): Live {
  switch (kind) {
    case 'sum':
      return [...(partial as [number, number])];
    case 'distinct':
      return new Set(partial as (number | string)[]);
    case 'values': {
      const [values, counts] = partial as [number[], number[]];
      return new Map(values.map((v, i) => [v, counts[i] as number]));
    }
    case 'digest':
      return partial ? TDigest.fromJSON(partial as TDigestState) : null;
    default:
      return partial as number | KeyValue;
  }
}

function mergeInto(kind: StateKind, live: Live, partial: unknown): Live {
  switch (kind) {
    case 'count':
      return (live as number) + (partial as number);
    case 'sum': {
      const sum = live as [number, number];
      const [s, n] = partial as [number, number];
      sum[0] += s;
      sum[1] += n;
      return sum;
    }
    case 'min':
    case 'max': {
      const v = partial as KeyValue;
      if (v === null) return live;
      if (live === null) return v;
      return (kind === 'min' ? v < (live as KeyValue & {}) : v > (live as KeyValue & {})) ? v : live;
    }
    case 'distinct':
      for (const v of partial as (number | string)[]) (live as Set<number | string>).add(v);
      return live;
    case 'values': {
      const map = live as Map<number, number>;
      const [values, counts] = partial as [number[], number[]];
      values.forEach((v, i) => {
        map.set(v, (map.get(v) ?? 0) + (counts[i] as number));
      });
      return map;
    }
    case 'digest': {
      if (!partial) return live;
      const other = TDigest.fromJSON(partial as TDigestState);
      if (!live) return other;
      (live as TDigest).merge(other);
      return live;
    }
  }
}

function toPartial(kind: StateKind, live: Live): unknown {
  switch (kind) {
    case 'distinct':
      return [...(live as Set<number | string>)];
    case 'values':
      return valueCounts(live as Map<number, number>);
    case 'digest':
      return live ? (live as TDigest).toJSON() : null;
    default:
      return live;
  }
}

const emptyPartial = (kind: StateKind): unknown =>
  kind === 'count' ? 0 : kind === 'sum' ? [0, 0] : kind === 'distinct' ? [] : kind === 'values' ? [[], []] : null;

/**
 * Merges the partial groups of several threads (or of several intervals, for rollups) into one set of groups.
 * Every state merges exactly: counts and sums add, value-count maps add per value, digests merge.
 */
export class MergedGroups {
  readonly #kinds: readonly StateKind[];
  readonly #groups = new Map<string, MergedGroup>();

  constructor(plan: Pick<GroupingSetPlan, 'states'>) {
    this.#kinds = plan.states.map((s) => s.kind);
  }

  get size(): number {
    return this.#groups.size;
  }

  add(partial: PartialGroups): void {
    const kinds = this.#kinds;
    partial.keys.forEach((key, g) => {
      const states = partial.states[g] as unknown[];
      const id = JSON.stringify(key);
      const group = this.#groups.get(id);
      if (!group) {
        this.#groups.set(id, { key, states: kinds.map((kind, s) => fromPartial(kind, states[s])) });
        return;
      }
      kinds.forEach((kind, s) => {
        group.states[s] = mergeInto(kind, group.states[s] as Live, states[s]);
      });
    });
  }

  /** The merged groups as plain data again (what a rollup file stores). */
  toPartial(): PartialGroups {
    const keys: KeyValue[][] = [];
    const states: unknown[][] = [];
    for (const group of this.#groups.values()) {
      keys.push(group.key);
      states.push(group.states.map((live, s) => toPartial(this.#kinds[s] as StateKind, live)));
    }
    return { keys, states };
  }

  /** The result rows: aggregates, HAVING, ORDER BY and LIMIT applied, in the engine-api value representation. */
  finish(plan: FinishPlan, maxRows: number): { schema: Column[]; columns: unknown[][]; rowCount: number } {
    const groups = [...this.#groups.values()];
    if (plan.global && groups.length === 0) {
      groups.push({ key: [], states: this.#kinds.map((kind) => fromPartial(kind, emptyPartial(kind))) });
    }
    // Rows in the number space: dimensions, then aggregates.
    const width = plan.dimTypes.length;
    let rows = groups.map((group) => [
      ...group.key,
      ...plan.aggregates.map((a) => finalValue(a, group.states[a.state] as Live)),
    ]);
    const at = (ref: OutputRef): number => (ref.source === 'dim' ? ref.index : width + ref.index);
    if (plan.having) {
      const having = plan.having;
      rows = rows.filter((row) => evaluate(having, row, at) === true);
    }
    if (plan.order.length > 0) {
      const order = plan.order.map((o) => ({ ...o, index: at(o.ref) }));
      rows.sort((x, y) => {
        for (const o of order) {
          const a = x[o.index] as KeyValue;
          const b = y[o.index] as KeyValue;
          if (a === b) continue;
          if (a === null || b === null) return (a === null) === o.nullsFirst ? -1 : 1;
          const c = a < b ? -1 : a > b ? 1 : 0;
          if (c !== 0) return o.descending ? -c : c;
        }
        return 0;
      });
    }
    const limit = Math.min(plan.limit ?? Number.POSITIVE_INFINITY, maxRows);
    if (rows.length > limit) rows = rows.slice(0, limit);
    const schema = plan.select.map((s) => ({
      name: s.name,
      type:
        s.ref.source === 'dim' ? plan.dimTypes[s.ref.index] : (plan.aggregates[s.ref.index] as AggregatePlan).output,
    })) as Column[];
    const columns = plan.select.map((s) => {
      const index = at(s.ref);
      const convert =
        s.ref.source === 'dim'
          ? (v: number) => toBatchValue(plan.dimLocalTypes[s.ref.index] ?? 'double', v)
          : outputConverter(plan.aggregates[s.ref.index] as AggregatePlan);
      return rows.map((row) => {
        const v = row[index] as KeyValue;
        return v === null || typeof v === 'string' ? v : convert(v);
      });
    });
    return { schema, columns, rowCount: rows.length };
  }
}

function outputConverter(plan: AggregatePlan): (v: number) => unknown {
  if (plan.output.kind === 'bigint') return (v) => BigInt(Math.round(v));
  if (plan.output.kind === 'float') return (v) => v;
  return (v) => toBatchValue(plan.valueType, v);
}

/** Interpolated quantile of a value-count map, as DuckDB's quantile_cont: position (n - 1) * fraction. */
export function quantileOf(map: Map<number, number>, fraction: number): number | null {
  if (map.size === 0) return null;
  const values = [...map.keys()].sort((a, b) => a - b);
  let total = 0;
  for (const v of values) total += map.get(v) as number;
  const position = (total - 1) * fraction;
  const lowIndex = Math.floor(position);
  const highIndex = Math.ceil(position);
  let low: number | undefined;
  let high: number | undefined;
  let seen = 0;
  for (const v of values) {
    seen += map.get(v) as number;
    if (low === undefined && seen > lowIndex) low = v;
    if (seen > highIndex) {
      high = v;
      break;
    }
  }
  const lo = low as number;
  const hi = high ?? lo;
  return lo === hi ? lo : lo + (position - lowIndex) * (hi - lo);
}

function finalValue(plan: AggregatePlan, live: Live): KeyValue {
  switch (plan.fn) {
    case 'count':
      return live as number;
    case 'count_distinct':
      return (live as Set<unknown>).size;
    case 'sum': {
      const [sum, n] = live as [number, number];
      return n === 0 ? null : sum;
    }
    case 'avg': {
      const [sum, n] = live as [number, number];
      return n === 0 ? null : sum / n;
    }
    case 'min':
    case 'max':
      return live as KeyValue;
    case 'quantile_cont':
      return quantileOf(live as Map<number, number>, plan.fraction ?? 0.5);
    case 'approx_quantile': {
      const value = live ? (live as TDigest).quantile(plan.fraction ?? 0.5) : null;
      return value !== null && plan.valueType === 'bigint' ? Math.round(value) : value;
    }
  }
}

const compare: Record<string, (a: KeyValue, b: KeyValue) => boolean> = {
  '=': (a, b) => a === b,
  '<>': (a, b) => a !== b,
  '<': (a, b) => (a as number) < (b as number),
  '<=': (a, b) => (a as number) <= (b as number),
  '>': (a, b) => (a as number) > (b as number),
  '>=': (a, b) => (a as number) >= (b as number),
};

/** HAVING over a result row, in three-valued logic (`undefined` is unknown). */
function evaluate(p: OutputPredicate, row: readonly KeyValue[], at: (ref: OutputRef) => number): boolean | undefined {
  switch (p.kind) {
    case 'unknown':
      return undefined;
    case 'and': {
      const a = evaluate(p.left, row, at);
      if (a === false) return false;
      const b = evaluate(p.right, row, at);
      return b === false ? false : a && b ? true : undefined;
    }
    case 'or': {
      const a = evaluate(p.left, row, at);
      if (a === true) return true;
      const b = evaluate(p.right, row, at);
      return b === true ? true : a === false && b === false ? false : undefined;
    }
    case 'not': {
      const v = evaluate(p.operand, row, at);
      return v === undefined ? undefined : !v;
    }
    case 'is-null':
      return (row[at(p.ref)] === null) !== p.negated;
    default:
  }
  const v = row[at(p.ref)] as KeyValue;
  if (v === null) return undefined;
  switch (p.kind) {
    case 'compare':
      return (compare[p.op] as (a: KeyValue, b: KeyValue) => boolean)(v, p.value);
    case 'in':
      return p.values.includes(v) !== p.negated;
    default:
      return new RegExp(p.regex).test(String(v)) !== p.negated;
  }
}
