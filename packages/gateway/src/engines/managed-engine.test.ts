import { abortError, collectRows, createReferenceEngine, type Engine, type InMemoryTable } from '@lakegate/engine-api';
import { describe, expect, it } from 'vitest';
import { type ExtensionGuard, ManagedEngine } from './managed-engine.js';

const series: InMemoryTable = {
  columns: [{ name: 'n', type: { kind: 'integer', sqlType: 'INTEGER' } }],
  rows: Array.from({ length: 100 }, (_, n) => [n]),
};
const engine = () => createReferenceEngine({ datasets: { t: { series } }, batchSize: 1 });
const request = {
  queryId: 'q',
  tenant: 't',
  sql: 'SELECT n FROM series',
  tables: [
    { name: 'series', snapshot: { tenant: 't', dataset: 'series', format: 'csv' as const, version: '1', files: [] } },
  ],
};
const signal = new AbortController().signal;

describe('managed engine', () => {
  it('queues beyond maxConcurrent and answers ENGINE_BUSY when the queue is full', async () => {
    const managed = new ManagedEngine(engine(), { maxConcurrent: 1, maxQueued: 1 });
    const first = await managed.execute(request, { signal, timeoutMs: 5000 });
    const queued = managed.execute(request, { signal, timeoutMs: 5000 });
    await expect(managed.execute(request, { signal, timeoutMs: 5000 })).rejects.toMatchObject({
      code: 'ENGINE_BUSY',
      retryAfterSeconds: 1,
    });
    expect(managed.stats()).toMatchObject({ running: 1, queued: 1 });
    await first.close();
    expect((await collectRows(await queued)).length).toBe(100);
    expect(managed.stats()).toMatchObject({ running: 0, queued: 0, activeQueries: 0 });
  });

  it('cancels a query that exceeds its time limit with QUERY_TIMEOUT', async () => {
    const managed = new ManagedEngine(engine(), { maxConcurrent: 1, maxQueued: 0 });
    const stream = await managed.execute(request, { signal, timeoutMs: 30 });
    const slowReader = (async () => {
      for await (const _ of stream) await new Promise((resolve) => setTimeout(resolve, 5));
    })();
    await expect(slowReader).rejects.toMatchObject({ code: 'QUERY_TIMEOUT' });
    expect(managed.stats().running).toBe(0);
  });

  it("applies the caller's error mapping to its own, and cleans up after freeing the slot", async () => {
    const managed = new ManagedEngine(engine(), { maxConcurrent: 1, maxQueued: 0 });
    const seen: unknown[] = [];
    let runningAtCleanup: number | undefined;
    const stream = await managed.execute(request, {
      signal,
      timeoutMs: 30,
      stream: {
        mapError: (error) => {
          seen.push(error);
          return new Error('mapped by the caller');
        },
        onClose: () => {
          runningAtCleanup = managed.stats().running;
        },
      },
    });
    const slowReader = (async () => {
      for await (const _ of stream) await new Promise((resolve) => setTimeout(resolve, 5));
    })();
    await expect(slowReader).rejects.toThrow('mapped by the caller');
    // The caller sees the engine's mapping (the timeout), not the engine's raw error.
    expect(seen).toMatchObject([{ code: 'QUERY_TIMEOUT' }]);
    expect(runningAtCleanup).toBe(0);
  });

  it('gives up a queued query whose client goes away', async () => {
    const managed = new ManagedEngine(engine(), { maxConcurrent: 1, maxQueued: 1 });
    const first = await managed.execute(request, { signal, timeoutMs: 5000 });
    const client = new AbortController();
    const queued = managed.execute(request, { signal: client.signal, timeoutMs: 5000 });
    client.abort();
    await expect(queued).rejects.toMatchObject({ code: 'QUERY_CANCELLED' });
    expect(managed.stats().queued).toBe(0);
    await first.close();
  });

  it('lets running queries finish within the grace period, then refuses new ones', async () => {
    const managed = new ManagedEngine(engine(), { maxConcurrent: 2, maxQueued: 0 });
    const running = collectRows(await managed.execute(request, { signal, timeoutMs: 5000 }));
    const closed = managed.close(2000);
    await expect(managed.execute(request, { signal, timeoutMs: 5000 })).rejects.toMatchObject({
      code: 'ENGINE_CLOSED',
    });
    expect((await running).length).toBe(100);
    await closed;
  });

  it('cancels queries still running when the grace period ends', async () => {
    const managed = new ManagedEngine(engine(), { maxConcurrent: 2, maxQueued: 0 });
    const stream = await managed.execute(request, { signal, timeoutMs: 5000 });
    const reader = (async () => {
      for await (const _ of stream) await new Promise((resolve) => setTimeout(resolve, 10));
    })();
    await managed.close(20);
    await expect(reader).rejects.toMatchObject({ code: 'QUERY_CANCELLED' });
  });

  it('goes by the configured id when one is given, so one module can serve under two names', async () => {
    expect(new ManagedEngine(engine(), { maxConcurrent: 1, maxQueued: 0 }).id).toBe('reference');
    const named = new ManagedEngine(engine(), { id: 'replica-b', maxConcurrent: 1, maxQueued: 0 });
    expect(named.id).toBe('replica-b');
    await named.close();
    await expect(named.execute(request, { signal, timeoutMs: 5000 })).rejects.toThrow(/replica-b/);
  });
});

/** An extension some engines implement beside `execute`. */
interface Echoing {
  echo(text: string, signal: AbortSignal): Promise<string>;
}
const isEchoing: ExtensionGuard<Echoing> = (e): e is Engine & Echoing =>
  typeof (e as Partial<Echoing>).echo === 'function';
/** The reference engine with `echo`, which answers after `delayMs` unless its signal aborts first. */
const echoing = (delayMs: number): Engine & Echoing =>
  Object.assign(engine(), {
    echo: (text: string, signal: AbortSignal) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => resolve(text), delayMs);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(abortError(signal));
        });
      }),
  });

describe("a managed engine's extensions", () => {
  it('runs work on an extension within the same slots as queries', async () => {
    const managed = new ManagedEngine(echoing(20), { maxConcurrent: 1, maxQueued: 1 });
    expect(managed.offers(isEchoing)).toBe(true);
    const query = await managed.execute(request, { signal, timeoutMs: 5000 });
    const queued = managed.run(isEchoing, (e, s) => e.echo('hello', s), { signal, timeoutMs: 5000 });
    expect(managed.stats()).toMatchObject({ running: 1, queued: 1 });
    await expect(managed.run(isEchoing, (e, s) => e.echo('x', s), { signal, timeoutMs: 5000 })).rejects.toMatchObject({
      code: 'ENGINE_BUSY',
    });
    await query.close();
    expect(await queued).toBe('hello');
    expect(managed.stats()).toMatchObject({ running: 0, queued: 0 });
  });

  it('cancels work past its time limit, and frees the slot of work that fails', async () => {
    const managed = new ManagedEngine(echoing(5000), { maxConcurrent: 1, maxQueued: 0 });
    await expect(managed.run(isEchoing, (e, s) => e.echo('slow', s), { signal, timeoutMs: 30 })).rejects.toMatchObject({
      code: 'QUERY_TIMEOUT',
    });
    await expect(
      managed.run(isEchoing, async () => Promise.reject(new Error('broken')), { signal, timeoutMs: 5000 }),
    ).rejects.toMatchObject({ code: 'INTERNAL' });
    expect(managed.stats().running).toBe(0);
  });

  it('refuses an extension the engine does not implement', async () => {
    const managed = new ManagedEngine(engine(), { maxConcurrent: 1, maxQueued: 0 });
    expect(managed.offers(isEchoing)).toBe(false);
    await expect(managed.run(isEchoing, (e, s) => e.echo('x', s), { signal, timeoutMs: 5000 })).rejects.toMatchObject({
      code: 'UNSUPPORTED_QUERY',
    });
  });
});
