import { describe, expect, it } from 'vitest';
import { eachAtOnce } from './each-at-once.js';

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

describe('eachAtOnce', () => {
  it('runs every item in order, at most the limit at once', async () => {
    const started: number[] = [];
    let running = 0;
    let most = 0;
    await eachAtOnce([0, 1, 2, 3, 4, 5, 6], 3, async (item) => {
      started.push(item);
      running++;
      most = Math.max(most, running);
      await tick();
      running--;
    });
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(most).toBe(3);
  });

  it('starts nothing after a failure, and rejects with it once the started items settle', async () => {
    const started: number[] = [];
    const settled: number[] = [];
    const run = eachAtOnce([0, 1, 2, 3, 4, 5, 6, 7], 3, async (item) => {
      started.push(item);
      if (item === 1) throw new Error('item 1 failed');
      if (item === 2) throw new Error('item 2 failed too');
      await tick();
      settled.push(item);
    });
    await expect(run).rejects.toThrow('item 1 failed');
    // Items 0 and 2 had started with item 1; nothing after them did, and item 0 finished before the rejection.
    expect(started).toEqual([0, 1, 2]);
    expect(settled).toEqual([0]);
  });
});
