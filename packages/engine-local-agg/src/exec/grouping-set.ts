import { TDigest } from '../aggregate/t-digest.js';
import type { Interner } from '../table/interner.js';
import type { RowSlots } from '../table/row-decoder.js';
import type { GroupingSetPlan, KeyValue, PartialGroups, RowOperand, StatePlan } from './plan.js';
import { compileRowPredicate, numberReader, TRUE, type Truth } from './row-eval.js';

const float = new Float64Array(1);
const words = new Int32Array(float.buffer);

function hashNumber(hash: number, value: number): number {
  float[0] = value;
  hash = Math.imul(hash ^ (words[0] as number), 0x9e3779b1);
  return Math.imul(hash ^ (words[1] as number), 0x85ebca77);
}

/** A growable array of per-group numbers. */
function grown(array: Float64Array<ArrayBuffer>, capacity: number): Float64Array<ArrayBuffer> {
  if (capacity <= array.length) return array;
  const next = new Float64Array(Math.max(capacity, array.length * 2));
  next.set(array);
  return next;
}

interface StateStore {
  add(group: number): void;
  grow(capacity: number): void;
  export(group: number): unknown;
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
        export: (g) => a[g],
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
        export: (g) => [a[g], b[g]],
      };
    case 'min':
    case 'max': {
      // b[g] = 1 once the group has a value; for VARCHAR, a[g] holds the id of the least (greatest) string so far.
      const wantLess = plan.kind === 'min';
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
        export: (g) => (b[g] === 0 ? null : varchar ? text(a[g] as number) : a[g]),
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
        export: (g) => {
          const values = [...(sets[g] ?? [])];
          return varchar ? values.map((id) => (interner as Interner).string(id)) : values;
        },
      };
    }
    case 'values': {
      // Exact quantiles keep a count per distinct value: bounded by the values' range, not by the rows, and
      // mergeable across threads and intervals.
      const maps: Map<number, number>[] = [];
      return {
        add(g) {
          if (nulls[c] === 1) return;
          let map = maps[g];
          if (!map) maps[g] = map = new Map();
          const v = nums[c] as number;
          map.set(v, (map.get(v) ?? 0) + 1);
        },
        grow() {},
        export: (g) => valueCounts(maps[g]),
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
        export: (g) => digests[g]?.toJSON() ?? null,
      };
    }
  }
}

/** A value-count map as `[values, counts]` sorted by value. */
export function valueCounts(map: Map<number, number> | undefined): [number[], number[]] {
  const values = [...(map?.keys() ?? [])].sort((x, y) => x - y);
  return [values, values.map((v) => (map as Map<number, number>).get(v) as number)];
}

/**
 * Aggregates the rows of one thread into the groups of one grouping set. Group keys are numbers (string ids for
 * VARCHAR) in an open-addressing table, states live in typed arrays indexed by group: per row there is a hash, a
 * probe and a few array updates, and no allocation.
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
  #keys: Float64Array<ArrayBuffer> = new Float64Array(64);
  #nullMasks = new Int32Array(64);
  #table = new Int32Array(256);
  #groups = 0;

  constructor(plan: GroupingSetPlan, slots: RowSlots, interners: readonly (Interner | undefined)[]) {
    this.#dims = plan.dims;
    this.#slots = slots;
    this.#interners = interners;
    this.#readers = plan.dims.map((d) =>
      d.kind === 'column' && d.type === 'varchar' ? () => slots.ids[d.column] as number : numberReader(d, slots),
    );
    this.#key = new Float64Array(Math.max(1, plan.dims.length));
    this.#keys = new Float64Array(64 * Math.max(1, plan.dims.length));
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
    if (plan.dims.length === 0) this.#newGroup(-1, 0);
  }

  /** Adds the current row (already past the pass's own filter). */
  add(): void {
    if (this.#where && this.#where() !== TRUE) return;
    const group = this.#dims.length === 0 ? 0 : this.#findGroup();
    const filters = this.#filters;
    for (let f = 0; f < filters.length; f++) this.#filterResults[f] = (filters[f] as () => Truth)();
    const stores = this.#stores;
    for (let s = 0; s < stores.length; s++) {
      const f = this.#stateFilter[s] as number;
      if (f < 0 || this.#filterResults[f] === TRUE) (stores[s] as StateStore).add(group);
    }
  }

  #findGroup(): number {
    const k = this.#dims.length;
    const key = this.#key;
    const nulls = this.#slots.nulls;
    let mask = 0;
    let hash = 0x2545f491;
    for (let d = 0; d < k; d++) {
      const column = (this.#dims[d] as RowOperand).column;
      if (nulls[column] === 1) {
        mask |= 1 << d;
        key[d] = 0;
      } else key[d] = (this.#readers[d] as () => number)();
      hash = hashNumber(hash, key[d] as number);
    }
    hash ^= mask;
    const table = this.#table;
    const tableMask = table.length - 1;
    const keys = this.#keys;
    for (let slot = (hash ^ (hash >>> 15)) & tableMask; ; slot = (slot + 1) & tableMask) {
      const entry = table[slot] as number;
      if (entry === 0) return this.#newGroup(slot, mask);
      const group = entry - 1;
      if (this.#nullMasks[group] !== mask) continue;
      let same = true;
      const base = group * k;
      for (let d = 0; d < k; d++) {
        const x = keys[base + d] as number;
        const y = key[d] as number;
        // NaN equals NaN as a group key.
        if (x !== y && !(Number.isNaN(x) && Number.isNaN(y))) {
          same = false;
          break;
        }
      }
      if (same) return group;
    }
  }

  /** Adds a group; `slot` is its place in the hash table, -1 for the one group of a set without dimensions. */
  #newGroup(slot: number, mask: number): number {
    const group = this.#groups++;
    const k = this.#dims.length;
    if ((group + 1) * k > this.#keys.length) this.#keys = grown(this.#keys, (group + 1) * k * 2);
    if (group >= this.#nullMasks.length) {
      const masks = new Int32Array(this.#nullMasks.length * 2);
      masks.set(this.#nullMasks);
      this.#nullMasks = masks;
    }
    this.#keys.set(this.#key.subarray(0, k), group * k);
    this.#nullMasks[group] = mask;
    for (const store of this.#stores) store.grow(group + 1);
    if (slot >= 0) {
      this.#table[slot] = group + 1;
      if (this.#groups * 2 > this.#table.length) this.#rehash();
    }
    return group;
  }

  #rehash(): void {
    const k = this.#dims.length;
    const table = new Int32Array(this.#table.length * 2);
    const tableMask = table.length - 1;
    for (let group = 0; group < this.#groups; group++) {
      let hash = 0x2545f491;
      for (let d = 0; d < k; d++) hash = hashNumber(hash, this.#keys[group * k + d] as number);
      hash ^= this.#nullMasks[group] as number;
      let slot = (hash ^ (hash >>> 15)) & tableMask;
      while (table[slot] !== 0) slot = (slot + 1) & tableMask;
      table[slot] = group + 1;
    }
    this.#table = table;
  }

  get groups(): number {
    return this.#groups;
  }

  /** The groups as plain data: key values (strings for VARCHAR) and one partial per state. */
  export(): PartialGroups {
    const k = this.#dims.length;
    const keys: KeyValue[][] = [];
    const states: unknown[][] = [];
    for (let group = 0; group < this.#groups; group++) {
      const key: KeyValue[] = [];
      for (let d = 0; d < k; d++) {
        const dim = this.#dims[d] as RowOperand;
        if (((this.#nullMasks[group] as number) & (1 << d)) !== 0) key.push(null);
        else {
          const value = this.#keys[group * k + d] as number;
          key.push(
            dim.kind === 'column' && dim.type === 'varchar'
              ? (this.#interners[dim.column] as Interner).string(value)
              : value,
          );
        }
      }
      keys.push(key);
      states.push(this.#stores.map((store) => store.export(group)));
    }
    return { keys, states };
  }
}
