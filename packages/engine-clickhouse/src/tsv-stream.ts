import type { ColumnBatch, Schema } from '@lakegate/engine-api';
import { type ClickHouseType, clickhouseType, unescapeField } from './clickhouse-types.js';

/** What `TabSeparatedWithNamesAndTypes` begins with: the columns' names, then their types. */
export interface TsvHeader {
  readonly schema: Schema;
  readonly types: readonly ClickHouseType[];
}

/**
 * The exception line ClickHouse writes into a response it had begun, of any of its exception classes
 * (`DB::Exception`, `DB::NetException` when a shard is lost mid-result, `DB::ErrnoException`, ...).
 */
const SERVER_EXCEPTION = /^Code: \d+, e\.displayText\(\) = DB::[A-Za-z]*Exception|^Code: \d+\. DB::[A-Za-z]*Exception/;

/** A type name as ClickHouse writes one (`UInt64`, `Nullable(String)`, `Decimal(18, 3)`). */
const TYPE_NAME = /^[A-Z][A-Za-z0-9_]*(\(.*\))?$/;

/**
 * Parses `TabSeparatedWithNamesAndTypes` as it arrives: whole lines only (ClickHouse escapes line breaks inside
 * values, so a raw `\n` always ends a row), the header first, then rows gathered into batches. An exception the
 * server writes into a response it had begun (`Code: N, ...` on a line of its own) is handed to `onException`.
 */
export class TsvStream {
  #pending = '';
  #header: TsvHeader | undefined;
  #names: string[] | undefined;
  #rows: string[][] = [];

  constructor(readonly onException: (text: string) => never) {}

  get header(): TsvHeader | undefined {
    return this.#header;
  }

  /** Rows gathered so far. */
  get rowCount(): number {
    return this.#rows.length;
  }

  /** Takes a chunk of the response; throws (through `onException`) at an exception line. */
  push(chunk: string): void {
    const text = this.#pending + chunk;
    const end = text.lastIndexOf('\n');
    if (end < 0) {
      this.#pending = text;
      return;
    }
    this.#pending = text.slice(end + 1);
    for (const line of text.slice(0, end).split('\n')) this.#line(line);
  }

  /** The response ended: whatever did not end with a line break is an exception, or a cut-off response. */
  finish(): void {
    if (this.#pending !== '') {
      const rest = this.#pending;
      this.#pending = '';
      if (rest.startsWith('Code: ')) this.onException(rest);
      this.#line(rest);
    }
    if (!this.#header) this.onException('Code: 0. The server ended the response before its header.');
  }

  /** The rows gathered so far as one batch (decoded by column), or undefined when there are none. */
  takeBatch(): ColumnBatch | undefined {
    const header = this.#header;
    if (!header || this.#rows.length === 0) return undefined;
    const rows = this.#rows;
    this.#rows = [];
    const columns = header.types.map((type, c) =>
      rows.map((row) => {
        const field = row[c] as string;
        return field === '\\N' ? null : type.field(field);
      }),
    );
    return { rowCount: rows.length, columns };
  }

  #line(line: string): void {
    // The header's names and types are escaped as any field is (`DateTime(\'Asia/Tokyo\')`, a name with a tab).
    if (!this.#names) {
      this.#names = line.split('\t').map(unescapeField);
      return;
    }
    if (!this.#header) {
      const typeNames = line.split('\t').map(unescapeField);
      if (typeNames.length !== this.#names.length || !typeNames.every((t) => TYPE_NAME.test(t))) {
        this.onException(
          `Code: 0. The response is not in the format the gateway asked for (a FORMAT clause in the query?): FORMAT clauses are not allowed.`,
        );
      }
      const types = typeNames.map(clickhouseType);
      this.#header = {
        schema: this.#names.map((name, i) => ({ name, type: (types[i] as ClickHouseType).type })),
        types,
      };
      return;
    }
    // Checked first: in a one-column result the exception would otherwise read as a row.
    if (SERVER_EXCEPTION.test(line)) this.onException(line);
    const fields = line.split('\t');
    if (fields.length !== this.#header.types.length) {
      if (line.startsWith('Code: ')) this.onException(line);
      this.onException(
        `Code: 0. A row of ${fields.length} fields in a result of ${this.#header.types.length} columns.`,
      );
    }
    this.#rows.push(fields);
  }
}
