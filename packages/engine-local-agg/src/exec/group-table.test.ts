import { describe, expect, it } from 'vitest';
import { seededRandom } from '../test-support.js';
import { GroupTable } from './group-table.js';

describe('GroupTable', () => {
  it('gives every distinct key (NULL mask included) one group, numbered in order of arrival, however keys recur', () => {
    const table = new GroupTable(3);
    const key = new Float64Array(3);
    const expected = new Map<string, number>();
    const next = seededRandom(5);
    for (let row = 0; row < 60_000; row++) {
      // Runs of nearby keys (as rows in time order) and jumps back to old ones, so that the recent-groups table
      // both hits and holds keys other than the one asked for.
      const era = row < 30_000 ? Math.floor(row / 500) : Math.floor(next() * 60);
      key[0] = Math.floor(next() * 40);
      key[1] = next() < 0.02 ? Number.NaN : Math.floor(next() * 7);
      key[2] = era * 300_000_000;
      const mask = next() < 0.01 ? 0b100 : 0;
      if (mask) key[2] = 0;
      const name = `${key[0]}/${key[1]}/${key[2]}/${mask}`;
      const group = table.find(key, mask);
      const known = expected.get(name);
      if (known === undefined) {
        expect(group).toBe(expected.size);
        expected.set(name, group);
      } else expect(group).toBe(known);
    }
    expect(table.size).toBe(expected.size);
    expect(expected.size).toBeGreaterThan(10_000);
  });
});
