import { describe, expect, it } from 'vitest';
import { seededRandom } from '../test-support.js';
import { sortRange } from './sort-range.js';

describe('sortRange', () => {
  it('sorts a range in place as the built-in sort does, NaN last, and leaves the rest alone', () => {
    const next = seededRandom(5);
    for (let round = 0; round < 300; round++) {
      const length = Math.floor(next() * 200);
      const values = Float64Array.from({ length }, () => {
        const r = next();
        if (r < 0.05) return Number.NaN;
        if (r < 0.5) return Math.floor(next() * 10); // many duplicates
        return (next() - 0.5) * 1e6;
      });
      const from = Math.floor(next() * (length + 1));
      const to = from + Math.floor(next() * (length - from + 1));
      const expected = Float64Array.from(values);
      expected.subarray(from, to).sort();
      sortRange(values, from, to);
      expect([...values], `round ${round}: [${from}, ${to})`).toEqual([...expected]);
    }
  });
});
