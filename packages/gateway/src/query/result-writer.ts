import type { ColumnBatch, QueryStream, Schema } from '@lakegate/engine-api';
import { LakegateError } from '@lakegate/engine-api';
import { presentError } from '../errors/error-presenter.js';
import { csvValueEncoder, jsonValueEncoder } from './encode-values.js';
import type { Encodings } from './result-cache.js';
import { rowAt } from './row-reader.js';

export type ResultFormat = 'json' | 'ndjson' | 'csv';

export const CONTENT_TYPES: Readonly<Record<ResultFormat, string>> = {
  json: 'application/json; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8; header=present',
};

/** Picks the result format from an Accept header: NDJSON or CSV when asked for, JSON otherwise. */
export function negotiateFormat(accept: string | undefined): ResultFormat {
  const value = (accept ?? '').toLowerCase();
  if (value.includes('application/x-ndjson') || value.includes('application/ndjson')) return 'ndjson';
  if (value.includes('text/csv')) return 'csv';
  return 'json';
}

export interface ResultStats {
  readonly elapsedMs: number;
  readonly engine: string;
  readonly [key: string]: unknown;
}

export interface ResultSummary {
  readonly rowCount: number;
  readonly bytes: number;
  readonly truncated: boolean;
  readonly outcome: 'ok' | 'error' | 'client_closed';
  readonly error?: unknown;
}

export interface WriteOptions {
  readonly format: ResultFormat;
  /** Rows to send at most; one more row from the engine marks the result as truncated. */
  readonly maxRows: number;
  /** Bytes of rows to send at most: the result is truncated before the row that would exceed it. */
  readonly maxBytes?: number | undefined;
  readonly requestId: string;
  /** Stats for the trailer, computed when the result ends; `written.bytes` are the rows' bytes sent before it. */
  stats(written: { readonly bytes: number }): ResultStats;
  /** Called once when the response has been written, failed, or been abandoned by the client. */
  onDone?(summary: ResultSummary): void;
  /**
   * A cached result's encodings: a small result already written in this format and with these caps is written from
   * its bytes with a trailer of its own; one not yet written is kept there once written whole.
   */
  readonly encodings?: Encodings | undefined;
}

export interface ResultBody {
  /** The whole result when it is small (see SMALL_RESULT_BYTES), else a stream of it. */
  readonly body: ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer>;
  readonly contentType: string;
}

/**
 * Results up to this many bytes are written whole before the response starts: one write instead of a stream
 * pulled chunk by chunk, which costs dashboards' small answers more than encoding them. Larger ones stream, this
 * much first.
 */
const SMALL_RESULT_BYTES = 64 * 1024;
/** Stateless, so one serves every result. */
const utf8 = new TextEncoder();
/** Encoded text handed to the response at a time. */
const CHUNK_CHARS = 1024 * 1024;
/** One row's encoded text at most: far below V8's string limit, far above any dashboard's row. */
const MAX_ROW_CHARS = 64 * 1024 * 1024;

/** What the result's writing steps write to: a stream's controller, or the buffer of the first bytes. */
interface Sink {
  enqueue(chunk: Uint8Array): void;
  close(): void;
}

interface Framing {
  header(schema: Schema): string;
  row(values: readonly unknown[], index: number): string;
  footer(rowCount: number, truncated: boolean, stats: ResultStats): string;
  error(rowCount: number, error: { code: string; message: string; requestId: string }): string;
}

const columnsJson = (schema: Schema): string =>
  JSON.stringify(schema.map((c) => ({ name: c.name, type: c.type.sqlType })));

const FRAMINGS: Readonly<Record<ResultFormat, Framing>> = {
  json: {
    header: (schema) => `{"columns":${columnsJson(schema)},"rows":[`,
    row: (values, index) => (index === 0 ? '' : ',') + JSON.stringify(values),
    footer: (rowCount, truncated, stats) =>
      `],"rowCount":${rowCount},"truncated":${truncated},"stats":${JSON.stringify(stats)}}`,
    error: (rowCount, error) => `],"rowCount":${rowCount},"truncated":false,"error":${JSON.stringify(error)}}`,
  },
  ndjson: {
    header: (schema) => `{"columns":${columnsJson(schema)}}\n`,
    row: (values) => `${JSON.stringify(values)}\n`,
    footer: (rowCount, truncated, stats) => `${JSON.stringify({ stats: { ...stats, rowCount, truncated } })}\n`,
    error: (_rowCount, error) => `${JSON.stringify({ error })}\n`,
  },
  csv: {
    header: (schema) =>
      `${schema.map((c) => csvValueEncoder({ kind: 'string', sqlType: 'VARCHAR' })(c.name)).join(',')}\n`,
    row: (values) => `${values.join(',')}\n`,
    footer: () => '',
    // A trailing line that no CSV reader mistakes for data: the result is incomplete.
    error: (_rowCount, error) =>
      `#error ${error.code}: ${error.message.replaceAll('\n', ' ')} (request ${error.requestId})\n`,
  },
};

/**
 * Starts writing a query result. It reads the first batch before returning, so a query that fails early is
 * reported with a proper HTTP status by the caller; after that, a failure becomes the format's error record.
 * The body is pulled batch by batch (back-pressure from the client), and cancelling it frees the query.
 */
export async function writeResult(stream: QueryStream, options: WriteOptions): Promise<ResultBody> {
  const framing = FRAMINGS[options.format];
  const contentType = CONTENT_TYPES[options.format];
  const variant = `${options.format} ${options.maxRows} ${options.maxBytes ?? ''}`;
  const encoded = options.encodings?.get(variant);
  if (encoded) {
    await stream.close();
    const { head, rowCount, truncated } = encoded;
    const footer = Buffer.from(framing.footer(rowCount, truncated, options.stats({ bytes: head.byteLength })));
    options.onDone?.({ rowCount, bytes: head.byteLength + footer.byteLength, truncated, outcome: 'ok' });
    return { body: Buffer.concat([head, footer]), contentType };
  }
  const iterator = stream[Symbol.asyncIterator]();
  let first: IteratorResult<ColumnBatch>;
  try {
    first = await iterator.next();
  } catch (error) {
    await stream.close();
    // The query ends here too (its log line, its place among the running queries), before the caller answers
    // with the error's status.
    options.onDone?.({ rowCount: 0, bytes: 0, truncated: false, outcome: 'error', error });
    throw error;
  }
  const encoders = stream.schema.map((c) =>
    options.format === 'csv' ? csvValueEncoder(c.type) : jsonValueEncoder(c.type),
  );
  // CSV writes a null as an empty field.
  const nullValue = options.format === 'csv' ? '' : null;
  let pending: ColumnBatch | undefined = first.done ? undefined : first.value;
  let exhausted = first.done === true;
  let rowCount = 0;
  let bytes = 0;
  let truncated = false;
  let finished = false;

  const finish = (summary: Omit<ResultSummary, 'rowCount' | 'bytes' | 'truncated'>): void => {
    if (finished) return;
    finished = true;
    options.onDone?.({ rowCount, bytes, truncated, ...summary });
  };
  const emit = (controller: Sink, text: string): void => {
    if (text.length === 0) return;
    const chunk = utf8.encode(text);
    bytes += chunk.byteLength;
    controller.enqueue(chunk);
  };

  const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
  let rowBytes = 0;
  /** Encodes a batch as text chunks of about a megabyte: one joined string could pass V8's length limit. */
  const encodeBatch = (batch: ColumnBatch): string[] => {
    const chunks: string[] = [];
    let parts: string[] = [];
    let partsLength = 0;
    for (let r = 0; r < batch.rowCount; r++) {
      if (rowCount >= options.maxRows) {
        truncated = true;
        break;
      }
      const values = rowAt(batch, r, encoders, nullValue);
      const row = encodeRow(values);
      // Characters approximate bytes here (exact for ASCII); the cap is a guard, not an accounting.
      if (rowBytes + row.length > maxBytes) {
        truncated = true;
        break;
      }
      rowBytes += row.length;
      parts.push(row);
      partsLength += row.length;
      rowCount++;
      if (partsLength >= CHUNK_CHARS) {
        chunks.push(parts.join(''));
        parts = [];
        partsLength = 0;
      }
    }
    if (parts.length > 0) chunks.push(parts.join(''));
    return chunks;
  };
  const encodeRow = (values: unknown[]): string => {
    try {
      const row = framing.row(values, rowCount);
      if (row.length <= MAX_ROW_CHARS) return row;
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
    }
    throw new LakegateError(
      'RESULT_TOO_LARGE',
      `Row ${rowCount + 1} of the result is larger than ${MAX_ROW_CHARS / 1024 / 1024} MiB once encoded: select smaller values (substr, length) or fewer columns.`,
    );
  };

  // The first bytes are written ahead: a small result ends among them and goes out whole.
  const ahead: Uint8Array[] = [];
  let aheadBytes = 0;
  let ended = false;
  /** The bytes written ahead before the trailer of a small result that ended well. */
  let headBytes: number | undefined;
  const buffer: Sink = {
    enqueue(chunk) {
      ahead.push(chunk);
      aheadBytes += chunk.byteLength;
    },
    close() {
      ended = true;
    },
  };

  /** Writes the next batch, or the end of the result (its footer, or the error record of a failure). */
  const pull = async (controller: Sink): Promise<void> => {
    try {
      let batch = pending;
      pending = undefined;
      if (batch === undefined && !exhausted) {
        const next = await iterator.next();
        if (next.done) exhausted = true;
        else batch = next.value;
      }
      if (batch !== undefined) for (const chunk of encodeBatch(batch)) emit(controller, chunk);
      if (truncated || exhausted) {
        if (!exhausted) await stream.close();
        const before = aheadBytes;
        emit(controller, framing.footer(rowCount, truncated, options.stats({ bytes })));
        controller.close();
        finish({ outcome: 'ok' });
        if (controller === buffer) headBytes = before;
      }
    } catch (error) {
      // Before the response has started, the failure is the response itself (a 413, not a 200 with a trailer).
      if (controller === buffer && rowCount === 0) {
        await stream.close();
        finish({ outcome: 'error', error });
        throw error;
      }
      const { code, message } = presentError(error);
      emit(controller, framing.error(rowCount, { code, message, requestId: options.requestId }));
      controller.close();
      await stream.close();
      finish({ outcome: 'error', error });
    }
  };

  emit(buffer, framing.header(stream.schema));
  while (!ended && aheadBytes < SMALL_RESULT_BYTES) await pull(buffer);
  if (ended) {
    const body = Buffer.concat(ahead, aheadBytes);
    if (options.encodings && headBytes !== undefined) {
      // A copy of its own: the body may share a pooled slab with other buffers.
      options.encodings.set(variant, { head: new Uint8Array(body.subarray(0, headBytes)), rowCount, truncated });
    }
    return { body, contentType };
  }
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of ahead) controller.enqueue(chunk);
    },
    pull,
    async cancel() {
      await stream.close();
      finish({ outcome: 'client_closed' });
    },
  });
  return { body, contentType };
}
