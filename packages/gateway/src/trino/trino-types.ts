import { randomUUID } from 'node:crypto';
import type { ColumnType } from '@lakegate/engine-api';
import { formatDate, formatTime, formatTimestampMillis } from '../query/encode-values.js';

/** Trino's type signature, as clients decode column types. */
export interface TypeSignature {
  readonly rawType: string;
  readonly arguments: readonly (
    | { readonly kind: 'LONG'; readonly value: number }
    | { readonly kind: 'TYPE'; readonly value: TypeSignature }
    | {
        readonly kind: 'NAMED_TYPE';
        readonly value: { readonly fieldName: { readonly name: string }; readonly typeSignature: TypeSignature };
      }
  )[];
}

export interface TrinoColumnType {
  /** The type as Trino writes it, e.g. `decimal(18,2)`, `array(bigint)`, `timestamp(3)`. */
  readonly type: string;
  readonly typeSignature: TypeSignature;
  /** Encodes a non-null batch value the way Trino's client protocol does. */
  readonly encode: (value: unknown) => unknown;
}

const simple = (rawType: string, encode: (value: unknown) => unknown = (v) => v): TrinoColumnType => ({
  type: rawType,
  typeSignature: { rawType, arguments: [] },
  encode,
});
const withLongs = (rawType: string, args: readonly number[], encode: (value: unknown) => unknown): TrinoColumnType => ({
  type: `${rawType}(${args.join(',')})`,
  typeSignature: { rawType, arguments: args.map((value) => ({ kind: 'LONG' as const, value })) },
  encode,
});

const VARCHAR_MAX = 2147483647;

/**
 * What marks, in a value, the digits of an integer JSON.stringify cannot write exactly: a text no value holds, as
 * it is drawn anew by each process.
 */
const EXACT_MARK = `~exact-${randomUUID()}~`;
const EXACT_STRING = new RegExp(`"${EXACT_MARK}(-?\\d+)"`, 'g');

/** A bigint as a JSON number when it is safe, else as a marked string of its digits (see {@link exactNumbers}). */
function exactNumber(value: unknown): unknown {
  const n = value as bigint | number;
  if (typeof n === 'number' || (n <= Number.MAX_SAFE_INTEGER && n >= -Number.MAX_SAFE_INTEGER)) return Number(n);
  return `${EXACT_MARK}${n}`;
}

/** A row's JSON text with each marked bigint (see {@link exactNumber}) written as the number it is, every digit. */
export const exactNumbers = (json: string): string =>
  json.includes(EXACT_MARK) ? json.replace(EXACT_STRING, '$1') : json;

/** `HH:MM:SS.mmm` for microseconds since midnight. */
function time3(micros: bigint): string {
  const [whole, fraction = ''] = formatTime(micros).split('.');
  return `${whole}.${fraction.padEnd(3, '0').slice(0, 3)}`;
}

/** Milliseconds precision, as `timestamp(3)`: `YYYY-MM-DD HH:MM:SS.mmm`. */
const timestamp3 = (micros: bigint): string => formatTimestampMillis(micros, ' ');

function float(value: unknown): unknown {
  const n = value as number;
  if (Number.isNaN(n)) return 'NaN';
  if (n === Number.POSITIVE_INFINITY) return 'Infinity';
  if (n === Number.NEGATIVE_INFINITY) return '-Infinity';
  return n;
}

/** Maps an engine column type to Trino's name, signature and value encoding. */
export function trinoType(type: ColumnType): TrinoColumnType {
  const sql = type.sqlType.toUpperCase();
  switch (type.kind) {
    case 'boolean':
      return simple('boolean');
    case 'integer':
      if (sql === 'TINYINT') return simple('tinyint');
      if (sql === 'SMALLINT' || sql === 'UTINYINT') return simple('smallint');
      if (sql === 'UINTEGER') return simple('bigint');
      return simple('integer');
    case 'bigint':
      if (sql === 'HUGEINT' || sql === 'UHUGEINT' || sql === 'UBIGINT') {
        return withLongs('decimal', [38, 0], (v) => (v as bigint).toString());
      }
      // Trino sends bigint as a JSON number with every digit (Java clients read it exactly; JavaScript ones round
      // past 2^53, as they do with Trino): past 2^53, as a marked string whose quotes exactNumbers takes off.
      return simple('bigint', exactNumber);
    case 'float':
      return simple(sql === 'FLOAT' || sql === 'REAL' ? 'real' : 'double', float);
    case 'decimal': {
      const match = /\((\d+)\s*,\s*(\d+)\)/.exec(type.sqlType);
      return withLongs('decimal', [Number(match?.[1] ?? 18), Number(match?.[2] ?? 3)], (v) => String(v));
    }
    case 'string':
      return {
        type: 'varchar',
        typeSignature: { rawType: 'varchar', arguments: [{ kind: 'LONG', value: VARCHAR_MAX }] },
        encode: (v) => v,
      };
    case 'blob':
      return simple('varbinary', (v) => Buffer.from(v as Uint8Array).toString('base64'));
    case 'date':
      return simple('date', (v) => formatDate(v as number));
    case 'time':
      return withLongs('time', [3], (v) => time3(v as bigint));
    case 'timestamp':
      return withLongs('timestamp', [3], (v) => timestamp3(v as bigint));
    case 'timestamptz': {
      const base = withLongs('timestamp with time zone', [3], (v) => `${timestamp3(v as bigint)} UTC`);
      return { ...base, type: 'timestamp(3) with time zone' };
    }
    case 'list': {
      const element = trinoType(type.element ?? { kind: 'string', sqlType: 'VARCHAR' });
      return {
        type: `array(${element.type})`,
        typeSignature: { rawType: 'array', arguments: [{ kind: 'TYPE', value: element.typeSignature }] },
        encode: (v) => (v as readonly unknown[]).map((item) => (item === null ? null : element.encode(item))),
      };
    }
    case 'struct': {
      const fields = (type.fields ?? []).map((f) => ({ name: f.name, type: trinoType(f.type) }));
      return {
        type: `row(${fields.map((f) => `${JSON.stringify(f.name)} ${f.type.type}`).join(', ')})`,
        typeSignature: {
          rawType: 'row',
          arguments: fields.map((f) => ({
            kind: 'NAMED_TYPE' as const,
            value: { fieldName: { name: f.name }, typeSignature: f.type.typeSignature },
          })),
        },
        // Trino sends a ROW as the array of its field values.
        encode: (v) =>
          fields.map((f) => {
            const item = (v as Readonly<Record<string, unknown>>)[f.name];
            return item === null || item === undefined ? null : f.type.encode(item);
          }),
      };
    }
    case 'map': {
      const key = trinoType(type.key ?? { kind: 'string', sqlType: 'VARCHAR' });
      const value = trinoType(type.value ?? { kind: 'string', sqlType: 'VARCHAR' });
      return {
        type: `map(${key.type}, ${value.type})`,
        typeSignature: {
          rawType: 'map',
          arguments: [
            { kind: 'TYPE', value: key.typeSignature },
            { kind: 'TYPE', value: value.typeSignature },
          ],
        },
        encode: (v) =>
          Object.fromEntries(
            (v as readonly { key: unknown; value: unknown }[]).map((e) => [
              // A key is a JSON name, whole digits and all: never a marked bigint (see exactNumber).
              e.key === null ? 'null' : typeof e.key === 'bigint' ? String(e.key) : String(key.encode(e.key)),
              e.value === null ? null : value.encode(e.value),
            ]),
          ),
      };
    }
    default:
      return {
        type: 'varchar',
        typeSignature: { rawType: 'varchar', arguments: [{ kind: 'LONG', value: VARCHAR_MAX }] },
        encode: (v) => String(v),
      };
  }
}
