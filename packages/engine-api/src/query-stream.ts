import type { ColumnBatch, QueryStream, Schema } from './types.js';

/** The two operations an engine implements to stream a result; see {@link createQueryStream}. */
export interface BatchSource {
  /** The next non-empty batch, or `undefined` at the end. */
  next(): Promise<ColumnBatch | undefined>;
  /** Frees the query. Called exactly once: at the end, on error, on early return, or on `close()`. */
  close(): void | Promise<void>;
}

/**
 * Wraps a {@link BatchSource} in a {@link QueryStream} that frees the query exactly once, whatever the
 * consumer does: reads to the end, fails, breaks out of `for await`, or never iterates and calls `close()`.
 */
export function createQueryStream(schema: Schema, source: BatchSource): QueryStream {
  let closed: Promise<void> | undefined;
  let iterated = false;
  const close = (): Promise<void> => {
    closed ??= Promise.resolve().then(() => source.close());
    return closed;
  };
  const done = (): IteratorReturnResult<undefined> => ({ done: true, value: undefined });

  const iterator: AsyncIterableIterator<ColumnBatch> = {
    async next(): Promise<IteratorResult<ColumnBatch, undefined>> {
      if (closed) return done();
      let batch: ColumnBatch | undefined;
      try {
        batch = await source.next();
      } catch (error) {
        await close();
        throw error;
      }
      if (batch === undefined) {
        await close();
        return done();
      }
      return { done: false, value: batch };
    },
    async return(): Promise<IteratorReturnResult<undefined>> {
      await close();
      return done();
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };

  return Object.freeze({
    schema,
    close,
    [Symbol.asyncDispose]: close,
    [Symbol.asyncIterator](): AsyncIterator<ColumnBatch> {
      if (iterated) throw new TypeError('A query stream can be iterated only once.');
      iterated = true;
      return iterator;
    },
  });
}

export interface WrapOptions {
  /** Turns what the inner stream throws into the error the consumer sees. */
  readonly mapError?: (error: unknown) => unknown;
  /** Runs once after the inner stream is closed, whatever happened (frees what the wrapper holds). */
  readonly onClose?: () => void | Promise<void>;
}

/**
 * A stream over `inner` with the same schema and batches, mapping its errors and running `onClose` after it is
 * freed: how layers (the managed engine, the query service) add their own cleanup to an engine's stream.
 */
export function wrapQueryStream(inner: QueryStream, options: WrapOptions): QueryStream {
  const iterator = inner[Symbol.asyncIterator]();
  const mapError = options.mapError ?? ((error: unknown) => error);
  return createQueryStream(inner.schema, {
    async next(): Promise<ColumnBatch | undefined> {
      try {
        const result = await iterator.next();
        return result.done ? undefined : result.value;
      } catch (error) {
        throw mapError(error);
      }
    },
    async close(): Promise<void> {
      try {
        await inner.close();
      } finally {
        await options.onClose?.();
      }
    },
  });
}

/**
 * A result already computed as columns, streamed in batches of `batchRows` rows: for engines and layers that compute
 * a whole result (an aggregation's groups, a cached answer) before handing it out.
 */
export function columnsStream(
  schema: Schema,
  result: { readonly columns: readonly (readonly unknown[])[]; readonly rowCount: number },
  batchRows = 2048,
): QueryStream {
  let offset = 0;
  return createQueryStream(schema, {
    async next(): Promise<ColumnBatch | undefined> {
      if (offset >= result.rowCount) return undefined;
      const end = Math.min(result.rowCount, offset + batchRows);
      const batch = { rowCount: end - offset, columns: result.columns.map((c) => c.slice(offset, end)) };
      offset = end;
      return batch;
    },
    close() {},
  });
}

/** Reads a whole stream into rows (for tests and small results; the gateway streams instead). */
export async function collectRows(stream: QueryStream): Promise<unknown[][]> {
  const rows: unknown[][] = [];
  for await (const batch of stream) {
    for (let r = 0; r < batch.rowCount; r++) rows.push(batch.columns.map((column) => column[r]));
  }
  return rows;
}
