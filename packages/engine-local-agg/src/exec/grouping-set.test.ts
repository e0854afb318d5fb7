import { describe, expect, it } from 'vitest';
import { RowSlots } from '../table/row-decoder.js';
import { seededRandom } from '../test-support.js';
import { GroupingSetAccumulator } from './grouping-set.js';
import type { GroupingSetPlan } from './plan.js';

describe('GroupingSetAccumulator value-counts', () => {
  it('gives the same value-counts when its kept values are folded into maps as when they are not', () => {
    const plan: GroupingSetPlan = {
      dims: [{ kind: 'column', column: 0, type: 'bigint' }],
      states: [{ kind: 'values', column: 1, type: 'bigint' }],
    };
    const slots = new RowSlots(2);
    const kept = new GroupingSetAccumulator(plan, slots, []);
    const folded = new GroupingSetAccumulator(plan, slots, [], 64); // folds whenever its log fills (1024 values)
    const next = seededRandom(11);
    for (let row = 0; row < 5000; row++) {
      slots.nums[0] = Math.floor(next() * 37);
      slots.nulls[1] = next() < 0.05 ? 1 : 0;
      slots.nums[1] = Math.floor(next() * 50);
      kept.add();
      folded.add();
    }
    const a = kept.export();
    const b = folded.export();
    expect(b.size).toBe(a.size);
    expect([...(b.keys[0]?.values ?? [])]).toEqual([...(a.keys[0]?.values ?? [])]);
    const [x, y] = [a.states[0], b.states[0]];
    if (x?.kind !== 'values' || y?.kind !== 'values') throw new Error('not value-counts');
    expect([...y.offsets]).toEqual([...x.offsets]);
    expect([...y.values]).toEqual([...x.values]);
    expect([...y.counts]).toEqual([...x.counts]);
    // 5000 rows less about 5% NULLs, every one counted once.
    const total = [...x.counts].reduce((n, c) => n + c, 0);
    expect(total).toBeGreaterThan(4500);
    expect(total).toBeLessThan(5000);
  });
});
