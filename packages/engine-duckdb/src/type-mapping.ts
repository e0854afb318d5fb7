import {
  type DuckDBArrayType,
  type DuckDBDataChunk,
  type DuckDBListType,
  type DuckDBMapType,
  type DuckDBStructType,
  type DuckDBType,
  DuckDBTypeId,
} from '@duckdb/node-api';
import type { ColumnType, ValueKind } from '@lakegate/engine-api';

/** Converts one non-null value as `getItem` returns it into the engine-api batch representation. */
type Convert = (value: unknown) => unknown;

const toText: Convert = (value) => String(value);
const field =
  <K extends string>(key: K): Convert =>
  (value) =>
    (value as Record<K, unknown>)[key];
const scaled =
  <K extends string>(key: K, toMicros: (v: bigint) => bigint): Convert =>
  (value) =>
    toMicros((value as Record<K, bigint>)[key]);

/** ISO 8601 duration of a DuckDB interval, e.g. `P1M2DT3.5S`; `PT0S` for zero. */
export function intervalToIso(months: number, days: number, micros: bigint): string {
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  const seconds = abs / 1_000_000n;
  const fraction = (abs % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '');
  let out = 'P';
  if (months) out += `${months}M`;
  if (days) out += `${days}D`;
  if (abs > 0n) out += `T${negative ? '-' : ''}${seconds}${fraction ? `.${fraction}` : ''}S`;
  return out === 'P' ? 'PT0S' : out;
}

export interface Mapping {
  readonly type: ColumnType;
  /** `undefined` when values pass through unchanged (the common, fast case). */
  readonly convert: Convert | undefined;
}

const simple = (kind: ValueKind, sqlType: string, convert?: Convert): Mapping => ({
  type: { kind, sqlType },
  convert,
});

/** Maps a DuckDB type to its engine-api column type and the converter for its values. */
export function mapType(type: DuckDBType): Mapping {
  const sqlType = type.toString();
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return simple('boolean', sqlType);
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
      return simple('integer', sqlType);
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
      return simple('bigint', sqlType);
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
      return simple('float', sqlType);
    case DuckDBTypeId.DECIMAL:
      return simple('decimal', sqlType, toText);
    case DuckDBTypeId.VARCHAR:
      return simple('string', sqlType);
    case DuckDBTypeId.ENUM:
    case DuckDBTypeId.UUID:
      return simple('string', sqlType, toText);
    case DuckDBTypeId.BLOB:
      return simple('blob', sqlType, field('bytes'));
    case DuckDBTypeId.DATE:
      return simple('date', sqlType, field('days'));
    case DuckDBTypeId.TIME:
      return simple('time', sqlType, field('micros'));
    case DuckDBTypeId.TIMESTAMP:
      return simple('timestamp', sqlType, field('micros'));
    case DuckDBTypeId.TIMESTAMP_S:
      return simple(
        'timestamp',
        sqlType,
        scaled('seconds', (s) => s * 1_000_000n),
      );
    case DuckDBTypeId.TIMESTAMP_MS:
      return simple(
        'timestamp',
        sqlType,
        scaled('millis', (ms) => ms * 1_000n),
      );
    case DuckDBTypeId.TIMESTAMP_NS:
      return simple(
        'timestamp',
        sqlType,
        scaled('nanos', (ns) => ns / 1_000n),
      );
    case DuckDBTypeId.TIMESTAMP_TZ:
      return simple('timestamptz', sqlType, field('micros'));
    case DuckDBTypeId.INTERVAL:
      return simple('interval', sqlType, (v) => {
        const i = v as { months: number; days: number; micros: bigint };
        return intervalToIso(i.months, i.days, i.micros);
      });
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY: {
      const element = mapType((type as DuckDBListType | DuckDBArrayType).valueType);
      const convert = element.convert;
      return {
        type: { kind: 'list', sqlType, element: element.type },
        convert: (v) => {
          const items = (v as { items: readonly unknown[] }).items;
          return convert ? items.map((item) => (item === null ? null : convert(item))) : items;
        },
      };
    }
    case DuckDBTypeId.STRUCT: {
      const struct = type as DuckDBStructType;
      const fields = struct.entryNames.map((name, i) => ({
        name,
        mapping: mapType(struct.entryTypes[i] as DuckDBType),
      }));
      return {
        type: { kind: 'struct', sqlType, fields: fields.map((f) => ({ name: f.name, type: f.mapping.type })) },
        convert: (v) => {
          const entries = (v as { entries: Readonly<Record<string, unknown>> }).entries;
          const out: Record<string, unknown> = {};
          for (const { name, mapping } of fields) {
            const item = entries[name] ?? null;
            out[name] = item === null || !mapping.convert ? item : mapping.convert(item);
          }
          return out;
        },
      };
    }
    case DuckDBTypeId.MAP: {
      const map = type as DuckDBMapType;
      const key = mapType(map.keyType);
      const value = mapType(map.valueType);
      const conv = (m: Mapping, item: unknown): unknown => (item === null || !m.convert ? item : m.convert(item));
      return {
        type: { kind: 'map', sqlType, key: key.type, value: value.type },
        convert: (v) =>
          (v as { entries: readonly { key: unknown; value: unknown }[] }).entries.map((e) => ({
            key: conv(key, e.key),
            value: conv(value, e.value),
          })),
      };
    }
    case DuckDBTypeId.SQLNULL:
      return simple('other', sqlType);
    default:
      return simple('other', sqlType, toText);
  }
}

/** Reads columns `[0, columnCount)` of rows `[0, rowCount)` of a chunk into plain arrays. */
export function readChunk(chunk: DuckDBDataChunk, mappings: readonly Mapping[], rowCount: number): unknown[][] {
  const columns: unknown[][] = new Array(mappings.length);
  for (let c = 0; c < mappings.length; c++) {
    const vector = chunk.getColumnVector(c);
    const convert = (mappings[c] as Mapping).convert;
    const out = new Array<unknown>(rowCount);
    if (convert) {
      for (let r = 0; r < rowCount; r++) {
        const value = vector.getItem(r);
        out[r] = value === null ? null : convert(value);
      }
    } else {
      for (let r = 0; r < rowCount; r++) out[r] = vector.getItem(r);
    }
    columns[c] = out;
  }
  return columns;
}

export type { Mapping as TypeMapping };
