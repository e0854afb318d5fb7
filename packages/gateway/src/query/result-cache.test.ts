import { collectRows, columnsStream } from '@lakegate/engine-api';
import { describe, expect, it } from 'vitest';
import { ResultCache } from './result-cache.js';

const schema = [{ name: 'n', type: { kind: 'integer' as const, sqlType: 'INTEGER' } }];
const origin = { engine: 'duckdb', route: 'tenant default' };

/** Stores a result of `rows` integers under `key` by reading it through the cache. */
async function store(cache: ResultCache, key: string, rows: number): Promise<void> {
  const values = Array.from({ length: rows }, (_, i) => i);
  await collectRows(cache.record(key, columnsStream(schema, { columns: [values], rowCount: rows }), origin));
}

describe('ResultCache', () => {
  it('answers with the rows, the engine that computed them and its route', async () => {
    const cache = new ResultCache(1 << 20, 60_000);
    await store(cache, 'a', 3);
    const hit = cache.get('a');
    expect(hit && { engine: hit.engine, route: hit.route }).toEqual(origin);
    expect(hit && (await collectRows(hit.stream))).toEqual([[0], [1], [2]]);
    expect(cache.get('b')).toBeUndefined();
  });

  it('counts kept encodings in its byte bound, and keeps none too large or for an entry already gone', async () => {
    // Each result of 10 integers counts its entry and 160 bytes of values; the bound holds six and a little.
    const each = ResultCache.entryBytes('a', schema) + 160;
    const cache = new ResultCache(6 * each + 20, 60_000);
    for (const key of ['a', 'b', 'c', 'd', 'e', 'f']) await store(cache, key, 10);
    const a = cache.get('a');
    // 'a' is the most recently used now: its encoding of 40 bytes pushes out the oldest, 'b'.
    a?.encodings.set('json', { head: new Uint8Array(40), rowCount: 10, truncated: false });
    expect(a?.encodings.get('json')?.head.byteLength).toBe(40);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('c')).toBeDefined();
    // A second encoding would take 'a' past a quarter of the bound.
    a?.encodings.set('csv', { head: new Uint8Array(each), rowCount: 10, truncated: false });
    expect(a?.encodings.get('csv')).toBeUndefined();

    // Stored again, 'd' is another entry: an encoding of the one it replaced is not kept.
    const d = cache.get('d');
    await store(cache, 'd', 10);
    d?.encodings.set('json', { head: new Uint8Array(40), rowCount: 10, truncated: false });
    expect(d?.encodings.get('json')).toBeUndefined();
    expect(cache.get('d')?.encodings.get('json')).toBeUndefined();
  });

  it('counts every entry in its bound, results without rows too', async () => {
    const cache = new ResultCache(10 * ResultCache.entryBytes('key 0000', schema), 60_000);
    const keys = Array.from({ length: 1000 }, (_, i) => `key ${String(i).padStart(4, '0')}`);
    for (const key of keys) await store(cache, key, 0);
    const kept = keys.filter((key) => cache.get(key) !== undefined);
    expect(kept).toEqual(keys.slice(-10));
  });

  it('keys a parameter of -0 apart from one of 0', () => {
    const key = (value: number) =>
      ResultCache.key({ engine: 'e', fingerprint: 'f', parameters: [value], maxRows: 1, versions: {} });
    expect(key(-0)).not.toBe(key(0));
    expect(key(0)).toBe(key(0));
  });
});
