import type { Column } from '@lakegate/engine-api';
import { TDigest, type TDigestState } from '../aggregate/t-digest.js';
import { Interner } from '../table/interner.js';
import { type LocalType, toBatchValue } from '../table/local-types.js';
import { GroupTable } from './group-table.js';
import { dictionaryOf } from './grouping-set.js';
import type {
  AggregatePlan,
  FinishPlan,
  GroupingSetPlan,
  KeyValue,
  OutputPredicate,
  OutputRef,
  PartialGroups,
  PlainGroups,
  StateKind,
} from './plan.js';

/** A slice of sorted values and their counts: one thread's (or one interval's) value-count map of a group. */
type Segment = readonly [values: ArrayLike<number>, counts: ArrayLike<number>, start: number, end: number];

function grown<T extends Float64Array<ArrayBuffer> | Uint8Array<ArrayBuffer>>(array: T, capacity: number): T {
  if (capacity <= array.length) return array;
  const next = new (array.constructor as new (n: number) => T)(Math.max(capacity, array.length * 2));
  next.set(array);
  return next;
}

/** `array[start, end)` as a Float64Array (a view when it is one). */
function float64(array: ArrayLike<number>, start: number, end: number): Float64Array {
  if (array instanceof Float64Array) return array.subarray(start, end);
  return Float64Array.from({ length: end - start }, (_, i) => array[start + i] as number);
}

/** Up to this many slices of a group are merged in pairs; more are counted in a map (see valueCounts). */
const MERGED_IN_PAIRS = 8;

/**
 * Two slices of sorted value-counts as one: values in ascending order with NaN last (as Float64Array sorts, and as
 * every slice is written), the counts of equal values added.
 */
function mergeSegments(x: Segment, y: Segment): Segment {
  const [xv, xc, xStart, xEnd] = x;
  const [yv, yc, yStart, yEnd] = y;
  const values = new Float64Array(xEnd - xStart + yEnd - yStart);
  const counts = new Float64Array(values.length);
  let i = xStart;
  let j = yStart;
  let at = 0;
  while (i < xEnd && j < yEnd) {
    const a = xv[i] as number;
    const b = yv[j] as number;
    if (a === b || (Number.isNaN(a) && Number.isNaN(b))) {
      values[at] = a;
      counts[at++] = (xc[i++] as number) + (yc[j++] as number);
    } else if (a < b || Number.isNaN(b)) {
      values[at] = a;
      counts[at++] = xc[i++] as number;
    } else {
      values[at] = b;
      counts[at++] = yc[j++] as number;
    }
  }
  for (; i < xEnd; i++) {
    values[at] = xv[i] as number;
    counts[at++] = xc[i] as number;
  }
  for (; j < yEnd; j++) {
    values[at] = yv[j] as number;
    counts[at++] = yc[j] as number;
  }
  return [values, counts, 0, at];
}

/** The live, mergeable state of every group for one state of the plan. */
class StateColumnMerger {
  readonly kind: StateKind;
  a = new Float64Array(64);
  b = new Float64Array(64);
  seen = new Uint8Array(64);
  strings: (string | undefined)[] = [];
  sets: Set<number | string>[] = [];
  /**
   * Value-counts: most groups come from one thread, so a group's first slice is kept as three numbers (source + 1,
   * start, end) in typed arrays, and only further slices go to a list, with no object per group.
   */
  sources: { readonly values: ArrayLike<number>; readonly counts: ArrayLike<number> }[] = [];
  firstSource = new Float64Array(64);
  firstStart = new Float64Array(64);
  firstEnd = new Float64Array(64);
  segments: Segment[][] = [];
  /** 1 where a group has further slices in `segments` (a typed flag: the sparse list is slow to probe). */
  several = new Uint8Array(64);
  digests: (TDigest | undefined)[] = [];
  /** Merged, sorted value-counts of groups with several slices, computed once for all their quantiles. */
  #sorted = new Map<number, [Float64Array, Float64Array]>();

  constructor(kind: StateKind) {
    this.kind = kind;
  }

  grow(capacity: number): void {
    this.a = grown(this.a, capacity);
    this.b = grown(this.b, capacity);
    this.seen = grown(this.seen, capacity);
    if (this.kind === 'values') {
      this.firstSource = grown(this.firstSource, capacity);
      this.firstStart = grown(this.firstStart, capacity);
      this.firstEnd = grown(this.firstEnd, capacity);
      this.several = grown(this.several, capacity);
    }
  }

  /** Merges one extreme (min or max) into group g. */
  extreme(g: number, value: number | string): void {
    const less = this.kind === 'min';
    if (typeof value === 'string') {
      const current = this.strings[g];
      if (current === undefined || value < current === less) this.strings[g] = value;
      this.seen[g] = 1;
      return;
    }
    if (this.seen[g] === 0 || (less ? value < (this.a[g] as number) : value > (this.a[g] as number))) this.a[g] = value;
    this.seen[g] = 1;
  }

  /** Registers the arrays a partial's value-counts live in; slices of them are then added by index. */
  addSource(values: ArrayLike<number>, counts: ArrayLike<number>): number {
    return this.sources.push({ values, counts }) - 1;
  }

  addSlice(g: number, source: number, start: number, end: number): void {
    if (end <= start) return;
    if (this.firstSource[g] === 0) {
      this.firstSource[g] = source + 1;
      this.firstStart[g] = start;
      this.firstEnd[g] = end;
      return;
    }
    const { values, counts } = this.sources[source] as (typeof this.sources)[number];
    let list = this.segments[g];
    if (!list) this.segments[g] = list = [];
    list.push([values, counts, start, end]);
    this.several[g] = 1;
  }

  addDigest(g: number, state: TDigestState | null): void {
    if (!state) return;
    const digest = TDigest.fromJSON(state);
    const current = this.digests[g];
    if (current) current.merge(digest);
    else this.digests[g] = digest;
  }

  /** Several quantiles of group g into `out` (false without values): its values are summed once for all. */
  quantiles(g: number, fractions: readonly number[], out: Float64Array): boolean {
    if (this.firstSource[g] === 0) return false;
    let values: ArrayLike<number>;
    let counts: ArrayLike<number>;
    let start = 0;
    let end: number;
    if (this.several[g] === 0) {
      ({ values, counts } = this.sources[(this.firstSource[g] as number) - 1] as (typeof this.sources)[number]);
      start = this.firstStart[g] as number;
      end = this.firstEnd[g] as number;
    } else {
      [values, counts] = this.valueCounts(g);
      end = values.length;
    }
    if (end <= start) return false;
    let total = 0;
    for (let i = start; i < end; i++) total += counts[i] as number;
    for (let k = 0; k < fractions.length; k++)
      out[k] = quantileAt(values, counts, start, end, total, fractions[k] as number);
    return true;
  }

  /** Group g's value-counts, merged and sorted. */
  valueCounts(g: number): [Float64Array, Float64Array] {
    const cached = this.#sorted.get(g);
    if (cached) return cached;
    const slices: Segment[] = [];
    if (this.firstSource[g] !== 0) {
      const { values, counts } = this.sources[(this.firstSource[g] as number) - 1] as (typeof this.sources)[number];
      slices.push([values, counts, this.firstStart[g] as number, this.firstEnd[g] as number]);
    }
    slices.push(...(this.segments[g] ?? []));
    let result: [Float64Array, Float64Array];
    if (slices.length <= MERGED_IN_PAIRS) {
      // A few slices (one per thread): merged in pairs, in linear passes.
      let merged = slices;
      while (merged.length > 1) {
        const next: Segment[] = [];
        for (let i = 0; i + 1 < merged.length; i += 2)
          next.push(mergeSegments(merged[i] as Segment, merged[i + 1] as Segment));
        if (merged.length % 2 === 1) next.push(merged[merged.length - 1] as Segment);
        merged = next;
      }
      const [values, counts, start, end] = merged[0] ?? [[], [], 0, 0];
      result = [float64(values, start, end), float64(counts, start, end)];
    } else {
      // Many small slices (rollup intervals of finer groups): counted by value, then the distinct values sorted.
      const map = new Map<number, number>();
      for (const [values, counts, start, end] of slices)
        for (let i = start; i < end; i++)
          map.set(values[i] as number, (map.get(values[i] as number) ?? 0) + (counts[i] as number));
      const keys = Float64Array.from(map.keys()).sort();
      result = [keys, Float64Array.from(keys, (k) => map.get(k) as number)];
    }
    if (slices.length > 1) this.#sorted.set(g, result);
    return result;
  }

  /** Group g's state as plain JSON-able data (what rollup files keep). */
  plain(g: number): unknown {
    switch (this.kind) {
      case 'count':
        return this.a[g];
      case 'sum':
        return [this.a[g], this.b[g]];
      case 'min':
      case 'max':
        return this.seen[g] === 0 ? null : (this.strings[g] ?? this.a[g]);
      case 'distinct':
        return [...(this.sets[g] ?? [])];
      case 'values': {
        const [values, counts] = this.valueCounts(g);
        return [[...values], [...counts]];
      }
      case 'digest':
        return this.digests[g]?.toJSON() ?? null;
    }
  }

  /** Merges a plain state (from a rollup file) into group g. */
  addPlain(g: number, state: unknown): void {
    switch (this.kind) {
      case 'count':
        this.a[g] = (this.a[g] as number) + (state as number);
        return;
      case 'sum': {
        const [sum, n] = state as [number, number];
        this.a[g] = (this.a[g] as number) + sum;
        this.b[g] = (this.b[g] as number) + n;
        return;
      }
      case 'min':
      case 'max':
        if (state !== null) this.extreme(g, state as number | string);
        return;
      case 'distinct': {
        let set = this.sets[g];
        if (!set) this.sets[g] = set = new Set();
        for (const v of state as (number | string)[]) set.add(v);
        return;
      }
      case 'values': {
        const [values, counts] = state as [number[], number[]];
        this.addSlice(g, this.addSource(values, counts), 0, values.length);
        return;
      }
      case 'digest':
        this.addDigest(g, state as TDigestState | null);
        return;
    }
  }
}

/**
 * Merges the partial groups of several threads (or of several intervals, for rollups) into one set of groups.
 * Every state merges exactly: counts and sums add, value-count maps add per value, digests merge. Keys live in a
 * {@link GroupTable}; VARCHAR keys are interned once per distinct string of each partial's dictionary.
 */
export class MergedGroups {
  readonly #mergers: StateColumnMerger[];
  readonly #table: GroupTable;
  readonly #interners: (Interner | undefined)[];
  readonly #key: Float64Array;
  #capacity = 0;

  constructor(plan: Pick<GroupingSetPlan, 'states' | 'dims'>) {
    this.#mergers = plan.states.map((s) => new StateColumnMerger(s.kind));
    this.#table = new GroupTable(plan.dims.length);
    this.#interners = plan.dims.map((d) => (d.kind === 'column' && d.type === 'varchar' ? new Interner() : undefined));
    this.#key = new Float64Array(Math.max(1, plan.dims.length));
    if (plan.dims.length === 0) this.#find(0);
  }

  get size(): number {
    return this.#table.size;
  }

  #find(mask: number): number {
    const group = this.#table.find(this.#key, mask);
    if (group >= this.#capacity) {
      this.#capacity = Math.max(64, this.#capacity * 2);
      for (const merger of this.#mergers) merger.grow(this.#capacity);
    }
    return group;
  }

  /** Merges one thread's partial groups. */
  add(partial: PartialGroups): void {
    const width = this.#table.width;
    // Per VARCHAR dimension: the partial's dictionary index -> this merge's string id, filled on first use.
    const ids = partial.keys.map((column) =>
      column.dictionary ? new Int32Array(column.dictionary.length) : undefined,
    );
    const key = this.#key;
    const size = partial.size;
    const groups = new Int32Array(size);
    for (let g = 0; g < size; g++) {
      let mask = 0;
      for (let d = 0; d < width; d++) {
        const column = partial.keys[d];
        if (!column || column.nulls[g] === 1) {
          mask |= 1 << d;
          key[d] = 0;
          continue;
        }
        const value = column.values[g] as number;
        const map = ids[d];
        if (map && column.dictionary) {
          let id = map[value] as number;
          if (id === 0)
            map[value] = id = (this.#interners[d] as Interner).internString(column.dictionary[value] as string);
          key[d] = id;
        } else key[d] = value;
      }
      groups[g] = this.#find(mask);
    }
    // State by state, in tight loops over the groups.
    partial.states.forEach((state, s) => {
      const merger = this.#mergers[s] as StateColumnMerger;
      const { a, b } = merger;
      switch (state.kind) {
        case 'count':
          for (let g = 0; g < size; g++) {
            const group = groups[g] as number;
            a[group] = (a[group] as number) + (state.counts[g] as number);
          }
          return;
        case 'sum':
          for (let g = 0; g < size; g++) {
            const group = groups[g] as number;
            a[group] = (a[group] as number) + (state.sums[g] as number);
            b[group] = (b[group] as number) + (state.counts[g] as number);
          }
          return;
        case 'min':
        case 'max':
          for (let g = 0; g < size; g++) {
            if (state.seen[g] !== 1) continue;
            const value = state.values[g] as number;
            merger.extreme(groups[g] as number, state.dictionary ? (state.dictionary[value] as string) : value);
          }
          return;
        case 'distinct':
          for (let g = 0; g < size; g++) {
            const group = groups[g] as number;
            let set = merger.sets[group];
            if (!set) merger.sets[group] = set = new Set();
            for (const v of state.sets[g] ?? []) set.add(v);
          }
          return;
        case 'values': {
          const source = merger.addSource(state.values, state.counts);
          for (let g = 0; g < size; g++)
            merger.addSlice(groups[g] as number, source, state.offsets[g] as number, state.offsets[g + 1] as number);
          return;
        }
        case 'digest':
          for (let g = 0; g < size; g++) merger.addDigest(groups[g] as number, state.digests[g] ?? null);
          return;
      }
    });
  }

  /** Merges groups stored as plain rows (rollup intervals). */
  addPlain(plain: PlainGroups): void {
    plain.keys.forEach((values, row) => {
      this.addPlainRow(values, plain.states[row] as unknown[]);
    });
  }

  /**
   * Merges one group stored as a plain row. `states[select[s]]` is state `s` (all of them in order when `select` is
   * absent), so a caller can pick a rollup's states for a query without copying them.
   */
  addPlainRow(values: readonly KeyValue[], states: readonly unknown[], select?: readonly number[]): void {
    const width = this.#table.width;
    const key = this.#key;
    let mask = 0;
    for (let d = 0; d < width; d++) {
      const value = values[d] ?? null;
      if (value === null) {
        mask |= 1 << d;
        key[d] = 0;
      } else key[d] = typeof value === 'string' ? (this.#interners[d] as Interner).internString(value) : value;
    }
    const group = this.#find(mask);
    const mergers = this.#mergers;
    for (let s = 0; s < mergers.length; s++)
      (mergers[s] as StateColumnMerger).addPlain(group, states[select ? (select[s] as number) : s]);
  }

  #keyValue(group: number, d: number): KeyValue {
    if (this.#table.isNull(group, d)) return null;
    const value = this.#table.key(group, d);
    const interner = this.#interners[d];
    return interner ? interner.string(value) : value;
  }

  /** The merged groups as plain rows again (what a rollup file stores). */
  toPlain(): PlainGroups {
    const keys: KeyValue[][] = [];
    const states: unknown[][] = [];
    for (let g = 0; g < this.#table.size; g++) {
      keys.push(Array.from({ length: this.#table.width }, (_, d) => this.#keyValue(g, d)));
      states.push(this.#mergers.map((m) => m.plain(g)));
    }
    return { keys, states };
  }

  /** An aggregate the column loops of {@link finished} leave to a group at a time: distinct counts, sketches, strings. */
  #finalValue(plan: AggregatePlan, g: number): KeyValue {
    const merger = this.#mergers[plan.state] as StateColumnMerger;
    switch (plan.fn) {
      case 'count_distinct':
        return merger.sets[g]?.size ?? 0;
      case 'approx_quantile': {
        const value = merger.digests[g]?.quantile(plan.fraction ?? 0.5) ?? null;
        return value !== null && plan.valueType === 'bigint' ? Math.round(value) : value;
      }
      case 'min':
      case 'max':
        return merger.seen[g] === 0 ? null : (merger.strings[g] ?? (merger.a[g] as number));
      default:
        throw new Error(`${plan.fn} is finished column by column`);
    }
  }

  /**
   * The groups with their aggregates computed, by column (dimensions, then aggregates), in typed arrays that move
   * between threads without a copy: what {@link finishGroups} turns into the result.
   */
  finished(plan: FinishPlan): FinishedGroups {
    const size = this.#table.size;
    const columns: FinishedColumn[] = [];
    for (let d = 0; d < plan.dimTypes.length; d++) {
      const column = this.#table.keyColumn(d, size);
      const interner = this.#interners[d];
      columns.push(interner ? { ...column, strings: dictionaryOf(interner) } : column);
    }
    const quantiles = this.#finishedQuantiles(plan, size);
    for (const [index, aggregate] of plan.aggregates.entries()) {
      const together = quantiles.get(index);
      if (together) {
        columns.push(together);
        continue;
      }
      const fast = this.#finishedFast(aggregate, size);
      if (fast) {
        columns.push(fast);
        continue;
      }
      const values = new Float64Array(size);
      const nulls = new Uint8Array(size);
      let strings: string[] | undefined;
      for (let g = 0; g < size; g++) {
        const v = this.#finalValue(aggregate, g);
        if (v === null) nulls[g] = 1;
        else if (typeof v === 'string') {
          strings ??= [];
          values[g] = strings.push(v) - 1;
        } else values[g] = v;
      }
      columns.push(strings ? { values, nulls, strings } : { values, nulls });
    }
    return { size, columns };
  }

  /** The exact quantiles of the plan, by aggregate index: those of one state computed together, group by group. */
  #finishedQuantiles(plan: FinishPlan, size: number): Map<number, FinishedColumn> {
    const byState = new Map<number, number[]>();
    plan.aggregates.forEach((aggregate, index) => {
      if (aggregate.fn !== 'quantile_cont') return;
      const list = byState.get(aggregate.state) ?? [];
      list.push(index);
      byState.set(aggregate.state, list);
    });
    const columns = new Map<number, FinishedColumn>();
    for (const [state, indexes] of byState) {
      const merger = this.#mergers[state] as StateColumnMerger;
      const fractions = indexes.map((i) => (plan.aggregates[i] as AggregatePlan).fraction ?? 0.5);
      const outputs = indexes.map(() => ({ values: new Float64Array(size), nulls: new Uint8Array(size) }));
      const out = new Float64Array(fractions.length);
      for (let g = 0; g < size; g++) {
        const found = merger.quantiles(g, fractions, out);
        for (let k = 0; k < outputs.length; k++) {
          const output = outputs[k] as (typeof outputs)[number];
          if (found) output.values[g] = out[k] as number;
          else output.nulls[g] = 1;
        }
      }
      indexes.forEach((index, k) => {
        columns.set(index, outputs[k] as FinishedColumn);
      });
    }
    return columns;
  }

  /** The common numeric aggregates, each as one tight loop over the groups. */
  #finishedFast(aggregate: AggregatePlan, size: number): FinishedColumn | undefined {
    const merger = this.#mergers[aggregate.state] as StateColumnMerger;
    const { a, b, seen } = merger;
    const values = new Float64Array(size);
    const nulls = new Uint8Array(size);
    switch (aggregate.fn) {
      case 'count':
        values.set(a.subarray(0, size));
        return { values, nulls };
      case 'sum':
      case 'avg': {
        const average = aggregate.fn === 'avg';
        for (let g = 0; g < size; g++) {
          const n = b[g] as number;
          if (n === 0) nulls[g] = 1;
          else values[g] = average ? (a[g] as number) / n : (a[g] as number);
        }
        return { values, nulls };
      }
      case 'min':
      case 'max':
        if (merger.strings.length > 0) return undefined;
        for (let g = 0; g < size; g++) {
          if (seen[g] === 0) nulls[g] = 1;
          else values[g] = a[g] as number;
        }
        return { values, nulls };
      default:
        return undefined;
    }
  }

  /**
   * The result: aggregates, HAVING, ORDER BY and LIMIT applied, in the engine-api value representation. Without
   * HAVING and ORDER BY, rows come in group order (the order of {@link toPlain}).
   */
  finish(plan: FinishPlan, maxRows: number): FinishedResult {
    return finishGroups(plan, [this.finished(plan)], maxRows);
  }
}

/** One column of {@link FinishedGroups}: numbers, or for strings indexes into `strings`; `nulls[g] = 1` for NULL. */
export interface FinishedColumn {
  readonly values: Float64Array<ArrayBuffer>;
  readonly nulls: Uint8Array<ArrayBuffer>;
  readonly strings?: readonly string[];
}

/** Groups with their aggregates computed: a column per dimension, then one per aggregate of the plan. */
export interface FinishedGroups {
  readonly size: number;
  readonly columns: readonly FinishedColumn[];
}

export interface FinishedResult {
  readonly schema: Column[];
  readonly columns: unknown[][];
  readonly rowCount: number;
}

/** The buffers of finished groups, to transfer them to another thread. */
export function finishedTransferables(groups: FinishedGroups): ArrayBuffer[] {
  return groups.columns.flatMap((c) => [c.values.buffer, c.nulls.buffer]);
}

/** Several shares of finished groups as one: numbers copied, strings re-indexed into one list per column. */
function concatFinished(parts: readonly FinishedGroups[]): FinishedGroups {
  if (parts.length === 1) return parts[0] as FinishedGroups;
  const size = parts.reduce((n, p) => n + p.size, 0);
  const width = parts[0]?.columns.length ?? 0;
  const columns: FinishedColumn[] = [];
  for (let c = 0; c < width; c++) {
    const values = new Float64Array(size);
    const nulls = new Uint8Array(size);
    const hasStrings = parts.some((p) => p.columns[c]?.strings);
    const strings: string[] = [];
    const indexes = new Map<string, number>();
    let at = 0;
    for (const part of parts) {
      const column = part.columns[c] as FinishedColumn;
      nulls.set(column.nulls, at);
      if (!hasStrings) values.set(column.values, at);
      else {
        const local = column.strings ?? [];
        const remap = local.map((text) => {
          let index = indexes.get(text);
          if (index === undefined) {
            index = strings.push(text) - 1;
            indexes.set(text, index);
          }
          return index;
        });
        for (let g = 0; g < part.size; g++)
          if (column.nulls[g] === 0) values[at + g] = remap[column.values[g] as number] as number;
      }
      at += part.size;
    }
    columns.push(hasStrings ? { values, nulls, strings } : { values, nulls });
  }
  return { size, columns };
}

/**
 * The result from finished groups (one share, or the shares several threads finished): HAVING, ORDER BY and LIMIT
 * applied, values in the engine-api representation.
 */
export function finishGroups(plan: FinishPlan, parts: readonly FinishedGroups[], maxRows: number): FinishedResult {
  const rows = finishRows(plan, parts, maxRows);
  return { schema: rows.schema, columns: rows.columns(0, rows.rowCount), rowCount: rows.rowCount };
}

/** A result whose rows are converted to engine-api values on demand, a range at a time. */
export interface FinishedRows {
  readonly schema: Column[];
  readonly rowCount: number;
  /** The result's columns for rows `[from, to)`. */
  columns(from: number, to: number): unknown[][];
}

/**
 * {@link finishGroups}, with values converted only when a range of rows is asked for: streamed batch by batch, a
 * large result never exists whole as JavaScript values.
 */
export function finishRows(plan: FinishPlan, parts: readonly FinishedGroups[], maxRows: number): FinishedRows {
  const width = plan.dimTypes.length;
  const at = (ref: OutputRef): number => (ref.source === 'dim' ? ref.index : width + ref.index);
  const locals = plan.select.map((s) =>
    s.ref.source === 'dim'
      ? (plan.dimLocalTypes[s.ref.index] ?? 'double')
      : outputLocalType(plan.aggregates[s.ref.index] as AggregatePlan),
  );
  const indexes = plan.select.map((s) => at(s.ref));
  const schema = finishSchema(plan);
  if (!plan.having && plan.order.length === 0) {
    // Rows in share order, read from each share in place: no copy of the shares into one.
    const total = parts.reduce((n, p) => n + p.size, 0);
    const limit = Math.min(plan.limit ?? Number.POSITIVE_INFINITY, maxRows, total);
    const columns = (from: number, to: number): unknown[][] =>
      indexes.map((index, o) => {
        const out: unknown[] = new Array(to - from);
        let base = 0;
        for (const part of parts) {
          const lo = Math.max(from, base);
          const hi = Math.min(to, base + part.size);
          if (lo < hi)
            convertRange(
              out,
              lo - from,
              part.columns[index] as FinishedColumn,
              locals[o] as LocalType,
              lo - base,
              hi - base,
            );
          base += part.size;
        }
        return out;
      });
    return { schema, rowCount: limit, columns };
  }
  const { size, columns: finished } = concatFinished(parts);
  const valueAt = (index: number, g: number): KeyValue => {
    const column = finished[index] as FinishedColumn;
    if (column.nulls[g] === 1) return null;
    const v = column.values[g] as number;
    return column.strings ? (column.strings[v] as string) : v;
  };
  let order: number[] | undefined;
  if (plan.having) {
    const having = plan.having;
    order = [];
    for (let g = 0; g < size; g++) if (evaluate(having, (i) => valueAt(i, g), at) === true) order.push(g);
  }
  if (plan.order.length > 0) {
    order ??= Array.from({ length: size }, (_, g) => g);
    const keys = plan.order.map((o) => ({ ...o, index: at(o.ref) }));
    order.sort((x, y) => {
      for (const o of keys) {
        const a = valueAt(o.index, x);
        const b = valueAt(o.index, y);
        if (a === b) continue;
        if (a === null || b === null) return (a === null) === o.nullsFirst ? -1 : 1;
        const c = a < b ? -1 : a > b ? 1 : 0;
        if (c !== 0) return o.descending ? -c : c;
      }
      return 0;
    });
  }
  const sorted = order;
  const limit = Math.min(plan.limit ?? Number.POSITIVE_INFINITY, maxRows, sorted ? sorted.length : size);
  const columns = (from: number, to: number): unknown[][] =>
    indexes.map((index, o) => {
      const out: unknown[] = new Array(to - from);
      convertRange(out, 0, finished[index] as FinishedColumn, locals[o] as LocalType, from, to, sorted);
      return out;
    });
  return { schema, rowCount: limit, columns };
}

/**
 * Writes rows `[from, to)` of a finished column (group `order[i]`, or `i` without an order) as engine-api values
 * into `out` from `offset`. BigInts are immutable, so equal values share one: small integers (counts,
 * milliseconds) from a table, others when equal to the previous row's (time buckets, which groups mostly arrive in
 * order of).
 */
function convertRange(
  out: unknown[],
  offset: number,
  column: FinishedColumn,
  local: LocalType,
  from: number,
  to: number,
  order?: readonly number[],
): void {
  const { values, nulls, strings } = column;
  if (strings) {
    for (let i = from; i < to; i++) {
      const g = order ? (order[i] as number) : i;
      out[offset + i - from] = nulls[g] === 1 ? null : strings[values[g] as number];
    }
  } else if (local === 'bigint' || local === 'timestamp') {
    let previous = Number.NaN;
    let previousBig = 0n;
    for (let i = from; i < to; i++) {
      const g = order ? (order[i] as number) : i;
      let value: bigint | null;
      if (nulls[g] === 1) value = null;
      else {
        const v = Math.round(values[g] as number);
        if (v >= 0 && v < SMALL_BIGINTS.length) {
          let small = SMALL_BIGINTS[v];
          if (small === undefined) {
            small = BigInt(v);
            SMALL_BIGINTS[v] = small;
          }
          value = small;
        } else if (v === previous) value = previousBig;
        else {
          previous = v;
          value = previousBig = BigInt(v);
        }
      }
      out[offset + i - from] = value;
    }
  } else {
    for (let i = from; i < to; i++) {
      const g = order ? (order[i] as number) : i;
      out[offset + i - from] = nulls[g] === 1 ? null : toBatchValue(local, values[g] as number);
    }
  }
}

/** The result's columns: the select list's names with the types of its dimensions and aggregates. */
export function finishSchema(plan: FinishPlan): Column[] {
  return plan.select.map((s) => ({
    name: s.name,
    type: s.ref.source === 'dim' ? plan.dimTypes[s.ref.index] : (plan.aggregates[s.ref.index] as AggregatePlan).output,
  })) as Column[];
}

/** BigInts of 0 to 65535, made on first use and shared (BigInts are immutable). */
const SMALL_BIGINTS: (bigint | undefined)[] = new Array(65_536);

/** The local type whose batch representation an aggregate's output takes. */
function outputLocalType(plan: AggregatePlan): LocalType {
  if (plan.output.kind === 'bigint') return 'bigint';
  if (plan.output.kind === 'float') return 'double';
  return plan.valueType;
}

/**
 * Interpolated quantile of sorted value-counts `[start, end)` holding `total` values, as DuckDB's quantile_cont:
 * position (total - 1) * fraction.
 */
function quantileAt(
  values: ArrayLike<number>,
  counts: ArrayLike<number>,
  start: number,
  end: number,
  total: number,
  fraction: number,
): number {
  const position = (total - 1) * fraction;
  const lowIndex = Math.floor(position);
  const highIndex = Math.ceil(position);
  let low: number | undefined;
  let high: number | undefined;
  let seen = 0;
  for (let i = start; i < end; i++) {
    seen += counts[i] as number;
    if (low === undefined && seen > lowIndex) low = values[i] as number;
    if (seen > highIndex) {
      high = values[i] as number;
      break;
    }
  }
  const lo = low as number;
  const hi = high ?? lo;
  return lo === hi ? lo : lo + (position - lowIndex) * (hi - lo);
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
function evaluate(
  p: OutputPredicate,
  row: (index: number) => KeyValue,
  at: (ref: OutputRef) => number,
): boolean | undefined {
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
      return (row(at(p.ref)) === null) !== p.negated;
    default:
  }
  const v = row(at(p.ref));
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
