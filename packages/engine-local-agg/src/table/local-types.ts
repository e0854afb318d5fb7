import type { ColumnType } from '@lakegate/engine-api';

/**
 * Column types local-agg reads. Values travel through the pass as numbers (dates as days, timestamps as
 * microseconds since 1970, booleans as 0/1) or, for strings, as ids of an interner; they become the engine-api's
 * batch representation only in the result.
 */
export type LocalType = 'bigint' | 'double' | 'boolean' | 'date' | 'timestamp' | 'varchar';

export interface LocalColumn {
  readonly name: string;
  readonly type: LocalType;
}

const COLUMN_TYPES: Readonly<Record<LocalType, ColumnType>> = {
  bigint: { kind: 'bigint', sqlType: 'BIGINT' },
  double: { kind: 'float', sqlType: 'DOUBLE' },
  boolean: { kind: 'boolean', sqlType: 'BOOLEAN' },
  date: { kind: 'date', sqlType: 'DATE' },
  timestamp: { kind: 'timestamp', sqlType: 'TIMESTAMP' },
  varchar: { kind: 'string', sqlType: 'VARCHAR' },
};

export const HUGEINT: ColumnType = { kind: 'bigint', sqlType: 'HUGEINT' };

export function columnType(type: LocalType): ColumnType {
  return COLUMN_TYPES[type];
}

/** A number of the pass as the engine-api value of `type`. */
export function toBatchValue(type: LocalType, value: number): unknown {
  switch (type) {
    case 'bigint':
    case 'timestamp':
      return BigInt(Math.round(value));
    case 'boolean':
      return value !== 0;
    default:
      return value;
  }
}

/**
 * A decoder's plan for a row: for each column, the code `codes` gives its type when it is needed (0 when it is
 * not), and the last needed column (-1 when none is), past which a row is not read.
 */
export function neededColumns(
  columns: readonly LocalColumn[],
  needed: readonly number[],
  codes: Readonly<Record<LocalType, number>>,
): { readonly ops: Uint8Array; readonly last: number } {
  const ops = new Uint8Array(columns.length);
  for (const c of needed) ops[c] = codes[(columns[c] as LocalColumn).type];
  return { ops, last: needed.length === 0 ? -1 : Math.max(...needed) };
}

export const isNumeric = (type: LocalType): boolean => type === 'bigint' || type === 'double';

const DAY_MICROS = 86_400_000_000;

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?$/;

/** `YYYY-MM-DD` as days, or undefined. */
export function parseDate(text: string): number | undefined {
  const m = DATE.exec(text.trim());
  return m ? daysFromCivil(Number(m[1]), Number(m[2]), Number(m[3])) : undefined;
}

/** `YYYY-MM-DD[ HH:MM[:SS[.ffffff]]]` as microseconds since 1970, or undefined. */
export function parseTimestamp(text: string): number | undefined {
  const m = TIMESTAMP.exec(text.trim());
  if (!m) return undefined;
  const days = daysFromCivil(Number(m[1]), Number(m[2]), Number(m[3]));
  const fraction = m[7] ? Number(m[7].padEnd(6, '0')) : 0;
  const seconds = Number(m[4] ?? 0) * 3600 + Number(m[5] ?? 0) * 60 + Number(m[6] ?? 0);
  return days * DAY_MICROS + seconds * 1_000_000 + fraction;
}

/** Sniffs one sample value's type, as DuckDB's CSV sniffer would (booleans, integers, doubles, dates, timestamps). */
export function sniffValue(text: string): LocalType {
  if (/^(true|false)$/i.test(text)) return 'boolean';
  // DuckDB's sniffer reads a leading minus but not a leading plus as part of a number.
  if (/^-?\d{1,18}$/.test(text)) return 'bigint';
  if (/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return 'double';
  if (DATE.test(text)) return 'date';
  if (TIMESTAMP.test(text)) return 'timestamp';
  return 'varchar';
}

/** The type of a column whose sampled values have these types: the narrowest that holds them all. */
export function widen(a: LocalType | undefined, b: LocalType): LocalType {
  if (a === undefined || a === b) return b;
  if ((a === 'bigint' && b === 'double') || (a === 'double' && b === 'bigint')) return 'double';
  if ((a === 'date' && b === 'timestamp') || (a === 'timestamp' && b === 'date')) return 'timestamp';
  return 'varchar';
}
