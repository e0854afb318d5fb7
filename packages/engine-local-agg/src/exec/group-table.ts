/** Entries of the recent-groups table (16 KiB). */
const RECENT = 4096;

const float = new Float64Array(1);
const words = new Int32Array(float.buffer);

function hashKey(key: Float64Array, width: number, mask: number): number {
  let hash = 0x2545f491 ^ mask;
  for (let d = 0; d < width; d++) {
    float[0] = canonical(key[d] as number);
    hash = Math.imul(hash ^ (words[0] as number), 0x9e3779b1);
    hash = Math.imul(hash ^ (words[1] as number), 0x85ebca77);
  }
  // Keys are often small integers (string ids) whose low words are zero: mix every bit into the low bits the
  // table indexes by, or the slots cluster and probes grow long.
  return mixHash(hash);
}

/**
 * A group key as it is hashed: -0 as 0 and every NaN as one, since they are one group each (as in DuckDB), and
 * equal keys must hash alike.
 */
const canonical = (value: number): number => (value === 0 ? 0 : Number.isNaN(value) ? Number.NaN : value);

/** A number's bits, hashed: the same value gives the same hash in every thread. */
export function numberHash(value: number): number {
  float[0] = canonical(value);
  return Math.imul((words[0] as number) ^ Math.imul(words[1] as number, 0x85ebca77), 0xc2b2ae35);
}

/** murmur3's finalizer: every bit of the input reaches the low bits. */
export function mixHash(hash: number): number {
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return hash ^ (hash >>> 16);
}

/**
 * Groups keyed by a tuple of numbers (string keys are interned to ids first) and a NULL mask, in an open-addressing
 * table over typed arrays: finding a row's group is a hash, a probe and a few comparisons, with no allocation.
 * Groups are numbered 0, 1, 2, ... in order of arrival.
 */
export class GroupTable {
  readonly width: number;
  #keys: Float64Array<ArrayBuffer>;
  #masks = new Int32Array(64);
  #table = new Int32Array(256);
  /** Group + 1 of the last key seen with each of RECENT hash values (0: none). */
  readonly #recent = new Int32Array(RECENT);
  #size = 0;

  constructor(width: number) {
    this.width = width;
    this.#keys = new Float64Array(64 * Math.max(1, width));
  }

  get size(): number {
    return this.#size;
  }

  /** The group of `key[0..width)` with NULLs flagged in `mask` (bit d: dimension d is NULL); added when new. */
  find(key: Float64Array, mask: number): number {
    const width = this.width;
    if (width === 0) {
      if (this.#size === 0) this.#size = 1;
      return 0;
    }
    const hash = hashKey(key, width, mask);
    // The recent groups first: a small table that stays in the nearest cache, where the big one (twice the groups)
    // does not. Rows close together mostly hit few groups (one time bucket's, in data written in time order).
    const recent = this.#recent;
    const r = (hash >>> 20) & (RECENT - 1);
    const candidate = (recent[r] as number) - 1;
    if (candidate >= 0 && this.#matches(candidate, key, mask)) return candidate;
    const table = this.#table;
    const tableMask = table.length - 1;
    for (let slot = hash & tableMask; ; slot = (slot + 1) & tableMask) {
      const entry = table[slot] as number;
      if (entry === 0) {
        const group = this.#add(key, mask, slot);
        recent[r] = group + 1;
        return group;
      }
      const group = entry - 1;
      if (this.#matches(group, key, mask)) {
        recent[r] = entry;
        return group;
      }
    }
  }

  #matches(group: number, key: Float64Array, mask: number): boolean {
    if (this.#masks[group] !== mask) return false;
    const width = this.width;
    const keys = this.#keys;
    const base = group * width;
    for (let d = 0; d < width; d++) {
      const x = keys[base + d] as number;
      const y = key[d] as number;
      // NaN equals NaN as a group key.
      if (x !== y && !(Number.isNaN(x) && Number.isNaN(y))) return false;
    }
    return true;
  }

  /** Dimension d of the first `size` groups, as a column: values, and `nulls[g] = 1` where it is NULL. */
  keyColumn(d: number, size: number): { values: Float64Array<ArrayBuffer>; nulls: Uint8Array<ArrayBuffer> } {
    const values = new Float64Array(size);
    const nulls = new Uint8Array(size);
    for (let g = 0; g < size; g++) {
      if (this.isNull(g, d)) nulls[g] = 1;
      else values[g] = this.key(g, d);
    }
    return { values, nulls };
  }

  key(group: number, d: number): number {
    return this.#keys[group * this.width + d] as number;
  }

  isNull(group: number, d: number): boolean {
    return ((this.#masks[group] as number) & (1 << d)) !== 0;
  }

  #add(key: Float64Array, mask: number, slot: number): number {
    const group = this.#size++;
    const width = this.width;
    if ((group + 1) * width > this.#keys.length) {
      const keys = new Float64Array(this.#keys.length * 2);
      keys.set(this.#keys);
      this.#keys = keys;
    }
    if (group >= this.#masks.length) {
      const masks = new Int32Array(this.#masks.length * 2);
      masks.set(this.#masks);
      this.#masks = masks;
    }
    for (let d = 0; d < width; d++) this.#keys[group * width + d] = key[d] as number;
    this.#masks[group] = mask;
    this.#table[slot] = group + 1;
    if (this.#size * 2 > this.#table.length) this.#rehash();
    return group;
  }

  #rehash(): void {
    const width = this.width;
    const table = new Int32Array(this.#table.length * 2);
    const tableMask = table.length - 1;
    const key = new Float64Array(width);
    for (let group = 0; group < this.#size; group++) {
      for (let d = 0; d < width; d++) key[d] = this.#keys[group * width + d] as number;
      let slot = hashKey(key, width, this.#masks[group] as number) & tableMask;
      while (table[slot] !== 0) slot = (slot + 1) & tableMask;
      table[slot] = group + 1;
    }
    this.#table = table;
  }
}
