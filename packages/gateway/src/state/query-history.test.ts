import { describe, expect, it } from 'vitest';
import { type HistoryEntry, MemoryQueryHistory } from './query-history.js';

const entry = (tenant: string, at: number, sql: string, outcome = 'ok', code?: string): HistoryEntry => ({
  id: `${tenant}-${at}`,
  tenant,
  at,
  sql,
  protocol: 'http',
  engine: 'duckdb',
  rows: 1,
  durationMs: 5,
  outcome,
  ...(code ? { code } : {}),
});

describe('query history in memory', () => {
  it('lists a tenant’s queries newest first, bounded per tenant, and searches and filters them', async () => {
    let now = 1_000_000;
    const history = new MemoryQueryHistory({ maxPerTenant: 3, retentionMs: 60_000 }, () => now);
    for (let i = 0; i < 5; i++) history.record(entry('acme', now + i, `SELECT ${i} FROM events`));
    history.record(entry('globex', now, 'SELECT secret FROM invoices', 'error', 'UNKNOWN_TABLE'));
    const acme = await history.list({ tenant: 'acme', limit: 10 });
    expect(acme.map((e) => e.sql)).toEqual(['SELECT 4 FROM events', 'SELECT 3 FROM events', 'SELECT 2 FROM events']);
    expect(await history.list({ tenant: 'acme', search: 'secret', limit: 10 })).toEqual([]);
    expect((await history.list({ search: 'unknown_table', limit: 10 })).map((e) => e.tenant)).toEqual(['globex']);
    expect((await history.list({ outcome: 'error', limit: 10 })).map((e) => e.tenant)).toEqual(['globex']);
    expect(await history.list({ tenant: 'acme', limit: 1 })).toHaveLength(1);
    // Past twice the bound (where the oldest are dropped), still the newest three.
    for (let i = 5; i < 15; i++) history.record(entry('acme', now + i, `SELECT ${i} FROM events`));
    expect((await history.list({ tenant: 'acme', limit: 10 })).map((e) => e.sql)).toEqual([
      'SELECT 14 FROM events',
      'SELECT 13 FROM events',
      'SELECT 12 FROM events',
    ]);
    now += 61_000;
    expect(await history.list({ limit: 10 })).toEqual([]);
  });
});
