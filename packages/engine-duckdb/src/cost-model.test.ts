import { describe, expect, it } from 'vitest';
import { CostModel } from './cost-model.js';

describe('CostModel', () => {
  const key = CostModel.key('acme', 'SELECT 1');

  it('knows nothing of a query it has not seen, and tells tenants apart', () => {
    const costs = new CostModel(100);
    costs.record(CostModel.key('other', 'SELECT 1'), 900);
    expect(costs.isLong(key)).toBe(false);
    expect(costs.isLong(CostModel.key('other', 'SELECT 1'))).toBe(true);
  });

  it('keeps a short query short through a run slowed by its neighbours', () => {
    const costs = new CostModel(100);
    costs.record(key, 12);
    costs.record(key, 450);
    expect(costs.isLong(key)).toBe(false);
    // Three slow runs in a row: the query has become long.
    costs.record(key, 300);
    costs.record(key, 200);
    expect(costs.isLong(key)).toBe(true);
  });

  it('keeps a long query long through a fast run, until its last three runs were fast', () => {
    const costs = new CostModel(100);
    costs.record(key, 150);
    costs.record(key, 160);
    expect(costs.isLong(key)).toBe(true);
    costs.record(key, 40);
    expect(costs.isLong(key)).toBe(false);
  });

  it('lets a provisional record be replaced by the run’s real duration', () => {
    const costs = new CostModel(100);
    costs.record(key, 100);
    expect(costs.isLong(key)).toBe(true);
    costs.record(key, 30, true);
    expect(costs.isLong(key)).toBe(false);
  });

  it('forgets the least recently run query beyond its limit', () => {
    const costs = new CostModel(100, 2);
    costs.record(CostModel.key('a', 'q'), 500);
    costs.record(CostModel.key('b', 'q'), 500);
    costs.record(CostModel.key('a', 'q'), 500);
    costs.record(CostModel.key('c', 'q'), 500);
    expect(
      [CostModel.key('a', 'q'), CostModel.key('b', 'q'), CostModel.key('c', 'q')].map((k) => costs.isLong(k)),
    ).toEqual([true, false, true]);
  });

  it('remembers the rows of the last run that ran to the end', () => {
    const costs = new CostModel(100);
    expect(costs.lastRows(key)).toBeUndefined();
    costs.record(key, 10, false, 1);
    costs.record(key, 150);
    expect(costs.lastRows(key)).toBe(1);
    costs.record(key, 10, false, 5000);
    expect(costs.lastRows(key)).toBe(5000);
  });
});
