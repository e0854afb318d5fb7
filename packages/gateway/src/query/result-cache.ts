import { type ColumnBatch, createQueryStream, type QueryStream, type Schema } from '@lakegate/engine-api';

interface Entry {
  readonly schema: Schema;
  readonly batches: readonly ColumnBatch[];
  readonly bytes: number;
  readonly expiresAt: number;
}

/** A rough size of a value in memory, for the cache's byte bound. */
function sizeOf(value: unknown): number {
  if (value === null || value === undefined) return 8;
  if (typeof value === 'string') return 16 + value.length * 2;
  if (typeof value === 'object')
    return 16 + JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? String(v) : v)).length * 2;
  return 16;
}

/**
 * One tenant's cache of query results, keyed by the query's exact fingerprint and the snapshot versions it read:
 * a refresh changes a version and so the key, which invalidates by construction. Bounded in bytes (least
 * recently used out first) and in age.
 */
export class ResultCache {
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;

  constructor(
    readonly maxBytes: number,
    readonly ttlMs: number,
    readonly clock: () => number = Date.now,
  ) {}

  static key(parts: {
    engine: string;
    fingerprint: string;
    /** The values bound to the text's parameters: one text with other values is another result. */
    parameters?: readonly unknown[] | undefined;
    maxRows: number;
    versions: Readonly<Record<string, string>>;
  }): string {
    const versions = Object.entries(parts.versions).sort(([a], [b]) => (a < b ? -1 : 1));
    // Typed, so that the number 1, the bigint 1 and the string '1' (which an engine may cast differently) differ.
    const parameters = (parts.parameters ?? []).map((v) =>
      v === null || v === undefined
        ? null
        : v instanceof Uint8Array
          ? ['bytes', Buffer.from(v).toString('base64')]
          : [typeof v, String(v)],
    );
    return JSON.stringify([parts.engine, parts.fingerprint, parameters, parts.maxRows, versions]);
  }

  /** A stream over a cached result, or undefined. */
  get(key: string): QueryStream | undefined {
    const entry = this.#entries.get(key);
    if (!entry || entry.expiresAt <= this.clock()) {
      if (entry) this.#delete(key, entry);
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    let index = 0;
    return createQueryStream(entry.schema, {
      next: async () => entry.batches[index++],
      close: () => {},
    });
  }

  /** Passes `stream` through, keeping its batches; stores them if the stream ends whole within the byte bound. */
  record(key: string, stream: QueryStream): QueryStream {
    const batches: ColumnBatch[] = [];
    let bytes = 0;
    let tooBig = false;
    const iterator = stream[Symbol.asyncIterator]();
    return createQueryStream(stream.schema, {
      next: async () => {
        const result = await iterator.next();
        if (result.done) {
          if (!tooBig)
            this.#store(key, { schema: stream.schema, batches, bytes, expiresAt: this.clock() + this.ttlMs });
          return undefined;
        }
        if (!tooBig) {
          for (const column of result.value.columns) for (const value of column) bytes += sizeOf(value);
          tooBig = bytes > this.maxBytes / 4;
          if (tooBig) batches.length = 0;
          else batches.push(result.value);
        }
        return result.value;
      },
      close: () => stream.close(),
    });
  }

  #store(key: string, entry: Entry): void {
    const previous = this.#entries.get(key);
    if (previous) this.#delete(key, previous);
    this.#entries.set(key, entry);
    this.#bytes += entry.bytes;
    for (const [oldest, old] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#delete(oldest, old);
    }
  }

  #delete(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }
}
