import { mixHash } from './group-table.js';
import type { KeyColumn, StateColumn } from './plan.js';

/**
 * Which of `count` shares a group belongs to, from hashes of its key's content (for strings, the interner's hash
 * of their bytes; for numbers {@link numberHash}) and its NULL mask: every thread puts the same key in the same
 * share, so the shares of several threads can be merged apart from one another.
 */
export function shareOf(hashes: ArrayLike<number>, width: number, mask: number, count: number): number {
  let hash = 0x2545f491;
  for (let d = 0; d < width; d++) hash = Math.imul(hash ^ (hashes[d] as number), 0x9e3779b1);
  return (mixHash(hash ^ mask) >>> 0) % count;
}

function gather<T extends Float64Array<ArrayBuffer> | Uint8Array<ArrayBuffer>>(source: T, groups: Int32Array): T {
  const out = new (source.constructor as new (n: number) => T)(groups.length);
  for (let i = 0; i < groups.length; i++) out[i] = source[groups[i] as number] as number;
  return out;
}

/** A state column's values for `groups`, in that order. */
export function gatherState(state: StateColumn, groups: Int32Array): StateColumn {
  switch (state.kind) {
    case 'count':
      return { kind: 'count', counts: gather(state.counts, groups) };
    case 'sum':
      return { kind: 'sum', sums: gather(state.sums, groups), counts: gather(state.counts, groups) };
    case 'min':
    case 'max':
      return {
        kind: state.kind,
        values: gather(state.values, groups),
        seen: gather(state.seen, groups),
        ...(state.dictionary ? { dictionary: state.dictionary } : {}),
      };
    case 'distinct':
      return { kind: 'distinct', sets: Array.from(groups, (g) => state.sets[g] ?? []) };
    case 'digest':
      return { kind: 'digest', digests: Array.from(groups, (g) => state.digests[g] ?? null) };
    case 'values': {
      const offsets = new Int32Array(groups.length + 1);
      let total = 0;
      for (let i = 0; i < groups.length; i++) {
        const g = groups[i] as number;
        offsets[i] = total;
        total += (state.offsets[g + 1] as number) - (state.offsets[g] as number);
      }
      offsets[groups.length] = total;
      const values = new Float64Array(total);
      const counts = new Float64Array(total);
      for (let i = 0; i < groups.length; i++) {
        const g = groups[i] as number;
        const from = state.offsets[g] as number;
        const to = state.offsets[g + 1] as number;
        values.set(state.values.subarray(from, to), offsets[i]);
        counts.set(state.counts.subarray(from, to), offsets[i]);
      }
      return { kind: 'values', offsets, values, counts };
    }
  }
}

/** The groups of each share, in order: `shares[g]` is group g's share (see {@link shareOf}). */
export function shareMembers(shares: Int32Array, count: number): Int32Array[] {
  const sizes = new Int32Array(count);
  for (let g = 0; g < shares.length; g++) sizes[shares[g] as number] = (sizes[shares[g] as number] as number) + 1;
  const members = Array.from(sizes, (n) => new Int32Array(n));
  const filled = new Int32Array(count);
  for (let g = 0; g < shares.length; g++) {
    const share = shares[g] as number;
    (members[share] as Int32Array)[filled[share] as number] = g;
    filled[share] = (filled[share] as number) + 1;
  }
  return members;
}

/**
 * A key column's values for `groups`, in that order. A string column keeps only the strings these groups use (its
 * values re-indexed), so each share carries its own part of the thread's dictionary, not all of it.
 */
export function gatherKey(key: KeyColumn, groups: Int32Array): KeyColumn {
  const values = gather(key.values, groups);
  const nulls = gather(key.nulls, groups);
  if (!key.dictionary) return { values, nulls };
  const dictionary: string[] = [];
  const index = new Int32Array(key.dictionary.length).fill(-1);
  for (let i = 0; i < values.length; i++) {
    if (nulls[i] === 1) continue;
    const id = values[i] as number;
    let mapped = index[id] as number;
    if (mapped < 0) {
      mapped = dictionary.push(key.dictionary[id] as string) - 1;
      index[id] = mapped;
    }
    values[i] = mapped;
  }
  return { values, nulls, dictionary };
}
