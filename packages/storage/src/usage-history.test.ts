import { describe, expect, it } from 'vitest';
import { planWarming, UsageHistory } from './usage-history.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('usage history and warming', () => {
  it('learns the hours a dataset is used and predicts them', () => {
    const history = new UsageHistory();
    for (let day = 0; day < 14; day++) {
      for (const minute of [0, 10, 20]) history.record('acme', 'events', day * DAY + 9 * HOUR + minute * 60_000);
    }
    const day15 = 14 * DAY;
    expect(history.likelihood('acme', 'events', day15 + 9 * HOUR, day15 + 10 * HOUR)).toBeCloseTo(1, 1);
    expect(history.likelihood('acme', 'events', day15 + 15 * HOUR, day15 + 16 * HOUR)).toBe(0);
    expect(history.likelihood('acme', 'other', day15, day15 + HOUR)).toBe(0);
  });

  it('survives a round trip through JSON', () => {
    const history = new UsageHistory();
    history.record('acme', 'events', 5 * HOUR);
    const copy = UsageHistory.fromJSON(JSON.parse(JSON.stringify(history)));
    expect(copy.likelihood('acme', 'events', 5 * HOUR, 6 * HOUR)).toBe(1);
    expect(UsageHistory.fromJSON({ version: 9 }).lastSeen('acme', 'events')).toBeUndefined();
  });

  it('warms the likeliest datasets that fit and lets idle unlikely ones go', () => {
    const history = new UsageHistory();
    for (let day = 0; day < 7; day++) {
      history.record('a', 'morning', day * DAY + 8 * HOUR);
      history.record('b', 'morning', day * DAY + 8 * HOUR);
      if (day % 2 === 0) history.record('c', 'sometimes', day * DAY + 8 * HOUR);
      history.record('d', 'evening', day * DAY + 20 * HOUR);
    }
    const now = 7 * DAY + 8 * HOUR;
    const candidates = [
      { tenant: 'a', dataset: 'morning', bytes: 60 },
      { tenant: 'b', dataset: 'morning', bytes: 60 },
      { tenant: 'c', dataset: 'sometimes', bytes: 30 },
      { tenant: 'd', dataset: 'evening', bytes: 50 },
    ];
    const plan = planWarming(history, candidates, now, 100);
    expect(plan.warm.map((c) => c.tenant)).toEqual(['a', 'c']);
    expect(plan.letGo.map((c) => c.tenant)).toEqual(['d']);
  });
});
