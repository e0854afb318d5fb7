import { describe, expect, it } from 'vitest';
import type { FileLayout } from './file-layout.js';
import { splitRanges } from './line-reader.js';

const layout = (quoted: boolean) => (): FileLayout => ({
  format: 'csv',
  delimiter: 44,
  columns: [],
  unsupported: [],
  quoted,
  empty: false,
  typed: [],
});

describe('splitRanges', () => {
  it('covers every file exactly, in order, with the last ranges cut finer for the workers to end together', () => {
    const files = [
      { path: 'a.csv', size: 1000 },
      { path: 'b.csv', size: 0 },
      { path: 'c.csv', size: 2503 },
    ];
    const ranges = splitRanges(files, layout(false), 250, 2);
    for (const file of files) {
      const mine = ranges.filter((r) => r.path === file.path);
      expect(mine[0]?.start).toBe(0);
      expect(mine.at(-1)?.end).toBe(file.size);
      mine.slice(1).forEach((r, i) => {
        expect(r.start).toBe(mine[i]?.end);
      });
    }
    const sizes = ranges.map((r) => r.end - r.start);
    // Four ranges of c.csv (2 per worker) in quarters at the end, about 63 bytes each; the others about 250.
    expect(sizes.slice(-16).every((n) => n > 0 && n <= 63)).toBe(true);
    expect(sizes.slice(0, 4).every((n) => n === 250)).toBe(true);
  });

  it('never splits a file whose quoted fields may hold line breaks', () => {
    const ranges = splitRanges([{ path: 'q.csv', size: 5000 }], layout(true), 100, 4);
    expect(ranges).toEqual([{ path: 'q.csv', start: 0, end: 5000 }]);
  });
});
