import { TDigest } from '../aggregate/t-digest.js';
import type { Interner } from '../table/interner.js';
import type { RowSlots } from '../table/row-decoder.js';
import { GroupTable } from './group-table.js';
import type { GroupingSetPlan, KeyColumn, PartialGroups, RowOperand, StateColumn, StatePlan } from './plan.js';
import { compileRowPredicate, numberReader, TRUE, type Truth } from './row-eval.js';

/** Values logged before they are folded into per-group value-count maps. */
const VALUE_LOG = 4 * 1024 * 1024;

/** A growable array of per-group numbers. */
function grown(array: Float64Array<ArrayBuffer>, capacity: number): Float64Array<ArrayBuffer> {
  if (capacity <= array.length) return array;
  const next = new Float64Array(Math.max(capacity, array.length * 2));
  next.set(array);
  return next;
}

/** Every string an interner holds, by id (index 0 unused): the dictionary that exported ids index. */
export function dictionaryOf(interner: Interner): string[] {
  const strings = [''];
  for (let id = 1; id <= interner.size; id++) strings.push(interner.string(id));
  return strings;
}

interface StateStore {
  add(group: number): void;
  grow(capacity: number): void;
  export(size: number): StateColumn;
}

function createStore(plan: StatePlan, slots: RowSlots, interner: Interner | undefined): StateStore {
  const { nums, ids, nulls } = slots;
  const c = plan.column;
  const varchar = plan.type === 'varchar';
  let a = new Float64Array(64);
  let b = new Float64Array(64);
  switch (plan.kind) {
    case 'count':
      return {
        add:
          c < 0
            ? (g) => {
                a[g] = (a[g] as number) + 1;
              }
            : (g) => {
                if (nulls[c] === 0) a[g] = (a[g] as number) + 1;
              },
        grow(n) {
          a = grown(a, n);
        },
        export: (size) => ({ kind: 'count', counts: a.slice(0, size) }),
      };
    case 'sum':
      return {
        add(g) {
          if (nulls[c] === 1) return;
          a[g] = (a[g] as number) + (nums[c] as number);
          b[g] = (b[g] as number) + 1;
        },
        grow(n) {
          a = grown(a, n);
          b = grown(b, n);
        },
        export: (size) => ({ kind: 'sum', sums: a.slice(0, size), counts: b.slice(0, size) }),
      };
    case 'min':
    case 'max': {
      // b[g] = 1 once the group has a value; for VARCHAR, a[g] holds the id of the least (greatest) string so far.
      const kind = plan.kind;
      const wantLess = kind === 'min';
      const text = (id: number) => (interner as Interner).string(id);
      return {
        add(g) {
          if (nulls[c] === 1) return;
          const v = varchar ? (ids[c] as number) : (nums[c] as number);
          if (b[g] === 0) {
            a[g] = v;
            b[g] = 1;
          } else if (varchar) {
            const current = a[g] as number;
            if (v !== current && text(v) < text(current) === wantLess) a[g] = v;
          } else if (wantLess ? v < (a[g] as number) : v > (a[g] as number)) a[g] = v;
        },
        grow(n) {
          a = grown(a, n);
          b = grown(b, n);
        },
        export: (size) => ({
          kind,
          values: a.slice(0, size),
          seen: Uint8Array.from(b.subarray(0, size)),
          ...(varchar ? { dictionary: dictionaryOf(interner as Interner) } : {}),
        }),
      };
    }
    case 'distinct': {
      const sets: Set<number>[] = [];
      return {
        add(g) {
          if (nulls[c] === 1) return;
          let set = sets[g];
          if (!set) sets[g] = set = new Set();
          set.add(varchar ? (ids[c] as number) : (nums[c] as number));
        },
        grow() {},
        export(size) {
          const out: (number | string)[][] = [];
          for (let g = 0; g < size; g++) {
            const values = [...(sets[g] ?? [])];
            out.push(varchar ? values.map((id) => (interner as Interner).string(id)) : values);
          }
          return { kind: 'distinct', sets: out };
        },
      };
    }
    case 'values': {
      // Exact quantiles keep a count per distinct value: bounded by the values' range rather than by the rows, and
      // mergeable across threads and intervals. Rows first append (group, value) to one log (no allocation per
      // group); a full log is folded into per-group value-count maps, so memory stays bounded by the groups.
      let logGroups = new Int32Array(1024);
      let logValues = new Float64Array(1024);
      let logLength = 0;
      const maps: (Map<number, number> | undefined)[] = [];
      const fold = (): void => {
        for (let i = 0; i < logLength; i++) {
          const g = logGroups[i] as number;
          let map = maps[g];
          if (!map) maps[g] = map = new Map();
          const v = logValues[i] as number;
          map.set(v, (map.get(v) ?? 0) + 1);
        }
        logLength = 0;
      };
      return {
        add(g) {
          if (nulls[c] === 1) return;
          if (logLength === logGroups.length) {
            if (logLength >= VALUE_LOG) fold();
            else {
              const groups = new Int32Array(logLength * 2);
              groups.set(logGroups);
              logGroups = groups;
              const values = new Float64Array(logLength * 2);
              values.set(logValues);
              logValues = values;
            }
          }
          logGroups[logLength] = g;
          logValues[logLength++] = nums[c] as number;
        },
        grow() {},
        export(size) {
          if (maps.length > 0) fold();
          // Bucket the log by group (a counting sort), sort each group's values in place, then count runs.
          const starts = new Int32Array(size + 1);
          for (let i = 0; i < logLength; i++) {
            const next = (logGroups[i] as number) + 1;
            starts[next] = (starts[next] as number) + 1;
          }
          for (let g = 0; g < size; g++) starts[g + 1] = (starts[g + 1] as number) + (starts[g] as number);
          const cursor = starts.slice(0, size);
          const byGroup = new Float64Array(logLength);
          for (let i = 0; i < logLength; i++) {
            const g = logGroups[i] as number;
            const slot = cursor[g] as number;
            byGroup[slot] = logValues[i] as number;
            cursor[g] = slot + 1;
          }
          let total = 0;
          for (let g = 0; g < size; g++)
            total += (starts[g + 1] as number) - (starts[g] as number) + (maps[g]?.size ?? 0);
          const offsets = new Int32Array(size + 1);
          const values = new Float64Array(total);
          const counts = new Float64Array(total);
          let at = 0;
          for (let g = 0; g < size; g++) {
            offsets[g] = at;
            const map = maps[g];
            if (map) {
              // Rare (only past a full log): fold this group's logged values into its map, then write it sorted.
              for (let i = starts[g] as number; i < (starts[g + 1] as number); i++) {
                const v = byGroup[i] as number;
                map.set(v, (map.get(v) ?? 0) + 1);
              }
              const keys = Float64Array.from(map.keys()).sort();
              for (const k of keys) {
                values[at] = k;
                counts[at++] = map.get(k) as number;
              }
              continue;
            }
            const from = starts[g] as number;
            const to = starts[g + 1] as number;
            byGroup.subarray(from, to).sort();
            for (let i = from; i < to; i++) {
              const v = byGroup[i] as number;
              if (at > (offsets[g] as number) && values[at - 1] === v) counts[at - 1] = (counts[at - 1] as number) + 1;
              else {
                values[at] = v;
                counts[at++] = 1;
              }
            }
          }
          offsets[size] = at;
          return { kind: 'values', offsets, values: values.slice(0, at), counts: counts.slice(0, at) };
        },
      };
    }
    case 'digest': {
      const digests: TDigest[] = [];
      return {
        add(g) {
          if (nulls[c] === 1) return;
          let digest = digests[g];
          if (!digest) digests[g] = digest = new TDigest();
          digest.add(nums[c] as number);
        },
        grow() {},
        export(size) {
          const out = [];
          for (let g = 0; g < size; g++) out.push(digests[g]?.toJSON() ?? null);
          return { kind: 'digest', digests: out };
        },
      };
    }
  }
}

/**
 * Aggregates the rows of one thread into the groups of one grouping set. Group keys are numbers (string ids for
 * VARCHAR) in a {@link GroupTable}, states live in typed arrays indexed by group: per row there is a hash, a probe
 * and a few array updates, and no allocation.
 */
export class GroupingSetAccumulator {
  readonly #dims: readonly RowOperand[];
  readonly #readers: (() => number)[];
  readonly #slots: RowSlots;
  readonly #interners: readonly (Interner | undefined)[];
  readonly #stores: StateStore[];
  readonly #filters: (() => Truth)[];
  readonly #stateFilter: number[];
  readonly #filterResults: Uint8Array;
  readonly #where: (() => Truth) | undefined;
  readonly #key: Float64Array;
  readonly #table: GroupTable;
  #capacity = 0;

  constructor(plan: GroupingSetPlan, slots: RowSlots, interners: readonly (Interner | undefined)[]) {
    this.#dims = plan.dims;
    this.#slots = slots;
    this.#interners = interners;
    this.#readers = plan.dims.map((d) =>
      d.kind === 'column' && d.type === 'varchar' ? () => slots.ids[d.column] as number : numberReader(d, slots),
    );
    this.#key = new Float64Array(Math.max(1, plan.dims.length));
    this.#table = new GroupTable(plan.dims.length);
    this.#where = plan.where ? compileRowPredicate(plan.where, slots, interners) : undefined;
    const filterKeys: string[] = [];
    this.#filters = [];
    this.#stateFilter = plan.states.map((s) => {
      if (!s.filter) return -1;
      const key = JSON.stringify(s.filter);
      let index = filterKeys.indexOf(key);
      if (index < 0) {
        index = filterKeys.push(key) - 1;
        this.#filters.push(compileRowPredicate(s.filter, slots, interners));
      }
      return index;
    });
    this.#filterResults = new Uint8Array(this.#filters.length);
    this.#stores = plan.states.map((s) => createStore(s, slots, interners[s.column]));
    // A set without dimensions has its one group even when no row arrives (count(*) of nothing is 0).
    if (plan.dims.length === 0) this.#group();
  }

  /** Adds the current row (already past the pass's own filter). */
  add(): void {
    if (this.#where && this.#where() !== TRUE) return;
    const group = this.#group();
    const filters = this.#filters;
    for (let f = 0; f < filters.length; f++) this.#filterResults[f] = (filters[f] as () => Truth)();
    const stores = this.#stores;
    for (let s = 0; s < stores.length; s++) {
      const f = this.#stateFilter[s] as number;
      if (f < 0 || this.#filterResults[f] === TRUE) (stores[s] as StateStore).add(group);
    }
  }

  #group(): number {
    const k = this.#dims.length;
    const key = this.#key;
    const nulls = this.#slots.nulls;
    let mask = 0;
    for (let d = 0; d < k; d++) {
      if (nulls[(this.#dims[d] as RowOperand).column] === 1) {
        mask |= 1 << d;
        key[d] = 0;
      } else key[d] = (this.#readers[d] as () => number)();
    }
    const group = this.#table.find(key, mask);
    if (group >= this.#capacity) {
      this.#capacity = Math.max(64, this.#capacity * 2);
      for (const store of this.#stores) store.grow(this.#capacity);
    }
    return group;
  }

  get groups(): number {
    return this.#table.size;
  }

  /** The groups by column, ready to be transferred to another thread. */
  export(): PartialGroups {
    const size = this.#table.size;
    const keys: KeyColumn[] = this.#dims.map((dim, d) => {
      const values = new Float64Array(size);
      const nulls = new Uint8Array(size);
      for (let g = 0; g < size; g++) {
        if (this.#table.isNull(g, d)) nulls[g] = 1;
        else values[g] = this.#table.key(g, d);
      }
      const interner = dim.kind === 'column' && dim.type === 'varchar' ? this.#interners[dim.column] : undefined;
      return interner ? { values, nulls, dictionary: dictionaryOf(interner) } : { values, nulls };
    });
    return { size, keys, states: this.#stores.map((store) => store.export(size)) };
  }
}
