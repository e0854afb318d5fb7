import type { ColumnBatch, QueryStream } from '@lakegate/engine-api';

/** Encodes one non-null value of a column for a protocol (JSON, CSV, Trino, ...). */
export type ValueEncoder = (value: unknown) => unknown;

/** Row `r` of a batch, each non-null value encoded and each null given as `nullValue`. */
export function rowAt(
  batch: ColumnBatch,
  r: number,
  encoders: readonly ValueEncoder[],
  nullValue: unknown = null,
): unknown[] {
  const width = encoders.length;
  const values = new Array<unknown>(width);
  for (let c = 0; c < width; c++) {
    const value = batch.columns[c]?.[r];
    values[c] = value === null || value === undefined ? nullValue : (encoders[c] as ValueEncoder)(value);
  }
  return values;
}

/**
 * Reads a result as rows, as many at a time as the caller asks for: the protocols that answer in pages (Trino's
 * nextUri, a session statement's stored result) pull from the engine only as fast as they send.
 */
export class RowReader {
  readonly #iterator: AsyncIterator<ColumnBatch>;
  readonly #encoders: readonly ValueEncoder[];
  #pending: ColumnBatch | undefined;
  #offset = 0;
  #exhausted = false;

  constructor(stream: QueryStream, encoders: readonly ValueEncoder[]) {
    this.#iterator = stream[Symbol.asyncIterator]();
    this.#encoders = encoders;
  }

  /** True once every row has been read. */
  get exhausted(): boolean {
    return this.#exhausted && this.#pending === undefined;
  }

  /** Up to `maxRows` rows. An empty array only at the end of the result. */
  async read(maxRows: number): Promise<{ rows: unknown[][] }> {
    const rows: unknown[][] = [];
    await this.each(maxRows, Number.POSITIVE_INFINITY, (row) => {
      rows.push(row);
      return 0;
    });
    return { rows };
  }

  /**
   * Hands up to `maxRows` rows to `visit`, which returns each row's size, and stops once the sizes reach `maxBytes`
   * (the row that reaches it is included, so a page always moves on). The rows are not kept: a protocol that
   * encodes them as they come holds only its encoding. Returns how many rows it read, and their bytes: no rows only
   * at the end of the result.
   */
  async each(
    maxRows: number,
    maxBytes: number,
    visit: (row: unknown[]) => number,
  ): Promise<{ rows: number; bytes: number }> {
    let rows = 0;
    let bytes = 0;
    while (rows < maxRows && bytes < maxBytes) {
      if (!this.#pending) {
        if (this.#exhausted) break;
        const next = await this.#iterator.next();
        if (next.done) {
          this.#exhausted = true;
          break;
        }
        this.#pending = next.value;
        this.#offset = 0;
      }
      const batch = this.#pending;
      while (this.#offset < batch.rowCount && rows < maxRows && bytes < maxBytes) {
        bytes += visit(rowAt(batch, this.#offset++, this.#encoders));
        rows++;
      }
      if (this.#offset >= batch.rowCount) this.#pending = undefined;
    }
    return { rows, bytes };
  }
}
