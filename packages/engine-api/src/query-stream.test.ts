import { describe, expect, it } from 'vitest';
import { createQueryStream } from './query-stream.js';
import type { ColumnBatch, Schema } from './types.js';

const schema: Schema = [{ name: 'n', type: { kind: 'bigint', sqlType: 'BIGINT' } }];
const batch = (n: number): ColumnBatch => ({ rowCount: 1, columns: [[BigInt(n)]] });

/** A source of `count` batches that counts its frees, and fails at batch `failAt` when given. */
function source(count: number, failAt?: number) {
  let next = 0;
  const freed: number[] = [];
  return {
    freed,
    source: {
      async next(): Promise<ColumnBatch | undefined> {
        if (next === failAt) throw new Error('the engine failed');
        return next < count ? batch(next++) : undefined;
      },
      close() {
        freed.push(next);
      },
    },
  };
}

describe('createQueryStream', () => {
  it('frees the query once when it is read to its end, and then ends', async () => {
    const { source: s, freed } = source(3);
    const stream = createQueryStream(schema, s);
    const read: bigint[] = [];
    for await (const b of stream) read.push(b.columns[0]?.[0] as bigint);
    expect(read).toEqual([0n, 1n, 2n]);
    await stream.close();
    expect(freed).toEqual([3]);
    expect(stream.schema).toBe(schema);
  });

  it('frees it once when the reader breaks out, fails, or never iterates', async () => {
    const broken = source(3);
    const stream = createQueryStream(schema, broken.source);
    for await (const _ of stream) break;
    expect(broken.freed).toEqual([1]);

    const failing = source(3, 1);
    const failed = createQueryStream(schema, failing.source);
    await expect(async () => {
      for await (const _ of failed) {
      }
    }).rejects.toThrow('the engine failed');
    await failed.close();
    expect(failing.freed).toEqual([1]);

    const unread = source(3);
    const idle = createQueryStream(schema, unread.source);
    await Promise.all([idle.close(), idle.close(), idle[Symbol.asyncDispose]()]);
    expect(unread.freed).toEqual([0]);
  });

  it('ends an iteration once closed, and is iterated once only', async () => {
    const { source: s, freed } = source(3);
    const stream = createQueryStream(schema, s);
    const iterator = stream[Symbol.asyncIterator]();
    expect((await iterator.next()).done).toBe(false);
    await stream.close();
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    expect(freed).toEqual([1]);
    expect(() => stream[Symbol.asyncIterator]()).toThrow('only once');
  });
});
