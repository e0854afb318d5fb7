import { describe, expect, it } from 'vitest';
import { RowSlots } from '../table/row-decoder.js';
import { seededRandom } from '../test-support.js';
import { GroupingSetAccumulator } from './grouping-set.js';
import { MergedGroups } from './merge-groups.js';
import type { GroupingSetPlan } from './plan.js';

const plan: GroupingSetPlan = {
  dims: [{ kind: 'column', column: 0, type: 'bigint' }],
  states: [{ kind: 'values', column: 1, type: 'double' }],
};

/** Each group's values as one ascending list (NaN last), expanded from its value-counts. */
function expanded(merged: MergedGroups): Map<number, number[]> {
  const { keys, states } = merged.toPlain();
  const out = new Map<number, number[]>();
  keys.forEach((key, g) => {
    const [values, counts] = (states[g] as unknown[])[0] as [number[], number[]];
    const list: number[] = [];
    values.forEach((v, i) => {
      for (let n = 0; n < (counts[i] as number); n++) list.push(v);
    });
    out.set(key[0] as number, list);
  });
  return out;
}

describe('MergedGroups value-counts', () => {
  // 5 partials are merged in pairs, 12 counted in a map.
  it.each([5, 12])('merges the sorted value-counts of %i partials into those of all their rows', (partials) => {
    const slots = new RowSlots(2);
    const whole = new GroupingSetAccumulator(plan, slots, []);
    const parts = Array.from({ length: partials }, () => new GroupingSetAccumulator(plan, slots, []));
    const next = seededRandom(7);
    for (let row = 0; row < 4000; row++) {
      slots.nums[0] = Math.floor(next() * 23);
      const r = next();
      slots.nums[1] = r < 0.03 ? Number.NaN : r < 0.06 ? -0 : Math.round(next() * 40) / 4 - 3;
      whole.add();
      // Rows go to the partials unevenly, so groups have from none to many values in each.
      (parts[Math.floor(next() * next() * parts.length)] as GroupingSetAccumulator).add();
    }
    const once = new MergedGroups(plan);
    once.add(whole.export());
    const merged = new MergedGroups(plan);
    for (const part of parts) merged.add(part.export());
    const expected = expanded(once);
    const actual = expanded(merged);
    expect(actual.size).toBe(expected.size);
    for (const [key, values] of expected) {
      // -0 and 0 are one value (as in a group key); NaNs last.
      expect(actual.get(key)?.map((v) => (Object.is(v, -0) ? 0 : v))).toEqual(
        values.map((v) => (Object.is(v, -0) ? 0 : v)),
      );
    }
    expect([...expected.values()].some((values) => values.some(Number.isNaN))).toBe(true);
  });
});
