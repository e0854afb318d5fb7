import { type ColumnBatch, createQueryStream, type QueryStream } from '@lakegate/engine-api';
import { describe, expect, it } from 'vitest';
import type { EncodedResult } from './result-cache.js';
import { writeResult } from './result-writer.js';

/** A query of `batches` batches of 100 rows (an id and a 40-character string); counts its closes. */
function rows(batches: number): { stream: QueryStream; closes: () => number; served: () => number } {
  let served = 0;
  let closes = 0;
  const stream = createQueryStream(
    [
      { name: 'id', type: { kind: 'integer', sqlType: 'INTEGER' } },
      { name: 's', type: { kind: 'string', sqlType: 'VARCHAR' } },
    ],
    {
      async next(): Promise<ColumnBatch | undefined> {
        if (served === batches) return undefined;
        const ids = Array.from({ length: 100 }, (_, i) => served * 100 + i);
        served++;
        return { rowCount: 100, columns: [ids, ids.map((i) => `row ${i}`.padEnd(40, '.'))] };
      },
      async close() {
        closes++;
      },
    },
  );
  return { stream, closes: () => closes, served: () => served };
}

const options = {
  format: 'json' as const,
  maxRows: 1e9,
  requestId: 'r1',
  stats: () => ({ elapsedMs: 1, engine: 'test' }),
};

async function text(body: ReadableStream<Uint8Array> | Uint8Array): Promise<string> {
  return body instanceof Uint8Array ? new TextDecoder().decode(body) : new Response(body).text();
}

describe('writeResult', () => {
  it('ends a query whose first batch fails, once, with its error, before the caller reports it', async () => {
    const failure = new Error('the first batch failed');
    let closes = 0;
    const stream = createQueryStream([{ name: 'id', type: { kind: 'integer', sqlType: 'INTEGER' } }], {
      next: () => Promise.reject(failure),
      close: () => {
        closes++;
      },
    });
    const ends: unknown[] = [];
    await expect(writeResult(stream, { ...options, onDone: (summary) => ends.push(summary) })).rejects.toBe(failure);
    expect(ends).toEqual([{ rowCount: 0, bytes: 0, truncated: false, outcome: 'error', error: failure }]);
    expect(closes).toBe(1);
  });

  it('writes a small result whole, and a large one as a stream, with the same bytes either way', async () => {
    const small = await writeResult(rows(3).stream, options);
    expect(small.body).toBeInstanceOf(Uint8Array);
    const smallJson = JSON.parse(await text(small.body));
    expect(smallJson).toMatchObject({ rowCount: 300, truncated: false, stats: { elapsedMs: 1 } });
    expect(smallJson.rows[299]).toEqual([299, 'row 299'.padEnd(40, '.')]);

    // About 5 MB: past the bytes written ahead, so it streams.
    const large = await writeResult(rows(1000).stream, options);
    expect(large.body).toBeInstanceOf(ReadableStream);
    const largeJson = JSON.parse(await text(large.body));
    expect(largeJson.rowCount).toBe(100_000);
    expect(largeJson.rows.map((r: unknown[]) => r[0])).toEqual(Array.from({ length: 100_000 }, (_, i) => i));
  });

  it('keeps a small result written whole in its encodings, and writes the next hit from them with its own trailer', async () => {
    const kept = new Map<string, EncodedResult>();
    const encodings = { get: (v: string) => kept.get(v), set: (v: string, e: EncodedResult) => kept.set(v, e) };
    const first = await writeResult(rows(3).stream, { ...options, maxRows: 250, encodings });
    expect(kept.size).toBe(1);
    const firstJson = JSON.parse(await text(first.body));
    expect(firstJson).toMatchObject({ rowCount: 250, truncated: true });

    // The next hit reads nothing: its stream would fail if it did.
    const unread = rows(0);
    const failing = createQueryStream(unread.stream.schema, {
      next: () => Promise.reject(new Error('read')),
      close: () => unread.stream.close(),
    });
    const summaries: unknown[] = [];
    const again = await writeResult(failing, {
      ...options,
      maxRows: 250,
      encodings,
      stats: ({ bytes }) => ({ elapsedMs: 2, engine: 'test', bytes }),
      onDone: (summary) => summaries.push(summary),
    });
    const againText = await text(again.body);
    const againJson = JSON.parse(againText);
    expect(againJson.rows).toEqual(firstJson.rows);
    expect(againJson).toMatchObject({ rowCount: 250, truncated: true, stats: { elapsedMs: 2 } });
    expect(againJson.stats.bytes).toBe(againText.indexOf('],"rowCount"'));
    expect(summaries).toEqual([{ rowCount: 250, truncated: true, outcome: 'ok', bytes: Buffer.byteLength(againText) }]);
    expect(unread.closes()).toBe(1);

    // Another format, or other caps, is another encoding.
    const csv = await writeResult(rows(3).stream, { ...options, format: 'csv', maxRows: 250, encodings });
    expect((await text(csv.body)).split('\n')).toHaveLength(252);
    expect(kept.size).toBe(2);
    // A result too large to write whole is not kept.
    await text((await writeResult(rows(1000).stream, { ...options, encodings })).body);
    expect(kept.size).toBe(2);
  });

  it('reads no more than it writes ahead before the client reads, and frees the query when the client goes', async () => {
    const query = rows(1000);
    const outcomes: string[] = [];
    const result = await writeResult(query.stream, { ...options, onDone: (s) => outcomes.push(s.outcome) });
    // 64 KiB of about 60-byte rows: some ten batches of the thousand.
    expect(query.served()).toBeLessThan(20);
    await (result.body as ReadableStream<Uint8Array>).cancel();
    expect(query.closes()).toBe(1);
    expect(outcomes).toEqual(['client_closed']);
  });
});

describe('writeResult with a row too large to encode', () => {
  /** One string column; the first batch holds `first`, the second (if any) `second`. */
  const strings = (first: string[], second?: string[]) => {
    let served = 0;
    let closes = 0;
    const stream = createQueryStream([{ name: 's', type: { kind: 'string', sqlType: 'VARCHAR' } }], {
      async next(): Promise<ColumnBatch | undefined> {
        const batch = [first, second][served++];
        return batch ? { rowCount: batch.length, columns: [batch] } : undefined;
      },
      async close() {
        closes++;
      },
    });
    return { stream, closes: () => closes };
  };
  const huge = 'x'.repeat(65 * 1024 * 1024);

  it('refuses it with RESULT_TOO_LARGE before the response starts, and frees the query', async () => {
    const query = strings([huge]);
    await expect(writeResult(query.stream, options)).rejects.toMatchObject({ code: 'RESULT_TOO_LARGE' });
    expect(query.closes()).toBe(1);
  });

  it('ends a result already streaming with a RESULT_TOO_LARGE error record', async () => {
    const query = strings([Array.from({ length: 2000 }, () => 'y'.repeat(100))].flat(), [huge]);
    const result = await writeResult(query.stream, options);
    const body = await text(result.body);
    expect(body.endsWith('}')).toBe(true);
    expect(body).toContain('"code":"RESULT_TOO_LARGE"');
    expect(query.closes()).toBe(1);
  });
});
