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

  it('counts kept encodings in its byte bound, and keeps none for an entry already gone', async () => {
    // Each result of 10 integers counts 160 bytes; the bound holds three (and no result above a quarter of it).
    const cache = new ResultCache(700, 60_000);
    await store(cache, 'a', 10);
    await store(cache, 'b', 10);
    await store(cache, 'c', 10);
    const a = cache.get('a');
    expect(a).toBeDefined();
    // 'a' is the most recently used now: its encoding of 300 bytes pushes out the oldest, 'b'.
    a?.encodings.set('json', { head: new Uint8Array(300), rowCount: 10, truncated: false });
    expect(a?.encodings.get('json')?.head.byteLength).toBe(300);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('c')).toBeDefined();

    const c = cache.get('c');
    await store(cache, 'c', 10);
    // Stored again, 'c' is another entry: an encoding of the one replaced is neither kept nor counted, so it
    // pushes nothing out.
    c?.encodings.set('json', { head: new Uint8Array(600), rowCount: 10, truncated: false });
    expect(cache.get('a')).toBeDefined();
    expect(cache.get('c')?.encodings.get('json')).toBeUndefined();
  });
});
