import type { ColumnType } from '@lakegate/engine-api';

/**
 * Encoders from the engine-api batch representation to the wire. JSON values are JSON-native where exact
 * (integers within ±(2^53−1), finite doubles, booleans, strings, null); wider integers, decimals and non-finite
 * doubles become strings; dates and timestamps ISO 8601 strings; blobs base64.
 */

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MICROS_PER_SECOND = 1_000_000n;
const MICROS_PER_DAY = 86_400_000_000n;

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

function fraction(micros: bigint): string {
  if (micros === 0n) return '';
  return `.${micros.toString().padStart(6, '0').replace(/0+$/, '')}`;
}

/** `YYYY-MM-DD` for days since 1970-01-01. */
export function formatDate(days: number): string {
  return new Date(days * 86_400_000).toISOString().slice(0, -14);
}

/** `YYYY-MM-DDTHH:MM:SS[.ffffff]` for microseconds since the epoch. */
export function formatTimestamp(micros: bigint): string {
  const seconds = floorDiv(micros, MICROS_PER_SECOND);
  const iso = new Date(Number(seconds) * 1000).toISOString();
  return `${iso.slice(0, -5)}${fraction(micros - seconds * MICROS_PER_SECOND)}`;
}

/** `HH:MM:SS[.ffffff]` for microseconds since midnight. */
export function formatTime(micros: bigint): string {
  const inDay = ((micros % MICROS_PER_DAY) + MICROS_PER_DAY) % MICROS_PER_DAY;
  const seconds = inDay / MICROS_PER_SECOND;
  const hh = String(seconds / 3600n).padStart(2, '0');
  const mm = String((seconds / 60n) % 60n).padStart(2, '0');
  const ss = String(seconds % 60n).padStart(2, '0');
  return `${hh}:${mm}:${ss}${fraction(inDay % MICROS_PER_SECOND)}`;
}

/** A value as a JSON-compatible JavaScript value (before `JSON.stringify`). */
export type ToJson = (value: unknown) => unknown;

export function jsonValueEncoder(type: ColumnType): ToJson {
  switch (type.kind) {
    case 'boolean':
    case 'integer':
    case 'string':
      return (v) => v;
    case 'bigint':
      return (v) => {
        const n = v as bigint;
        return n <= MAX_SAFE && n >= -MAX_SAFE ? Number(n) : n.toString();
      };
    case 'float':
      return (v) => (Number.isFinite(v) ? v : String(v));
    case 'date':
      return (v) => formatDate(v as number);
    case 'time':
      return (v) => formatTime(v as bigint);
    case 'timestamp':
      return (v) => formatTimestamp(v as bigint);
    case 'timestamptz':
      return (v) => `${formatTimestamp(v as bigint)}Z`;
    case 'blob':
      return (v) => Buffer.from(v as Uint8Array).toString('base64');
    case 'list': {
      const element = type.element ? jsonValueEncoder(type.element) : String;
      return (v) => (v as readonly unknown[]).map((item) => (item === null ? null : element(item)));
    }
    case 'struct': {
      const fields = (type.fields ?? []).map((f) => [f.name, jsonValueEncoder(f.type)] as const);
      return (v) => {
        const record = v as Readonly<Record<string, unknown>>;
        const out: Record<string, unknown> = {};
        for (const [name, encode] of fields) {
          const item = record[name];
          out[name] = item === null || item === undefined ? null : encode(item);
        }
        return out;
      };
    }
    case 'map': {
      const key = type.key ? jsonValueEncoder(type.key) : String;
      const value = type.value ? jsonValueEncoder(type.value) : String;
      return (v) =>
        (v as readonly { key: unknown; value: unknown }[]).map((e) => ({
          key: e.key === null ? null : key(e.key),
          value: e.value === null ? null : value(e.value),
        }));
    }
    default:
      return (v) => String(v);
  }
}

/** A value as a CSV field, quoted when it must be (RFC 4180). NULL is the empty field. */
export type ToCsv = (value: unknown) => string;

export const quoteCsv = (text: string): string =>
  /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;

export function csvValueEncoder(type: ColumnType): ToCsv {
  const json = jsonValueEncoder(type);
  switch (type.kind) {
    case 'list':
    case 'struct':
    case 'map':
      return (v) => quoteCsv(JSON.stringify(json(v)));
    default:
      return (v) => quoteCsv(String(json(v)));
  }
}
