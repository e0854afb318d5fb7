import { type ColumnBatch, createQueryStream, type QueryStream, type Schema } from '@lakegate/engine-api';

/**
 * A cached result as one response format wrote it, up to its trailer: a hit in the same format is written from
 * these bytes, with a trailer of its own, instead of being encoded again.
 */
export interface EncodedResult {
  readonly head: Uint8Array;
  readonly rowCount: number;
  readonly truncated: boolean;
}

/** A cached result's encodings by variant (format and caps), filled by the first hit of each. */
export interface Encodings {
  get(variant: string): EncodedResult | undefined;
  set(variant: string, encoded: EncodedResult): void;
}

/** Who computed a cached result, and why that engine: what a hit reports. */
export interface CachedOrigin {
  readonly engine: string;
  readonly route: string;
}

/** A cached result: its rows, where they came from and their encodings. */
export interface CacheHit extends CachedOrigin {
  readonly stream: QueryStream;
  readonly encodings: Encodings;
}

interface Entry extends CachedOrigin {
  readonly schema: Schema;
  readonly batches: readonly ColumnBatch[];
  bytes: number;
  readonly expiresAt: number;
  readonly encoded: Map<string, EncodedResult>;
}

/**
 * Encodings of a result kept per entry at most: one per format, as the row cap is part of the key and the byte cap
 * comes from the configuration (a reload empties the cache).
 */
const ENCODINGS_PER_ENTRY = 3;

/**
 * What an entry costs besides its values: the object, its map slot and its origin. With its key and its schema it
 * is counted in the byte bound, so that results without rows (or with huge keys) cannot pile up uncounted.
 */
const ENTRY_BYTES = 256;

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

  /**
   * `engine` names the engine the query was sent to and whether the client asked for it, not the engine routing
   * picked: a hit is found before routing.
   */
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
          : [typeof v, Object.is(v, -0) ? '-0' : String(v)],
    );
    return JSON.stringify([parts.engine, parts.fingerprint, parameters, parts.maxRows, versions]);
  }

  /** What an entry of `key` and `schema` counts in the byte bound before its values. */
  static entryBytes(key: string, schema: Schema): number {
    return ENTRY_BYTES + sizeOf(key) + sizeOf(schema);
  }

  /** A cached result, or undefined. */
  get(key: string): CacheHit | undefined {
    const entry = this.#entries.get(key);
    if (!entry || entry.expiresAt <= this.clock()) {
      if (entry) this.#delete(key, entry);
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    let index = 0;
    return {
      engine: entry.engine,
      route: entry.route,
      stream: createQueryStream(entry.schema, {
        next: async () => entry.batches[index++],
        close: () => {},
      }),
      encodings: {
        get: (variant) => entry.encoded.get(variant),
        set: (variant, encoded) => this.#encode(key, entry, variant, encoded),
      },
    };
  }

  /**
   * Passes `stream` through, keeping its batches; stores them, with their origin, if the stream ends whole within
   * the byte bound.
   */
  record(key: string, stream: QueryStream, origin: CachedOrigin): QueryStream {
    const batches: ColumnBatch[] = [];
    let bytes = ResultCache.entryBytes(key, stream.schema);
    let tooBig = bytes > this.maxBytes / 4;
    const iterator = stream[Symbol.asyncIterator]();
    return createQueryStream(stream.schema, {
      next: async () => {
        const result = await iterator.next();
        if (result.done) {
          if (!tooBig)
            this.#store(key, {
              ...origin,
              schema: stream.schema,
              batches,
              bytes,
              expiresAt: this.clock() + this.ttlMs,
              encoded: new Map(),
            });
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
    this.#evict();
  }

  /**
   * Keeps an encoding of an entry still cached, counted in its bytes; none that would take the entry past a quarter
   * of the bound, the most any one result may hold.
   */
  #encode(key: string, entry: Entry, variant: string, encoded: EncodedResult): void {
    if (this.#entries.get(key) !== entry || entry.encoded.has(variant)) return;
    if (entry.encoded.size >= ENCODINGS_PER_ENTRY) return;
    if (entry.bytes + encoded.head.byteLength > this.maxBytes / 4) return;
    entry.encoded.set(variant, encoded);
    entry.bytes += encoded.head.byteLength;
    this.#bytes += encoded.head.byteLength;
    this.#evict();
  }

  #evict(): void {
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
