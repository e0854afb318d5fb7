import { describe, expect, it } from 'vitest';
import { CacheTrend } from './cache-trend.js';

describe('the cache’s hit ratio over time', () => {
  it('adds what the totals grew by to each minute, and forgets minutes older than an hour', () => {
    let now = Date.UTC(2026, 0, 1, 10, 0, 10);
    const totals = { hits: 0, misses: 2 };
    const trend = new CacheTrend(
      () => totals,
      () => now,
    );
    trend.sample(['acme']);
    totals.hits = 6;
    now += 20_000;
    trend.sample(['acme']);
    now += 60_000;
    totals.hits = 7;
    totals.misses = 5;
    trend.sample(['acme']);
    expect(trend.series('acme')).toEqual([
      { minute: Date.UTC(2026, 0, 1, 10, 0), hits: 6, misses: 2, hitRatio: 0.75 },
      { minute: Date.UTC(2026, 0, 1, 10, 1), hits: 1, misses: 3, hitRatio: 0.25 },
    ]);
    expect(trend.series('globex')).toEqual([]);
    now += 3_600_000;
    expect(trend.series('acme')).toEqual([]);
  });
});
