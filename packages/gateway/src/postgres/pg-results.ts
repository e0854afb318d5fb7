import { type Column, columnsStream, type QueryStream, type Schema } from '@lakegate/engine-api';
import type { ActiveQuery, QueryEnd } from '../query/query-lifecycle.js';
import { RowReader } from '../query/row-reader.js';
import { type DescribedColumn, formatOf } from './pg-messages.js';
import { pgType } from './pg-types.js';
import type { MessageBuilder } from './pg-wire.js';

const COPY_ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** Values pass through the reader untouched: the protocol writes each in the format its client asked for. */
const identity = (value: unknown): unknown => value;

/**
 * A result the connection sends rows of, from the query lifecycle or from the front end's own answers (SHOW, a
 * session function): read as far as a client's Execute limit or cursor FETCH asks, then left where it is.
 */
export class PgResult {
  readonly columns: readonly DescribedColumn[];
  readonly #reader: RowReader;
  readonly #active: ActiveQuery | undefined;
  readonly #stream: QueryStream;
  /** Rows the result may carry (the tenant's limits), and bytes. */
  readonly maxRows: number;
  readonly maxBytes: number;
  /** Aborting it stops the query in the engine (cancel, statement_timeout, a closed connection). */
  readonly controller: AbortController;
  rows = 0;
  bytes = 0;
  truncated = false;
  #ended = false;

  private constructor(options: {
    stream: QueryStream;
    active?: ActiveQuery | undefined;
    maxRows: number;
    maxBytes: number | undefined;
    controller: AbortController;
  }) {
    this.#stream = options.stream;
    this.#active = options.active;
    this.columns = options.stream.schema.map((c) => ({ name: c.name, type: pgType(c.type) }));
    this.#reader = new RowReader(
      options.stream,
      options.stream.schema.map(() => identity),
    );
    this.maxRows = options.maxRows;
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.controller = options.controller;
  }

  /** A query started by the lifecycle. */
  static fromQuery(active: ActiveQuery, controller: AbortController): PgResult {
    return new PgResult({
      stream: active.stream,
      active,
      maxRows: active.maxRows,
      maxBytes: active.maxBytes,
      controller,
    });
  }

  /** A constant result the front end answers itself (all text columns unless given). */
  static constant(columns: readonly (string | Column)[], rows: readonly (readonly unknown[])[]): PgResult {
    const schema: Schema = columns.map((c) =>
      typeof c === 'string' ? { name: c, type: { kind: 'string', sqlType: 'VARCHAR' } } : c,
    );
    const stream = columnsStream(schema, {
      columns: schema.map((_, i) => rows.map((row) => row[i] ?? null)),
      rowCount: rows.length,
    });
    return new PgResult({
      stream,
      maxRows: Number.POSITIVE_INFINITY,
      maxBytes: undefined,
      controller: new AbortController(),
    });
  }

  get ended(): boolean {
    return this.#ended;
  }

  get fromLifecycle(): boolean {
    return this.#active !== undefined;
  }

  /**
   * Writes up to `limit` DataRows into `out`, calling `flush` whenever a write's worth has built up (it waits while
   * the client is slow to read, so that a result is never buffered whole). Returns `more` when rows may remain.
   */
  async send(
    out: MessageBuilder,
    limit: number,
    formats: readonly number[],
    flush: () => Promise<void>,
    flushBytes: number,
  ): Promise<{ readonly sent: number; readonly more: boolean }> {
    const writers = this.columns.map((column, i) =>
      formatOf(formats, i) === 1
        ? (value: unknown) => {
            const at = out.beginField();
            column.type.binary(out, value);
            out.endField(at);
          }
        : (value: unknown) => {
            out.textField(column.type.text(value));
          },
    );
    const width = writers.length;
    let sent = 0;
    while (sent < limit) {
      const room = this.maxRows - this.rows;
      if (room <= 0 || this.bytes >= this.maxBytes) {
        // The cap is reached: one more row tells whether the result was cut.
        this.truncated ||= (await this.#reader.read(1)).rows.length > 0;
        return { sent, more: false };
      }
      const { rows } = await this.#reader.read(Math.min(limit - sent, room, 1024));
      if (rows.length === 0) return { sent, more: false };
      for (const row of rows) {
        const before = out.length;
        out.begin('D').int16(width);
        for (let c = 0; c < width; c++) {
          const value = row[c];
          if (value === null || value === undefined) out.int32(-1);
          else (writers[c] as (value: unknown) => void)(value);
        }
        out.end();
        this.bytes += out.length - before;
        if (out.length >= flushBytes) await flush();
      }
      sent += rows.length;
      this.rows += rows.length;
    }
    return { sent, more: !this.#reader.exhausted };
  }

  /**
   * Writes every row as COPY data (CopyData messages), in COPY's text format (tab-separated, `\N` for NULL,
   * backslash escapes) or CSV; returns the rows written.
   */
  async sendCopy(
    out: MessageBuilder,
    csv: boolean,
    header: boolean,
    flush: () => Promise<void>,
    flushBytes: number,
  ): Promise<number> {
    const separator = csv ? ',' : '\t';
    const field = csv
      ? (text: string) => (/[",\r\n]/.test(text) || text === '' ? `"${text.replaceAll('"', '""')}"` : text)
      : (text: string) => text.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c] ?? c);
    const nullText = csv ? '' : '\\N';
    if (header)
      out
        .begin('d')
        .text(`${this.columns.map((c) => field(c.name)).join(separator)}\n`)
        .end();
    const width = this.columns.length;
    for (;;) {
      const room = this.maxRows - this.rows;
      if (room <= 0 || this.bytes >= this.maxBytes) {
        this.truncated ||= (await this.#reader.read(1)).rows.length > 0;
        return this.rows;
      }
      const { rows } = await this.#reader.read(Math.min(room, 1024));
      if (rows.length === 0) return this.rows;
      for (const row of rows) {
        const before = out.length;
        const parts = new Array<string>(width);
        for (let c = 0; c < width; c++) {
          const value = row[c];
          parts[c] =
            value === null || value === undefined
              ? nullText
              : field((this.columns[c] as DescribedColumn).type.text(value));
        }
        out
          .begin('d')
          .text(`${parts.join(separator)}\n`)
          .end();
        this.bytes += out.length - before;
        if (out.length >= flushBytes) await flush();
      }
      this.rows += rows.length;
    }
  }

  /** Ends the result once: the lifecycle frees the query and writes its line. */
  async end(summary: Omit<QueryEnd, 'rows' | 'bytes' | 'truncated'>): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#active) {
      await this.#active.end({ ...summary, rows: this.rows, bytes: this.bytes, truncated: this.truncated });
    } else {
      await this.#stream.close();
    }
  }
}
