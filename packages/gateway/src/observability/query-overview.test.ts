import { describe, expect, it } from 'vitest';
import { QueryOverview } from './query-overview.js';

describe('the console’s overview', () => {
  it('counts queries, latency percentiles, errors and refusals per tenant and minute, over the last hour', () => {
    let now = Date.UTC(2026, 0, 1, 10, 0, 30);
    const overview = new QueryOverview(() => now);
    for (let i = 1; i <= 100; i++) overview.record('acme', i, undefined);
    overview.record('acme', 5, 'RATE_LIMITED');
    overview.record('acme', 5, 'INVALID_SQL');
    now += 60_000;
    overview.record('acme', 7, undefined);
    overview.record('globex', 1, undefined);
    const minutes = overview.minutes('acme', () => 2);
    expect(Object.keys(minutes)).toEqual(['acme']);
    const [first, second] = minutes.acme ?? [];
    expect(first).toMatchObject({
      queries: 102,
      refused: 1,
      errors: { RATE_LIMITED: 1, INVALID_SQL: 1 },
      p50Ms: 50,
      p99Ms: 99,
      queued: 2,
    });
    expect(second).toMatchObject({ queries: 1, p50Ms: 7 });
    expect(Object.keys(overview.minutes(undefined, () => 0)).sort()).toEqual(['acme', 'globex']);
    now += 3_600_000;
    expect(overview.minutes('acme', () => 0)).toEqual({ acme: [] });
  });
});
