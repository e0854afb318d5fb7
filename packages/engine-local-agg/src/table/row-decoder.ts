import { LakegateError } from '@lakegate/engine-api';
import { compiledFactory } from '../exec/compiled.js';
import { copyDecoder } from './copy-format.js';
import type { FileLayout } from './file-layout.js';
import { FNV_OFFSET, FNV_PRIME, type Interner } from './interner.js';
import {
  daysFromCivil,
  type LocalColumn,
  type LocalType,
  neededColumns,
  parseDate,
  parseTimestamp,
} from './local-types.js';

/**
 * The current row's values of the columns a query needs: numbers in `nums` (see {@link LocalType}), string ids in
 * `ids`, and `nulls[i] = 1` for SQL NULL. The decoder overwrites them for each row; nothing is allocated per row.
 */
export class RowSlots {
  readonly nums: Float64Array;
  readonly ids: Int32Array;
  readonly nulls: Uint8Array;
  constructor(columns: number) {
    this.nums = new Float64Array(columns);
    this.ids = new Int32Array(columns);
    this.nulls = new Uint8Array(columns);
  }
}

export interface RowDecoder {
  readonly slots: RowSlots;
  /** Decodes the line `bytes[start, end)` (without its line break) into the slots. */
  decode(bytes: Uint8Array, start: number, end: number): void;
}

const QUOTE = 0x22;
const MINUS = 0x2d;
const PLUS = 0x2b;
const ZERO = 0x30;
const DOT = 0x2e;
const COLON = 0x3a;
const DAY_MICROS = 86_400_000_000;
const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16];
const latin1 = new TextDecoder('latin1');

function conversionError(column: LocalColumn, bytes: Uint8Array, start: number, end: number): LakegateError {
  const text = latin1.decode(bytes.subarray(start, Math.min(end, start + 40)));
  return new LakegateError(
    'INVALID_REQUEST',
    `Column "${column.name}" holds "${text}", which is not a ${column.type.toUpperCase()} (column types are sniffed ` +
      'from the first 20480 rows of each file). Fix the value or query this dataset with the duckdb engine.',
  );
}

function quotedLineBreak(column: LocalColumn): LakegateError {
  return new LakegateError(
    'INVALID_REQUEST',
    `Column "${column.name}" holds a quoted line break past the rows local-agg samples, so the file cannot be read ` +
      'line by line. Query this dataset with the duckdb engine.',
  );
}

/** Digits `bytes[start, end)` as a number, or NaN when a byte is not a digit. */
function digits(bytes: Uint8Array, start: number, end: number): number {
  let value = 0;
  for (let i = start; i < end; i++) {
    const d = (bytes[i] as number) - ZERO;
    if (d < 0 || d > 9) return Number.NaN;
    value = value * 10 + d;
  }
  return value;
}

/**
 * A decimal number. Up to 15 significant digits without an exponent, `mantissa / 10^k` is one correctly rounded
 * division (Clinger's fast path), so the result equals `parseFloat`; anything longer goes through `parseFloat`.
 */
function parseNumber(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  let negative = false;
  if (bytes[i] === MINUS || bytes[i] === PLUS) negative = bytes[i++] === MINUS;
  let mantissa = 0;
  let count = 0;
  let scale = -1;
  for (; i < end; i++) {
    const b = bytes[i] as number;
    const d = b - ZERO;
    if (d >= 0 && d <= 9) {
      mantissa = mantissa * 10 + d;
      count++;
      if (scale >= 0) scale++;
    } else if (b === DOT && scale < 0) scale = 0;
    else return Number.parseFloat(latin1.decode(bytes.subarray(start, end)));
  }
  if (count === 0) return Number.NaN;
  if (count > 15) return Number.parseFloat(latin1.decode(bytes.subarray(start, end)));
  const value = scale > 0 ? mantissa / (POW10[scale] as number) : mantissa;
  return negative ? -value : value;
}

/** The two digits at `bytes[i]` as a number, or NaN when either is not a digit. */
function twoDigits(bytes: Uint8Array, i: number): number {
  const high = (bytes[i] as number) - ZERO;
  const low = (bytes[i + 1] as number) - ZERO;
  return high >>> 0 > 9 || low >>> 0 > 9 ? Number.NaN : high * 10 + low;
}

/** The date of the last timestamp parsed (consecutive rows mostly share it) as one number, and its day number. */
let lastDate = -1;
let lastDays = Number.NaN;

/** `YYYY-MM-DD[ HH:MM[:SS[.ffffff]]]` straight from bytes, with the digits read in pairs; NaN when it is not one. */
function parseTimestampBytes(bytes: Uint8Array, start: number, end: number): number {
  const length = end - start;
  if (length < 10 || bytes[start + 4] !== MINUS || bytes[start + 7] !== MINUS) return Number.NaN;
  const year = twoDigits(bytes, start) * 100 + twoDigits(bytes, start + 2);
  const month = twoDigits(bytes, start + 5);
  const day = twoDigits(bytes, start + 8);
  const date = year * 10_000 + month * 100 + day;
  if (Number.isNaN(date)) return Number.NaN;
  let days = lastDays;
  if (date !== lastDate) {
    days = daysFromCivil(year, month, day);
    lastDate = date;
    lastDays = days;
  }
  if (length === 10) return days * DAY_MICROS;
  // Only the shapes DuckDB reads: `YYYY-MM-DD HH:MM`, `...:SS`, `...:SS.f` to `...:SS.ffffff` (space or T).
  const separator = bytes[start + 10];
  if ((separator !== 0x20 && separator !== 0x54) || bytes[start + 13] !== COLON) return Number.NaN;
  if (length !== 16 && (length < 19 || bytes[start + 16] !== COLON || length === 20 || length > 26)) return Number.NaN;
  const hours = twoDigits(bytes, start + 11);
  const minutes = twoDigits(bytes, start + 14);
  const seconds = length >= 19 ? twoDigits(bytes, start + 17) : 0;
  if (!(hours < 24 && minutes < 60 && seconds < 60)) return Number.NaN;
  let micros = 0;
  if (length > 20) {
    if (bytes[start + 19] !== DOT) return Number.NaN;
    micros = digits(bytes, start + 20, end) * (POW10[26 - length] as number);
  }
  return days * DAY_MICROS + (hours * 3600 + minutes * 60 + seconds) * 1_000_000 + micros;
}

function parseBoolean(bytes: Uint8Array, start: number, end: number): number {
  const first = (bytes[start] as number) | 0x20;
  if (first === 0x74 && end - start === 4) return 1; // true
  if (first === 0x66 && end - start === 5) return 0; // false
  return Number.NaN;
}

/** Decodes one field of a needed column into slot `c`. */
function decodeField(
  type: LocalType,
  bytes: Uint8Array,
  start: number,
  end: number,
  c: number,
  slots: RowSlots,
  interner: Interner | undefined,
): boolean {
  if (type === 'varchar') {
    slots.ids[c] = (interner as Interner).internBytes(bytes, start, end);
    return true;
  }
  let value: number;
  switch (type) {
    case 'bigint': {
      const negative = bytes[start] === MINUS;
      const first = negative || bytes[start] === PLUS ? start + 1 : start;
      // A sign alone is not a number; -0 is 0 (one group, as in DuckDB).
      value = first < end ? digits(bytes, first, end) : Number.NaN;
      if (negative && value !== 0) value = -value;
      break;
    }
    case 'double':
      value = parseNumber(bytes, start, end);
      if (Number.isNaN(value)) {
        const text = latin1.decode(bytes.subarray(start, end)).toLowerCase();
        if (text === 'nan') {
          slots.nums[c] = Number.NaN;
          return true;
        }
        if (text === 'inf' || text === 'infinity') value = Number.POSITIVE_INFINITY;
        else if (text === '-inf' || text === '-infinity') value = Number.NEGATIVE_INFINITY;
      }
      break;
    case 'boolean':
      value = parseBoolean(bytes, start, end);
      break;
    case 'date':
      value = parseTimestampBytes(bytes, start, end) / DAY_MICROS;
      break;
    default:
      value = parseTimestampBytes(bytes, start, end);
  }
  slots.nums[c] = value;
  return !Number.isNaN(value);
}

/** What the CSV/TSV decoder does with a field: skip it, or read it as one of the types it parses inline. */
const SKIP = 0;
const VARCHAR = 1;
const BIGINT = 2;
const TIMESTAMP = 3;
const OTHER = 4;
const OPS: Readonly<Record<LocalType, number>> = {
  varchar: VARCHAR,
  bigint: BIGINT,
  timestamp: TIMESTAMP,
  double: OTHER,
  boolean: OTHER,
  date: OTHER,
};

/**
 * A decoder for CSV/TSV lines that splits only up to the last needed field and decodes only needed fields. An
 * unquoted field is read in the same scan that finds its end: a string is hashed and an integer accumulated byte
 * by byte, so each byte of the line is looked at once. Quoted fields take a slower path through a scratch buffer.
 */
function delimitedDecoder(
  layout: FileLayout,
  columns: readonly LocalColumn[],
  needed: readonly number[],
  interners: readonly (Interner | undefined)[],
  slots: RowSlots,
): RowDecoder {
  const { ops, last } = neededColumns(columns, needed, OPS);
  const types = columns.map((c) => c.type);
  const delimiter = layout.delimiter;
  const { nulls } = slots;
  let scratch = new Uint8Array(256);

  /** Decodes a needed field of column c from `source[from, to)` (the slow path: any type, any source). */
  const decodeSlow = (source: Uint8Array, from: number, to: number, c: number): void => {
    nulls[c] = 0;
    if (!decodeField(types[c] as LocalType, source, from, to, c, slots, interners[c]))
      throw conversionError(columns[c] as LocalColumn, source, from, to);
  };

  /** A quoted field starting at `bytes[i]`: copied without its quotes (and with "" as ") into the scratch buffer. */
  const quotedField = (bytes: Uint8Array, i: number, end: number, c: number): number => {
    let length = 0;
    let closed = false;
    i++;
    for (; i < end; i++) {
      const b = bytes[i] as number;
      if (b === QUOTE) {
        if (i + 1 < end && bytes[i + 1] === QUOTE) i++;
        else {
          i++;
          closed = true;
          break;
        }
      }
      if (length === scratch.length) {
        const next = new Uint8Array(scratch.length * 2);
        next.set(scratch);
        scratch = next;
      }
      scratch[length++] = bytes[i] as number;
    }
    // A quoted line break past the sampled part of the file: the file was split where it must not be.
    if (!closed && !layout.quoted) throw quotedLineBreak(columns[c] as LocalColumn);
    while (i < end && bytes[i] !== delimiter) i++;
    // A quoted empty field is NULL too, as in DuckDB (whose `allow_quoted_nulls` is on by default).
    if (ops[c] === SKIP) return i;
    if (length === 0) nulls[c] = 1;
    else decodeSlow(scratch, 0, length, c);
    return i;
  };

  const slow = (bytes: Uint8Array, start: number, end: number): void => {
    let i = start;
    for (let c = 0; c <= last; c++) {
      if (i > end) {
        // The line has fewer fields than the header: the rest are NULL.
        nulls[c] = 1;
        continue;
      }
      const from = i;
      if (i < end && bytes[i] === QUOTE) {
        i = quotedField(bytes, i, end, c) + 1;
        continue;
      }
      while (i < end && bytes[i] !== delimiter) i++;
      if (ops[c] !== SKIP) {
        if (i === from) nulls[c] = 1;
        else decodeSlow(bytes, from, i, c);
      }
      i++;
    }
  };
  const fast = compileFastPath(ops, types, last, delimiter, interners, slots);
  return {
    slots,
    decode(bytes, start, end) {
      if (!fast(bytes, start, end)) slow(bytes, start, end);
    },
  };
}

type FastPath = (bytes: Uint8Array, start: number, end: number) => boolean;

/**
 * Compiles the common case of a CSV/TSV line, where no field is quoted and every needed field is there, into one
 * function with a straight run of code per field: no loop over the columns, no dispatch on types, and a timestamp
 * of the length the previous one had is parsed without scanning for its end first (the parser checks every byte
 * position, so a delimiter inside would fail it). It returns false for anything else (quotes, short lines, values
 * that do not parse), and the general decoder then decodes the whole line again, errors included. The source
 * holds only small integers checked as such; everything else is passed in as values.
 */
function compileFastPath(
  ops: Uint8Array,
  types: readonly LocalType[],
  last: number,
  delimiter: number,
  interners: readonly (Interner | undefined)[],
  slots: RowSlots,
): FastPath {
  if (!Number.isInteger(delimiter) || delimiter < 0 || delimiter > 255) throw new Error('bad delimiter');
  const D = delimiter;
  const lines = ['return function fast(bytes, start, end) {', '  let i = start;', '  let from = 0;'];
  for (let c = 0; c <= last; c++) {
    lines.push('  from = i;', '  if (bytes[i] === 34) return false;');
    switch (ops[c]) {
      case SKIP:
        lines.push(`  while (i < end && bytes[i] !== ${D}) i++;`);
        break;
      case VARCHAR:
        lines.push(
          '  {',
          '    let hash = FNV_OFFSET;',
          `    for (; i < end; i++) { const b = bytes[i]; if (b === ${D}) break; hash = Math.imul(hash ^ b, FNV_PRIME); }`,
          `    if (i === from) nulls[${c}] = 1;`,
          `    else { nulls[${c}] = 0; ids[${c}] = interners[${c}].internHashed(bytes, from, i, hash); }`,
          '  }',
        );
        break;
      case BIGINT:
        lines.push(
          '  {',
          // An empty field (its end may be the line's) is not read past: its sign is read only inside the line.
          '    const sign = i < end ? bytes[i] : 0;',
          '    if (sign === 45 || sign === 43) i++;',
          '    const first = i;',
          '    let value = 0;',
          '    for (; i < end; i++) { const d = bytes[i] - 48; if (d < 0 || d > 9) break; value = value * 10 + d; }',
          `    if (i < end && bytes[i] !== ${D}) return false;`,
          `    if (i === from) nulls[${c}] = 1;`,
          '    else if (i === first) return false;',
          `    else { nulls[${c}] = 0; nums[${c}] = sign === 45 && value !== 0 ? -value : value; }`,
          '  }',
        );
        break;
      case TIMESTAMP:
        lines.push(
          '  {',
          `    const length = lengths[${c}];`,
          '    let value = NaN;',
          `    if (from + length <= end && (from + length === end || bytes[from + length] === ${D})) value = parseTimestamp(bytes, from, from + length);`,
          `    if (value === value) { i = from + length; nulls[${c}] = 0; nums[${c}] = value; }`,
          '    else {',
          `      while (i < end && bytes[i] !== ${D}) i++;`,
          `      if (i === from) nulls[${c}] = 1;`,
          '      else {',
          '        value = parseTimestamp(bytes, from, i);',
          '        if (value !== value) return false;',
          `        nulls[${c}] = 0; nums[${c}] = value; lengths[${c}] = i - from;`,
          '      }',
          '    }',
          '  }',
        );
        break;
      default:
        lines.push(
          `  while (i < end && bytes[i] !== ${D}) i++;`,
          `  if (i === from) nulls[${c}] = 1;`,
          `  else if (!decodeOther(bytes, from, i, ${c})) return false;`,
        );
    }
    if (c < last) lines.push('  if (i >= end) return false;', '  i++;');
  }
  lines.push('  return true;', '};');
  const { nums, ids, nulls } = slots;
  // The length of the last timestamp of each column: files mostly write every timestamp alike.
  const lengths = new Int32Array(ops.length).fill(23);
  const decodeOther = (bytes: Uint8Array, from: number, to: number, c: number): boolean => {
    nulls[c] = 0;
    return decodeField(types[c] as LocalType, bytes, from, to, c, slots, interners[c]);
  };
  const build = compiledFactory<FastPath>(
    ['nums', 'ids', 'nulls', 'interners', 'lengths', 'parseTimestamp', 'decodeOther', 'FNV_OFFSET', 'FNV_PRIME'],
    lines.join('\n'),
  );
  return build(nums, ids, nulls, interners, lengths, parseTimestampBytes, decodeOther, FNV_OFFSET, FNV_PRIME);
}

function ndjsonDecoder(
  columns: readonly LocalColumn[],
  needed: readonly number[],
  interners: readonly (Interner | undefined)[],
  slots: RowSlots,
): RowDecoder {
  const decoder = new TextDecoder();
  return {
    slots,
    decode(bytes, start, end) {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(decoder.decode(bytes.subarray(start, end))) as Record<string, unknown>;
      } catch {
        throw new LakegateError('INVALID_REQUEST', 'A line of an NDJSON dataset is not valid JSON.');
      }
      for (const c of needed) {
        const column = columns[c] as LocalColumn;
        const value = record[column.name];
        if (value === null || value === undefined) {
          slots.nulls[c] = 1;
          continue;
        }
        slots.nulls[c] = 0;
        let number: number | undefined;
        switch (column.type) {
          case 'varchar':
            slots.ids[c] = (interners[c] as Interner).internString(
              typeof value === 'string' ? value : JSON.stringify(value),
            );
            continue;
          case 'boolean':
            number = typeof value === 'boolean' ? Number(value) : undefined;
            break;
          case 'date':
            number = typeof value === 'string' ? parseDate(value) : undefined;
            break;
          case 'timestamp':
            number = typeof value === 'string' ? parseTimestamp(value) : undefined;
            break;
          default:
            number = typeof value === 'number' ? value : undefined;
        }
        if (number === undefined) {
          const text = new TextEncoder().encode(String(value));
          throw conversionError(column, text, 0, text.length);
        }
        slots.nums[c] = number;
      }
    },
  };
}

/**
 * A decoder for the dataset's `columns` (the combined types of its files) that fills the slots of the `needed`
 * column indexes. String columns need an interner each (`interners[c]`). Decoders of several file formats may
 * share one set of slots, which compiled predicates and accumulators read.
 */
export function createRowDecoder(
  layout: FileLayout,
  columns: readonly LocalColumn[],
  needed: readonly number[],
  interners: readonly (Interner | undefined)[],
  slots: RowSlots = new RowSlots(columns.length),
): RowDecoder {
  if (layout.format === 'pgcopy') return copyDecoder(columns, needed, interners, slots, layout.columns.length);
  return layout.format === 'ndjson'
    ? ndjsonDecoder(columns, needed, interners, slots)
    : delimitedDecoder(layout, columns, needed, interners, slots);
}

/**
 * Decoders made on demand, one per layout shape (format, delimiter, quoting), all filling the same slots: the
 * files of one dataset may differ in dialect.
 */
export function decoderCache(
  columns: readonly LocalColumn[],
  needed: readonly number[],
  interners: readonly (Interner | undefined)[],
  slots: RowSlots,
): (layout: FileLayout) => RowDecoder {
  const decoders = new Map<string, RowDecoder>();
  return (layout) => {
    const key = `${layout.format}/${layout.delimiter}/${layout.quoted}`;
    let decoder = decoders.get(key);
    if (!decoder) {
      decoder = createRowDecoder(layout, columns, needed, interners, slots);
      decoders.set(key, decoder);
    }
    return decoder;
  };
}
