import { TDigest } from '../aggregate/t-digest.js';
import type { Interner } from '../table/interner.js';
import type { RowSlots } from '../table/row-decoder.js';
import { compiledFactory } from './compiled.js';
import { GroupTable, numberHash } from './group-table.js';
import type {
  GroupingSetPlan,
  KeyColumn,
  PartialGroups,
  RowOperand,
  RowPredicate,
  StateColumn,
  StatePlan,
} from './plan.js';
import { bucketStart, compileRowPredicate, FALSE, TRUE, type Truth, UNKNOWN } from './row-eval.js';
import { gatherKey, gatherState, shareMembers, shareOf } from './shares.js';
import { sortRange } from './sort-range.js';

/** Values logged before they are folded into per-group value-count maps. */
const VALUE_LOG = 4 * 1024 * 1024;

/** A growable array of per-group numbers. */
function grown(array: Float64Array<ArrayBuffer>, capacity: number): Float64Array<ArrayBuffer> {
  if (capacity <= array.length) return array;
  const next = new Float64Array(Math.max(capacity, array.length * 2));
  next.set(array);
  return next;
}

/** SQL comparison operators as JavaScript's (on numbers). */
const JS_COMPARE: Readonly<Record<string, string>> = {
  '=': '===',
  '<>': '!==',
  '<': '<',
  '<=': '<=',
  '>': '>',
  '>=': '>=',
};

/** Every string an interner holds, by id (index 0 unused): the dictionary that exported ids index. */
export function dictionaryOf(interner: Interner): string[] {
  const strings = [''];
  for (let id = 1; id <= interner.size; id++) strings.push(interner.string(id));
  return strings;
}

interface StateStore {
  /** Per-group numbers of count, sum, min and max (the compiled `add` updates them inline). */
  a: Float64Array<ArrayBuffer>;
  b?: Float64Array<ArrayBuffer>;
  /** The row's update of group `group`; absent for count and sum, which the compiled `add` updates inline. */
  add?(group: number): void;
  grow(capacity: number): void;
  export(size: number): StateColumn;
  /** The groups of each list, exported apart (stores that can do it without exporting everything first). */
  exportShares?(size: number, lists: readonly Int32Array[]): StateColumn[];
}

function createStore(plan: StatePlan, slots: RowSlots, interner: Interner | undefined, valuesKept: number): StateStore {
  const { nums, ids, nulls } = slots;
  const c = plan.column;
  const varchar = plan.type === 'varchar';
  const a = new Float64Array(64);
  const b = new Float64Array(64);
  switch (plan.kind) {
    case 'count': {
      // Updated inline by the compiled `add` (see GroupingSetAccumulator's #compile), as sums are.
      const store: StateStore = {
        a,
        grow(n) {
          store.a = grown(store.a, n);
        },
        export: (size) => ({ kind: 'count', counts: store.a.slice(0, size) }),
      };
      return store;
    }
    case 'sum': {
      const store: StateStore = {
        a,
        b,
        grow(n) {
          store.a = grown(store.a, n);
          store.b = grown(store.b as Float64Array<ArrayBuffer>, n);
        },
        export: (size) => ({
          kind: 'sum',
          sums: store.a.slice(0, size),
          counts: (store.b as Float64Array).slice(0, size),
        }),
      };
      return store;
    }
    case 'min':
    case 'max': {
      // b[g] = 1 once the group has a value; for VARCHAR, a[g] holds the id of the least (greatest) string so far.
      const kind = plan.kind;
      const wantLess = kind === 'min';
      const text = (id: number) => (interner as Interner).string(id);
      const store: StateStore = {
        a,
        b,
        add(g) {
          if (nulls[c] === 1) return;
          const a = store.a;
          const b = store.b as Float64Array;
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
          store.a = grown(store.a, n);
          store.b = grown(store.b as Float64Array<ArrayBuffer>, n);
        },
        export: (size) => ({
          kind,
          values: store.a.slice(0, size),
          seen: Uint8Array.from((store.b as Float64Array).subarray(0, size)),
          ...(varchar ? { dictionary: dictionaryOf(interner as Interner) } : {}),
        }),
      };
      return store;
    }
    case 'distinct': {
      const sets: Set<number>[] = [];
      return {
        a,
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
      /**
       * The value-counts of the groups of each list (all groups, in order, for an undefined one): the log bucketed
       * by group (a counting sort), each group's values sorted in place, runs counted, written list by list.
       */
      const exportValues = (size: number, lists: readonly (Int32Array | undefined)[]): StateColumn[] => {
        if (maps.length > 0) fold();
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
        const folded = maps.length > 0;
        return lists.map((list) => {
          const n = list ? list.length : size;
          let total = 0;
          for (let k = 0; k < n; k++) {
            const g = list ? (list[k] as number) : k;
            total += (starts[g + 1] as number) - (starts[g] as number) + (folded ? (maps[g]?.size ?? 0) : 0);
          }
          const offsets = new Int32Array(n + 1);
          const values = new Float64Array(total);
          const counts = new Float64Array(total);
          let at = 0;
          for (let k = 0; k < n; k++) {
            const g = list ? (list[k] as number) : k;
            offsets[k] = at;
            const from = starts[g] as number;
            const to = starts[g + 1] as number;
            const map = folded ? maps[g] : undefined;
            if (map) {
              // Rare (only past a full log): this group's values are in its map; write it sorted.
              for (let i = from; i < to; i++) {
                const v = byGroup[i] as number;
                map.set(v, (map.get(v) ?? 0) + 1);
              }
              for (const key of Float64Array.from(map.keys()).sort()) {
                values[at] = key;
                counts[at++] = map.get(key) as number;
              }
              continue;
            }
            sortRange(byGroup, from, to);
            for (let i = from; i < to; i++) {
              const v = byGroup[i] as number;
              if (at > (offsets[k] as number) && values[at - 1] === v) counts[at - 1] = (counts[at - 1] as number) + 1;
              else {
                values[at] = v;
                counts[at++] = 1;
              }
            }
          }
          offsets[n] = at;
          // Views of the used part: no copy, and they transfer with their buffers.
          return { kind: 'values', offsets, values: values.subarray(0, at), counts: counts.subarray(0, at) };
        });
      };
      return {
        a,
        add(g) {
          if (nulls[c] === 1) return;
          if (logLength === logGroups.length) {
            if (logLength >= valuesKept) fold();
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
        export: (size) => exportValues(size, [undefined])[0] as StateColumn,
        exportShares: (size, lists) => exportValues(size, lists),
      };
    }
    case 'digest': {
      const digests: TDigest[] = [];
      return {
        a,
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
  readonly #slots: RowSlots;
  /** Per dimension, the interner of its string ids (undefined for numbers). */
  readonly #dimInterners: readonly (Interner | undefined)[];
  readonly #stores: StateStore[];
  readonly #states: readonly StatePlan[];
  readonly #filters: (() => Truth)[];
  readonly #filterPlans: RowPredicate[] = [];
  readonly #stateFilter: number[];
  readonly #where: (() => Truth) | undefined;
  readonly #key: Float64Array;
  readonly #table: GroupTable;
  readonly #room = { capacity: 0 };
  readonly #add: () => void;

  /** `valuesKept`: exact-quantile values logged before they are folded into value-count maps. */
  constructor(
    plan: GroupingSetPlan,
    slots: RowSlots,
    interners: readonly (Interner | undefined)[],
    valuesKept = VALUE_LOG,
  ) {
    this.#dims = plan.dims;
    this.#slots = slots;
    this.#dimInterners = plan.dims.map((dim) =>
      dim.kind === 'column' && dim.type === 'varchar' ? interners[dim.column] : undefined,
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
        this.#filterPlans.push(s.filter);
      }
      return index;
    });
    this.#states = plan.states;
    this.#stores = plan.states.map((s) => createStore(s, slots, interners[s.column], valuesKept));
    this.#add = this.#compile();
    // A set without dimensions has its one group even when no row arrives (count(*) of nothing is 0).
    if (plan.dims.length === 0) this.#grow(this.#table.find(this.#key, 0));
  }

  /** Adds the current row (already past the pass's own filter). */
  add(): void {
    this.#add();
  }

  /** Makes room for `group`'s states in every store. */
  #grow(group: number): void {
    while (group >= this.#room.capacity) this.#room.capacity = Math.max(64, this.#room.capacity * 2);
    for (const store of this.#stores) store.grow(this.#room.capacity);
  }

  /**
   * Compiles `add` for this set's dimensions, filters and states: the key is read inline and every state is
   * updated from its own call site, so each call is monomorphic and inlined by the JIT (a loop calling every
   * store's `add` from one site costs about as much as the aggregation itself). The source holds only column
   * indexes checked to be integers; everything else is passed in as values.
   */
  #compile(): () => void {
    const index = (n: number): number => {
      if (!Number.isSafeInteger(n)) throw new Error(`not a column index: ${n}`);
      return n;
    };
    const lines: string[] = ['return function add() {'];
    if (this.#where) lines.push('  if (where() !== TRUE) return;');
    lines.push('  let mask = 0;');
    this.#dims.forEach((dim, d) => {
      const c = index(dim.column);
      const w = `widths[${d}]`;
      const value =
        dim.kind === 'bucket'
          ? `key[${d}] = bucketStart(nums[${c}], ${w});`
          : dim.type === 'varchar'
            ? `key[${d}] = ids[${c}];`
            : `key[${d}] = nums[${c}];`;
      lines.push(`  if (nulls[${c}] === 1) { mask |= ${1 << d}; key[${d}] = 0; } else ${value}`);
    });
    lines.push('  const group = table.find(key, mask);', '  if (group >= room.capacity) grow(group);');
    // A comparison of a numeric column with a number (count(*) FILTER (WHERE status >= 500)) inline, in the
    // three-valued logic of compileRowPredicate; anything else through its compiled closure.
    const constants: number[] = [];
    this.#filterPlans.forEach((p, f) => {
      if (p.kind === 'compare' && p.operand.kind === 'column' && p.operand.type !== 'varchar') {
        const c = index(p.operand.column);
        const op = Object.hasOwn(JS_COMPARE, p.op) ? JS_COMPARE[p.op] : undefined;
        if (op === undefined) throw new Error(`not a comparison: ${p.op}`);
        const k = constants.push(Number(p.value)) - 1;
        lines.push(`  const f${f} = nulls[${c}] === 1 ? UNKNOWN : nums[${c}] ${op} constants[${k}] ? TRUE : FALSE;`);
      } else lines.push(`  const f${f} = filters[${f}]();`);
    });
    this.#states.forEach((state, s) => {
      const f = this.#stateFilter[s] as number;
      const c = index(state.column);
      let update = `s${s}.add(group);`;
      if (state.kind === 'count') update = `${c < 0 ? '' : `if (nulls[${c}] === 0) `}s${s}.a[group] += 1;`;
      else if (state.kind === 'sum')
        update = `if (nulls[${c}] === 0) { s${s}.a[group] += nums[${c}]; s${s}.b[group] += 1; }`;
      else if ((state.kind === 'min' || state.kind === 'max') && state.type !== 'varchar') {
        const better = state.kind === 'min' ? 'v < a[group]' : 'v > a[group]';
        update = `if (nulls[${c}] === 0) { const v = nums[${c}]; const a = s${s}.a; const b = s${s}.b; if (b[group] === 0) { a[group] = v; b[group] = 1; } else if (${better}) a[group] = v; }`;
      }
      lines.push(`  ${f < 0 ? '' : `if (f${f} === TRUE) `}${update}`);
    });
    lines.push('};');
    const stores = this.#stores.map((_, s) => `s${s}`);
    // Bucket widths as constants the function closes over (a typed array of numbers, not source text).
    const widths = Float64Array.from(this.#dims, (d) => (d.kind === 'bucket' ? d.widthMicros : 0));
    const { nums, ids, nulls } = this.#slots;
    const build = compiledFactory<() => void>(
      [
        'nums',
        'ids',
        'nulls',
        'key',
        'table',
        'room',
        'grow',
        'where',
        'filters',
        'widths',
        'TRUE',
        'FALSE',
        'UNKNOWN',
        'constants',
        'bucketStart',
        ...stores,
      ],
      lines.join('\n'),
    );
    return build(
      nums,
      ids,
      nulls,
      this.#key,
      this.#table,
      this.#room,
      (group: number) => this.#grow(group),
      this.#where,
      this.#filters,
      widths,
      TRUE,
      FALSE,
      UNKNOWN,
      constants,
      bucketStart,
      ...this.#stores,
    );
  }

  get groups(): number {
    return this.#table.size;
  }

  /**
   * The groups split into `count` shares by their key's content (see {@link shareOf}): share i of every thread
   * holds the same keys, so the shares are merged by different threads.
   */
  exportShares(count: number): PartialGroups[] {
    const size = this.#table.size;
    const width = this.#dims.length;
    const hashes = new Int32Array(width);
    const shares = new Int32Array(size);
    for (let g = 0; g < size; g++) {
      let mask = 0;
      for (let d = 0; d < width; d++) {
        if (this.#table.isNull(g, d)) {
          mask |= 1 << d;
          hashes[d] = 0;
          continue;
        }
        const value = this.#table.key(g, d);
        const interner = this.#dimInterners[d];
        hashes[d] = interner ? interner.hashOf(value) : numberHash(value);
      }
      shares[g] = shareOf(hashes, width, mask, count);
    }
    const members = shareMembers(shares, count);
    const keys = this.#exportKeys(size);
    const states = this.#stores.map((store) => {
      if (store.exportShares) return store.exportShares(size, members);
      const whole = store.export(size);
      return members.map((groups) => gatherState(whole, groups));
    });
    return members.map((groups, i) => ({
      size: groups.length,
      keys: keys.map((key) => gatherKey(key, groups)),
      states: states.map((perShare) => perShare[i] as StateColumn),
    }));
  }

  /** The groups by column, ready to be transferred to another thread. */
  export(): PartialGroups {
    const size = this.#table.size;
    return { size, keys: this.#exportKeys(size), states: this.#stores.map((store) => store.export(size)) };
  }

  #exportKeys(size: number): KeyColumn[] {
    return this.#dimInterners.map((interner, d) => {
      const column = this.#table.keyColumn(d, size);
      return interner ? { ...column, dictionary: dictionaryOf(interner) } : column;
    });
  }
}
