import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskCache, entryId, extensionOf, writeStream } from './disk-cache.js';

describe('disk cache', () => {
  let dir: string;
  let now: number;
  const open = (options: { maxBytes?: number; quotas?: Record<string, number> } = {}) =>
    DiskCache.open({
      dir,
      maxBytes: options.maxBytes ?? 1000,
      quotaFor: (tenant) => options.quotas?.[tenant],
      clock: () => now,
    });
  const writer = (content: string) => async (path: string) => writeFile(path, content);
  const id = (name: string) => entryId('acme', 'origin', name, 'etag', 0);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lakegate-cache-'));
    now = 1000;
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('writes a stream of small and large chunks to a file, byte for byte', async () => {
    const chunks = [1, 70_000, 3, 2_000_000, 65_536, 900_000, 17].map((size, n) =>
      Uint8Array.from({ length: size }, (_, i) => (i * 31 + n) % 251),
    );
    async function* source() {
      yield* chunks;
    }
    const path = join(dir, 'stream.bin');
    expect(await writeStream(source(), path)).toBe(chunks.reduce((sum, c) => sum + c.byteLength, 0));
    expect(Buffer.compare(await readFile(path), Buffer.concat(chunks))).toBe(0);
  });

  it('keeps file extensions so engines can sniff them', () => {
    expect([extensionOf('a/b/part-0.parquet'), extensionOf('x.csv.gz'), extensionOf('noext')]).toEqual([
      '.parquet',
      '.csv.gz',
      '',
    ]);
  });

  it('coalesces concurrent fills of one object into one write', async () => {
    const cache = await open();
    let writes = 0;
    const write = async (path: string) => {
      writes++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      await writeFile(path, 'abcd');
    };
    const entries = await Promise.all(Array.from({ length: 10 }, () => cache.fill('t', id('a'), '.bin', 4, write)));
    expect(writes).toBe(1);
    expect(new Set(entries).size).toBe(1);
    expect(entries[0]?.refs).toBe(10);
  });

  it('discards a file of the wrong size and leaves nothing behind', async () => {
    const cache = await open();
    await expect(cache.fill('t', id('a'), '.bin', 10, writer('short'))).rejects.toMatchObject({ reason: 'truncated' });
    expect(cache.lookup(id('a'))).toBeUndefined();
    expect(await readdir(join(dir, 't', 'objects', id('a').slice(0, 2)))).toEqual([]);
  });

  it('rebuilds its index from disk and removes the leftovers of interrupted writes', async () => {
    const first = await open();
    const entry = await first.fill('t', id('a'), '.parquet', 5, writer('hello'));
    const shard = dirname(entry.path);
    await writeFile(join(shard, `${id('b')}.parquet.tmp-123-abcd`), 'partial');
    await mkdir(join(dir, 'u', 'objects', 'zz'), { recursive: true });
    const reopened = await open();
    expect(reopened.lookup(id('a'))).toMatchObject({ tenant: 't', size: 5, path: entry.path });
    expect(reopened.usage('t')).toBe(5);
    expect(reopened.lookup(id('b'))).toBeUndefined();
    expect((await readdir(shard)).some((name) => name.includes('.tmp-'))).toBe(false);
    expect(await readFile(entry.path, 'utf8')).toBe('hello');
  });

  it('evicts the least recently used unused file when full', async () => {
    const cache = await open({ maxBytes: 30 });
    const a = await cache.fill('t', id('a'), '', 10, writer('a'.repeat(10)));
    now++;
    const b = await cache.fill('t', id('b'), '', 10, writer('b'.repeat(10)));
    now++;
    const c = await cache.fill('t', id('c'), '', 10, writer('c'.repeat(10)));
    for (const e of [a, b, c]) cache.release(e);
    now++;
    cache.touch(a);
    await cache.fill('t', id('d'), '', 10, writer('d'.repeat(10)));
    expect(cache.lookup(id('b'))).toBeUndefined();
    expect(cache.lookup(id('a'))).toBeDefined();
    expect(cache.usage()).toBe(30);
  });

  it('never evicts files in use or pinned, and refuses when nothing else can go', async () => {
    const cache = await open({ maxBytes: 20 });
    const held = await cache.fill('t', id('a'), '', 10, writer('a'.repeat(10)));
    const pinned = await cache.fill('t', id('b'), '', 10, writer('b'.repeat(10)));
    cache.pin(pinned);
    cache.release(pinned);
    await expect(cache.fill('t', id('c'), '', 10, writer('c'.repeat(10)))).rejects.toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
    });
    expect(cache.lookup(held.id)).toBeDefined();
    expect(cache.lookup(pinned.id)).toBeDefined();
  });

  it('keeps a tenant within its quota by evicting only its own files', async () => {
    const cache = await open({ maxBytes: 100, quotas: { greedy: 20 } });
    const polite = await cache.fill('polite', id('p'), '', 10, writer('p'.repeat(10)));
    cache.release(polite);
    for (const name of ['g1', 'g2', 'g3', 'g4']) {
      now++;
      cache.release(await cache.fill('greedy', id(name), '', 10, writer('g'.repeat(10))));
    }
    expect(cache.usage('greedy')).toBe(20);
    expect(cache.lookup(id('p'))).toBeDefined();
    expect(cache.lookup(id('g4'))).toBeDefined();
    expect(cache.lookup(id('g1'))).toBeUndefined();
    await expect(cache.fill('greedy', id('big'), '', 21, writer('x'.repeat(21)))).rejects.toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
    });
  });

  it('frees a discarded file once its last user releases it', async () => {
    const cache = await open();
    const entry = await cache.fill('t', id('a'), '', 3, writer('abc'));
    cache.discard(entry.id);
    expect(cache.lookup(entry.id)).toBeDefined();
    cache.release(entry);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(cache.lookup(entry.id)).toBeUndefined();
    await expect(readFile(entry.path)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
