import { open } from 'node:fs/promises';
import { LakegateError } from '@lakegate/engine-api';
import { FileBlocks } from './file-blocks.js';
import type { FileLayout } from './file-layout.js';
import type { Interner } from './interner.js';
import type { FileRange } from './line-reader.js';
import { type LocalColumn, type LocalType, neededColumns } from './local-types.js';
import type { RowDecoder, RowSlots } from './row-decoder.js';

/**
 * PostgreSQL's binary COPY format (`COPY ... TO STDOUT (FORMAT binary)`), as local-agg reads it: an interval's dump
 * of a PostgreSQL source. The server writes numbers and timestamps as they are stored, so neither side formats or
 * parses text. Such a file names its columns and their local-agg types in the header extension area, which the
 * format sets aside for this (PostgreSQL itself skips what it does not know there), so the file describes itself
 * and can still be loaded back with `COPY ... FROM STDIN (FORMAT binary)`.
 *
 * Each column's wire form follows from its type, so a dump casts every column to the matching server type:
 * `timestamp` is timestamp or timestamptz (microseconds since 2000, 8 bytes), `date` is date (days since 2000, 4
 * bytes), `bigint` is int8, `double` is float8, `boolean` is bool (1 byte), and `varchar` is text (UTF-8).
 */

/** The first 11 bytes of every binary COPY file. */
export const COPY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** The signature, the flags field and the header extension's length: what precedes the extension. */
export const COPY_HEADER_BYTES = COPY_SIGNATURE.length + 8;
/** What starts the extension of a file that names its columns; their JSON follows. */
const COLUMNS_TAG = Buffer.from('lakegate.columns\0', 'latin1');
/** 2000-01-01, PostgreSQL's epoch, in microseconds and in days since 1970. */
const EPOCH_MICROS = 946_684_800_000_000;
const EPOCH_DAYS = 10_957;
const TWO_32 = 4_294_967_296;
/** Bytes read first for a header: it names a few columns, so one read mostly holds it. */
const HEADER_READ = 64 * 1024;

/** What the decoder does with a field: skip it, or read it as one of the wire forms above (a type a header may
 * name). */
const SKIP = 0;
const OPS: Readonly<Record<LocalType, number>> = {
  timestamp: 1,
  date: 2,
  bigint: 3,
  double: 4,
  boolean: 5,
  varchar: 6,
};

/** A binary COPY header that names `columns` (the server's own header has an empty extension). */
export function copyHeader(columns: readonly LocalColumn[]): Buffer {
  const names = Buffer.from(JSON.stringify(columns.map(({ name, type }) => ({ name, type }))));
  const header = Buffer.alloc(COPY_HEADER_BYTES);
  COPY_SIGNATURE.copy(header);
  header.writeInt32BE(0, COPY_SIGNATURE.length);
  header.writeInt32BE(COLUMNS_TAG.length + names.length, COPY_SIGNATURE.length + 4);
  return Buffer.concat([header, COLUMNS_TAG, names]);
}

/**
 * The server's binary COPY output `rows` (its header has an empty extension) as a file local-agg reads: the same
 * bytes with a header that names `columns`, the columns the query selected, in order.
 */
export async function* namingColumns(
  rows: AsyncIterable<Uint8Array>,
  columns: readonly LocalColumn[],
): AsyncGenerator<Uint8Array> {
  let head = Buffer.alloc(0);
  let named = false;
  for await (const chunk of rows) {
    if (named) {
      yield chunk;
      continue;
    }
    head = Buffer.concat([head, chunk]);
    if (head.length < COPY_HEADER_BYTES) continue;
    if (!head.subarray(0, COPY_SIGNATURE.length).equals(COPY_SIGNATURE) || head.readInt32BE(COPY_SIGNATURE.length + 4))
      throw new Error('the server sent a binary COPY header this version does not know');
    named = true;
    yield copyHeader(columns);
    if (head.length > COPY_HEADER_BYTES) yield head.subarray(COPY_HEADER_BYTES);
  }
  if (!named) throw new Error('the server ended its binary COPY output inside the header');
}

function notACopyFile(path: string, why: string): LakegateError {
  return new LakegateError('INVALID_REQUEST', `${path} is not a dump local-agg can read: ${why}.`);
}

/**
 * The columns a binary COPY header names and the header's length, from the file's first bytes; undefined when
 * `bytes` ends before the header does.
 */
export function readCopyHeader(
  bytes: Uint8Array,
  path: string,
): { columns: LocalColumn[]; length: number } | undefined {
  if (bytes.length < COPY_HEADER_BYTES) return undefined;
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!buffer.subarray(0, COPY_SIGNATURE.length).equals(COPY_SIGNATURE))
    throw notACopyFile(path, 'it lacks the binary COPY signature');
  const extension = buffer.readInt32BE(COPY_SIGNATURE.length + 4);
  const length = COPY_HEADER_BYTES + extension;
  if (buffer.length < length) return undefined;
  const tag = buffer.subarray(COPY_HEADER_BYTES, COPY_HEADER_BYTES + COLUMNS_TAG.length);
  if (extension < COLUMNS_TAG.length || !tag.equals(COLUMNS_TAG))
    throw notACopyFile(path, 'its header names no columns');
  let columns: unknown;
  try {
    columns = JSON.parse(buffer.toString('utf8', COPY_HEADER_BYTES + COLUMNS_TAG.length, length));
  } catch {
    throw notACopyFile(path, 'its header is damaged');
  }
  const valid =
    Array.isArray(columns) &&
    columns.every(
      (c: { name?: unknown; type?: unknown }) =>
        typeof c?.name === 'string' && typeof c.type === 'string' && Object.hasOwn(OPS, c.type),
    );
  if (!valid) throw notACopyFile(path, 'its header is damaged');
  return { columns: columns as LocalColumn[], length };
}

/** Reads a binary COPY file's header: its layout. */
export async function sniffCopyFile(path: string): Promise<FileLayout> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    let buffer = Buffer.alloc(Math.min(size, HEADER_READ));
    for (;;) {
      const { bytesRead: read } = await handle.read(buffer, 0, buffer.length, 0);
      const header = readCopyHeader(buffer.subarray(0, read), path);
      if (header) {
        const { columns, length } = header;
        return {
          format: 'pgcopy',
          delimiter: 0,
          columns,
          unsupported: [],
          quoted: false,
          // The header, then the trailer alone (two bytes of -1).
          empty: size <= length + 2,
          typed: columns.map(() => true),
        };
      }
      if (read < buffer.length || buffer.length >= size) throw notACopyFile(path, 'its header is cut short');
      buffer = Buffer.alloc(Math.min(size, buffer.length * 4));
    }
  } finally {
    await handle.close();
  }
}

/** The end of the row starting at `buffer[start]`, found by its fields' lengths; -1 when it ends past `filled`. */
function rowEnd(buffer: Buffer, start: number, filled: number): number {
  const fields = buffer.readInt16BE(start);
  let p = start + 2;
  for (let f = 0; f < fields; f++) {
    if (p + 4 > filled) return -1;
    const length =
      ((buffer[p] as number) << 24) |
      ((buffer[p + 1] as number) << 16) |
      ((buffer[p + 2] as number) << 8) |
      (buffer[p + 3] as number);
    p += 4 + (length > 0 ? length : 0);
  }
  return p <= filled ? p : -1;
}

/**
 * Calls `onTuple(bytes, start, end)` for every row of a binary COPY file, `[start, end)` being the row's bytes
 * (its field count, then each field's length and bytes), reading blocks synchronously as {@link readLines} does.
 * Rows are found by their fields' lengths, so such a file is read whole: a range that starts past its header has
 * no rows of its own.
 */
export function readCopyTuples(
  range: FileRange,
  onTuple: (bytes: Uint8Array, start: number, end: number) => void,
  onBlock: () => boolean,
): void {
  if (range.start > 0) return;
  const blocks = new FileBlocks(range.path, 0);
  try {
    let i = -1; // the next row's start in the buffer; -1 until the header is read
    for (;;) {
      const read = blocks.fill();
      const { buffer, filled } = blocks;
      if (i < 0) {
        const header = readCopyHeader(buffer.subarray(0, filled), range.path);
        if (!header) {
          if (read === 0) throw notACopyFile(range.path, 'its header is cut short');
          continue;
        }
        i = header.length;
      }
      for (;;) {
        if (i + 2 > filled) break;
        if (buffer.readInt16BE(i) === -1) return; // the trailer
        const end = rowEnd(buffer, i, filled);
        if (end < 0) break;
        onTuple(buffer, i, end);
        i = end;
      }
      if (read === 0) throw notACopyFile(range.path, 'it ends inside a row, without its trailer');
      // Keep the unfinished row at the start of the buffer.
      blocks.consume(i);
      i = 0;
      if (!onBlock()) return;
    }
  } finally {
    blocks.close();
  }
}

/**
 * A decoder for the rows of a binary COPY file with these columns, filling the slots of the `needed` ones. The file
 * holds the first `fields` of them (its header's): those after are a pass's constants, which no row carries.
 */
export function copyDecoder(
  columns: readonly LocalColumn[],
  needed: readonly number[],
  interners: readonly (Interner | undefined)[],
  slots: RowSlots,
  fields: number,
): RowDecoder {
  const { ops, last } = neededColumns(columns, needed, OPS);
  const { nums, ids, nulls } = slots;
  let view: DataView = new DataView(new ArrayBuffer(0));
  let viewed: Uint8Array | undefined;
  const unreadable = (c: number, what: string): LakegateError =>
    new LakegateError(
      'INVALID_REQUEST',
      `Column "${(columns[c] as LocalColumn).name}" holds ${what}, which local-agg cannot aggregate. Store a finite ` +
        'value in its place in the source.',
    );
  return {
    slots,
    decode(bytes, start, end) {
      if (bytes !== viewed) {
        view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        viewed = bytes;
      }
      if (view.getInt16(start) !== fields)
        throw new LakegateError(
          'INVALID_REQUEST',
          `A row of a dump has ${view.getInt16(start)} fields where its header names ${fields} columns.`,
        );
      let p = start + 2;
      for (let c = 0; c <= last; c++) {
        const length = view.getInt32(p);
        p += 4;
        const op = ops[c] as number;
        if (op !== SKIP) {
          if (length < 0) nulls[c] = 1;
          else {
            nulls[c] = 0;
            switch (op) {
              case 1: {
                const high = view.getInt32(p);
                const low = view.getUint32(p + 4);
                // ±infinity are the two extremes of the 64-bit range.
                if ((high === 0x7fffffff && low === 0xffffffff) || (high === -0x80000000 && low === 0))
                  throw unreadable(c, 'an infinite timestamp');
                nums[c] = high * TWO_32 + low + EPOCH_MICROS;
                break;
              }
              case 2: {
                const days = view.getInt32(p);
                if (days === 0x7fffffff || days === -0x80000000) throw unreadable(c, 'an infinite date');
                nums[c] = days + EPOCH_DAYS;
                break;
              }
              case 3:
                nums[c] = view.getInt32(p) * TWO_32 + view.getUint32(p + 4);
                break;
              case 4:
                nums[c] = view.getFloat64(p);
                break;
              case 5:
                nums[c] = bytes[p] === 0 ? 0 : 1;
                break;
              default:
                ids[c] = (interners[c] as Interner).internBytes(bytes, p, p + length);
            }
          }
        }
        if (length > 0) p += length;
      }
      if (p > end) throw new LakegateError('INVALID_REQUEST', 'A row of a dump is damaged: its fields run past it.');
    },
  };
}
