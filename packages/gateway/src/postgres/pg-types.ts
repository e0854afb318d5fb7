import type { ColumnType } from '@lakegate/engine-api';
import { formatDate, formatTime, formatTimestamp, jsonValueEncoder } from '../query/encode-values.js';
import type { MessageBuilder } from './pg-wire.js';

/**
 * Postgres types for engine columns: the type OID every client reads from RowDescription to pick its decoder, and
 * each value in the text and binary formats of the protocol.
 */

/** Type OIDs, as in Postgres's `pg_type.oid`. */
export const OID = {
  bool: 16,
  bytea: 17,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  unknown: 705,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  interval: 1186,
  numeric: 1700,
  uuid: 2950,
} as const;

/** The array type of each element type. */
export const ARRAY_OID: Readonly<Record<number, number>> = {
  [OID.bool]: 1000,
  [OID.bytea]: 1001,
  [OID.int2]: 1005,
  [OID.int4]: 1007,
  [OID.int8]: 1016,
  [OID.text]: 1009,
  [OID.json]: 199,
  [OID.float4]: 1021,
  [OID.float8]: 1022,
  [OID.varchar]: 1015,
  [OID.date]: 1182,
  [OID.time]: 1183,
  [OID.timestamp]: 1115,
  [OID.timestamptz]: 1185,
  [OID.interval]: 1187,
  [OID.numeric]: 1231,
  [OID.uuid]: 2951,
};

/** A column as the protocol describes it (RowDescription) and encodes it (DataRow). */
export interface PgColumnType {
  readonly oid: number;
  /** `pg_type.typlen`: bytes of a fixed-size value, -1 for variable size. */
  readonly size: number;
  /** The type modifier (a numeric's precision and scale), -1 when none. */
  readonly modifier: number;
  /** A non-null value as text. */
  readonly text: (value: unknown) => string;
  /** Writes a non-null value's binary form (without its length). */
  readonly binary: (out: MessageBuilder, value: unknown) => void;
}

const EPOCH_2000_DAYS = 10_957;
const EPOCH_2000_MICROS = 946_684_800_000_000n;

function floatText(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return 'Infinity';
  if (value === Number.NEGATIVE_INFINITY) return '-Infinity';
  return String(value).replace(/e([+-])(\d)$/, 'e$10$2');
}

/** The shortest text that reads back as the same single-precision value, as Postgres prints a `real`. */
function float4Text(value: number): string {
  if (!Number.isFinite(value)) return floatText(value);
  const single = Math.fround(value);
  for (let digits = 1; digits < 9; digits++) {
    const text = single.toPrecision(digits);
    if (Math.fround(Number(text)) === single) return floatText(Number(text));
  }
  return floatText(Number(single.toPrecision(9)));
}

/** Months, days and microseconds of the engine's ISO 8601 interval text (`P1M2DT3.5S`). */
export function parseIsoInterval(text: string): { months: number; days: number; micros: bigint } {
  const match =
    /^P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?)(\d+)(?:\.(\d+))?S)?)?$/.exec(text);
  if (!match) return { months: 0, days: 0, micros: 0n };
  const [, y, mo, d, h, mi, sign, s, frac] = match;
  const seconds = BigInt(s ?? 0) * 1_000_000n + BigInt((frac ?? '').padEnd(6, '0').slice(0, 6) || 0);
  const micros = BigInt(h ?? 0) * 3_600_000_000n + BigInt(mi ?? 0) * 60_000_000n + (sign === '-' ? -seconds : seconds);
  return { months: Number(y ?? 0) * 12 + Number(mo ?? 0), days: Number(d ?? 0), micros };
}

/** An interval as Postgres prints it (IntervalStyle `postgres`): `1 year 2 mons 3 days 04:05:06.5`. */
export function intervalText(iso: string): string {
  const { months, days, micros } = parseIsoInterval(iso);
  const parts: string[] = [];
  const years = Math.trunc(months / 12);
  const mons = months % 12;
  const unit = (n: number, one: string, many: string) => `${n} ${Math.abs(n) === 1 ? one : many}`;
  if (years) parts.push(unit(years, 'year', 'years'));
  if (mons) parts.push(unit(mons, 'mon', 'mons'));
  if (days) parts.push(unit(days, 'day', 'days'));
  if (micros !== 0n || parts.length === 0) {
    const negative = micros < 0n;
    const abs = negative ? -micros : micros;
    const totalSeconds = abs / 1_000_000n;
    const fraction = (abs % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '');
    const hh = String(totalSeconds / 3600n).padStart(2, '0');
    const mm = String((totalSeconds / 60n) % 60n).padStart(2, '0');
    const ss = String(totalSeconds % 60n).padStart(2, '0');
    parts.push(`${negative ? '-' : ''}${hh}:${mm}:${ss}${fraction ? `.${fraction}` : ''}`);
  }
  return parts.join(' ');
}

/** Writes a decimal text (`-12.50`) in numeric's binary form: base-10000 digits, weight, sign and scale. */
export function writeNumeric(out: MessageBuilder, text: string): void {
  const match = /^(-?)(\d*)(?:\.(\d*))?$/.exec(text.trim());
  if (!match) {
    // NaN (and anything else the engine could render) is numeric's NaN.
    out
      .int16(0)
      .int16(0)
      .int16(0xc000 - 0x10000)
      .int16(0);
    return;
  }
  const negative = match[1] === '-';
  const integer = (match[2] ?? '').replace(/^0+/, '');
  const fraction = match[3] ?? '';
  const scale = fraction.length;
  // Group digits by four from the decimal point: the integer part left-padded, the fraction right-padded.
  const intPadded = integer.padStart(Math.ceil(integer.length / 4) * 4, '0');
  const fracPadded = fraction.padEnd(Math.ceil(fraction.length / 4) * 4, '0');
  const groups: number[] = [];
  for (let i = 0; i < intPadded.length; i += 4) groups.push(Number(intPadded.slice(i, i + 4)));
  for (let i = 0; i < fracPadded.length; i += 4) groups.push(Number(fracPadded.slice(i, i + 4)));
  let weight = intPadded.length / 4 - 1;
  // Leading and trailing zero groups are not sent.
  while (groups.length > 0 && groups[0] === 0) {
    groups.shift();
    weight--;
  }
  while (groups.length > 0 && groups[groups.length - 1] === 0) groups.pop();
  if (groups.length === 0) weight = 0;
  out.int16(groups.length);
  out.int16(weight);
  out.int16(negative && groups.length > 0 ? 0x4000 : 0);
  out.int16(scale);
  for (const group of groups) out.int16(group);
}

/** Element text inside an array literal: quoted when it would otherwise be misread. */
function arrayElementText(text: string): string {
  if (text === '' || /^null$/i.test(text) || /[{}",\\\s]/.test(text)) {
    return `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  }
  return text;
}

const bigintToText = (value: unknown): string => String(value);

const jsonText = (type: ColumnType): ((value: unknown) => string) => {
  const toJson = jsonValueEncoder(type);
  return (value) => JSON.stringify(toJson(value));
};

const writeText = (text: (value: unknown) => string) => (out: MessageBuilder, value: unknown) => {
  out.text(text(value));
};

function scalar(
  oid: number,
  size: number,
  text: (value: unknown) => string,
  binary: (out: MessageBuilder, value: unknown) => void = writeText(text),
  modifier = -1,
): PgColumnType {
  return { oid, size, modifier, text, binary };
}

function uuidBytes(text: string): Buffer {
  return Buffer.from(text.replaceAll('-', ''), 'hex');
}

/** The Postgres type of an engine column, and how its values are written. */
export function pgType(type: ColumnType): PgColumnType {
  const sql = type.sqlType.toUpperCase();
  switch (type.kind) {
    case 'boolean':
      return scalar(
        OID.bool,
        1,
        (v) => (v ? 't' : 'f'),
        (out, v) => out.byte(v ? 1 : 0),
      );
    case 'integer':
      if (sql === 'TINYINT' || sql === 'SMALLINT' || sql === 'UTINYINT')
        return scalar(OID.int2, 2, String, (out, v) => out.int16(v as number));
      if (sql === 'UINTEGER') return scalar(OID.int8, 8, String, (out, v) => out.int64(BigInt(v as number)));
      return scalar(OID.int4, 4, String, (out, v) => out.int32(v as number));
    case 'bigint':
      if (sql === 'BIGINT' || sql === 'INT64')
        return scalar(OID.int8, 8, bigintToText, (out, v) => out.int64(v as bigint));
      return scalar(OID.numeric, -1, bigintToText, (out, v) => writeNumeric(out, String(v)));
    case 'float':
      if (sql === 'FLOAT' || sql === 'REAL' || sql === 'FLOAT4')
        return scalar(
          OID.float4,
          4,
          (v) => float4Text(v as number),
          (out, v) => out.float32(v as number),
        );
      return scalar(
        OID.float8,
        8,
        (v) => floatText(v as number),
        (out, v) => out.float64(v as number),
      );
    case 'decimal': {
      const precision = /\((\d+),\s*(\d+)\)/.exec(sql);
      const modifier = precision ? ((Number(precision[1]) << 16) | Number(precision[2])) + 4 : -1;
      return scalar(OID.numeric, -1, String, (out, v) => writeNumeric(out, String(v)), modifier);
    }
    case 'string':
      if (sql === 'UUID') return scalar(OID.uuid, 16, String, (out, v) => out.bytes(uuidBytes(String(v))));
      if (sql === 'JSON') return scalar(OID.json, -1, String);
      return scalar(OID.text, -1, String);
    case 'blob':
      return scalar(
        OID.bytea,
        -1,
        (v) => `\\x${Buffer.from(v as Uint8Array).toString('hex')}`,
        (out, v) => out.bytes(v as Uint8Array),
      );
    case 'date':
      return scalar(
        OID.date,
        4,
        (v) => formatDate(v as number),
        (out, v) => out.int32((v as number) - EPOCH_2000_DAYS),
      );
    case 'time':
      return scalar(
        OID.time,
        8,
        (v) => formatTime(v as bigint),
        (out, v) => out.int64(v as bigint),
      );
    case 'timestamp':
      return scalar(
        OID.timestamp,
        8,
        (v) => formatTimestamp(v as bigint, ' '),
        (out, v) => out.int64((v as bigint) - EPOCH_2000_MICROS),
      );
    case 'timestamptz':
      // The session's TimeZone is UTC (announced at login), so values are printed in UTC.
      return scalar(
        OID.timestamptz,
        8,
        (v) => `${formatTimestamp(v as bigint, ' ')}+00`,
        (out, v) => out.int64((v as bigint) - EPOCH_2000_MICROS),
      );
    case 'interval':
      return scalar(
        OID.interval,
        16,
        (v) => intervalText(String(v)),
        (out, v) => {
          const { months, days, micros } = parseIsoInterval(String(v));
          out.int64(micros).int32(days).int32(months);
        },
      );
    case 'list':
      return arrayType(type.element);
    case 'struct':
    case 'map':
      return scalar(OID.json, -1, jsonText(type));
    default:
      return scalar(OID.text, -1, String);
  }
}

/** A one-dimensional array of `element` (text elements when the element type has no array type). */
function arrayType(elementType: ColumnType | undefined): PgColumnType {
  const found = elementType ? pgType(elementType) : undefined;
  const element =
    found && ARRAY_OID[found.oid] !== undefined && elementType?.kind !== 'list' ? found : scalar(OID.text, -1, String);
  const nested = elementType?.kind === 'list' && found ? found : undefined;
  const oid = ARRAY_OID[element.oid] as number;
  const text = (value: unknown): string => {
    const items = value as readonly unknown[];
    return `{${items
      .map((item) => {
        if (item === null || item === undefined) return 'NULL';
        if (nested) return nested.text(item);
        return arrayElementText(element.text(item));
      })
      .join(',')}}`;
  };
  const binary = (out: MessageBuilder, value: unknown): void => {
    const items = value as readonly unknown[];
    if (items.length === 0) {
      out.int32(0).int32(0).int32(element.oid);
      return;
    }
    out.int32(1);
    out.int32(items.some((item) => item === null || item === undefined) ? 1 : 0);
    out.int32(element.oid);
    out.int32(items.length).int32(1);
    for (const item of items) {
      if (item === null || item === undefined) {
        out.int32(-1);
        continue;
      }
      const at = out.beginField();
      element.binary(out, item);
      out.endField(at);
    }
  };
  return { oid, size: -1, modifier: -1, text, binary: nested ? writeText(text) : binary };
}

/** Reads a parameter's text as the value the engine binds: typed where the client said which type it sends. */
export function textParameter(text: string, oid: number): unknown {
  switch (oid) {
    case OID.bool:
      return /^(t|true|y|yes|on|1)$/i.test(text.trim());
    case OID.int2:
    case OID.int4:
    case OID.int8: {
      const trimmed = text.trim();
      if (!/^[+-]?\d+$/.test(trimmed)) return text;
      return oid === OID.int8 ? BigInt(trimmed) : Number(trimmed);
    }
    case OID.float4:
    case OID.float8: {
      const value = Number(text.trim().replace(/^(-?)infinity$/i, '$1Infinity'));
      return Number.isNaN(value) && !/^nan$/i.test(text.trim()) ? text : value;
    }
    case OID.bytea:
      return text.startsWith('\\x') ? Buffer.from(text.slice(2), 'hex') : Buffer.from(text, 'latin1');
    default:
      // Numeric, dates, text and unknown types: the engine casts the text as it would a literal in that place.
      return text;
  }
}

/** Reads a numeric's binary form as decimal text. */
function readNumeric(bytes: Buffer): string {
  const count = bytes.readInt16BE(0);
  const weight = bytes.readInt16BE(2);
  const sign = bytes.readUInt16BE(4);
  const scale = bytes.readInt16BE(6);
  if (sign === 0xc000) return 'NaN';
  const groups = Array.from({ length: count }, (_, i) => bytes.readInt16BE(8 + i * 2));
  let integer = '';
  for (let w = weight, i = 0; w >= 0; w--, i++) integer += String(groups[i] ?? 0).padStart(4, '0');
  let fraction = '';
  for (let i = Math.max(0, weight + 1); i < count; i++) fraction += String(groups[i] ?? 0).padStart(4, '0');
  fraction = ('0000'.repeat(Math.max(0, -weight - 1)) + fraction).padEnd(scale, '0').slice(0, scale);
  const text = `${integer.replace(/^0+(?=\d)/, '') || '0'}${scale > 0 ? `.${fraction}` : ''}`;
  return sign === 0x4000 ? `-${text}` : text;
}

/** Reads a parameter's binary form, for the types clients send in binary; undefined for a type not read here. */
export function binaryParameter(bytes: Buffer, oid: number): unknown {
  const need = (n: number): void => {
    if (bytes.length !== n) throw new RangeError(`expected ${n} bytes, got ${bytes.length}`);
  };
  switch (oid) {
    case OID.bool:
      need(1);
      return bytes[0] !== 0;
    case OID.int2:
      need(2);
      return bytes.readInt16BE(0);
    case OID.int4:
      need(4);
      return bytes.readInt32BE(0);
    case OID.int8:
      need(8);
      return bytes.readBigInt64BE(0);
    case OID.float4:
      need(4);
      return bytes.readFloatBE(0);
    case OID.float8:
      need(8);
      return bytes.readDoubleBE(0);
    case OID.bytea:
      return Buffer.from(bytes);
    case OID.text:
    case OID.varchar:
    case OID.json:
    case OID.unknown:
    case 0:
      return bytes.toString('utf8');
    case OID.uuid: {
      need(16);
      const hex = bytes.toString('hex');
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    }
    case OID.date:
      need(4);
      return formatDate(bytes.readInt32BE(0) + EPOCH_2000_DAYS);
    case OID.timestamp:
    case OID.timestamptz:
      need(8);
      return formatTimestamp(bytes.readBigInt64BE(0) + EPOCH_2000_MICROS, ' ');
    case OID.numeric:
      return readNumeric(bytes);
    default:
      return undefined;
  }
}
