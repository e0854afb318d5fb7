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

/** `YYYY-MM-DD` for days since 1970-01-01. */
export function formatDate(days: number): string {
  return new Date(days * 86_400_000).toISOString().slice(0, -14);
}

/** Within this many microseconds of the epoch (about ±285 years) a timestamp's arithmetic is exact in a Number. */
const EXACT_MICROS = BigInt(Number.MAX_SAFE_INTEGER);
const MICROS_PER_DAY_NUMBER = 86_400_000_000;

/** The last day formatted: a result's timestamps mostly share their day with the row before. */
let lastDay = Number.NaN;
let lastDate = '';

function dateOfDay(day: number): string {
  if (day !== lastDay) {
    const iso = new Date(day * 86_400_000).toISOString();
    lastDate = iso.slice(0, iso.indexOf('T'));
    lastDay = day;
  }
  return lastDate;
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

function clock(seconds: number): string {
  return `${pad2(Math.floor(seconds / 3600))}:${pad2(Math.floor(seconds / 60) % 60)}:${pad2(seconds % 60)}`;
}

/** The timestamp's date, its seconds into the day and the microseconds past them, or undefined when not exact. */
function split(micros: bigint): { date: string; seconds: number; fraction: number } | undefined {
  if (micros > EXACT_MICROS || micros < -EXACT_MICROS) return undefined;
  const us = Number(micros);
  const day = Math.floor(us / MICROS_PER_DAY_NUMBER);
  const inDay = us - day * MICROS_PER_DAY_NUMBER;
  const seconds = Math.floor(inDay / 1_000_000);
  return { date: dateOfDay(day), seconds, fraction: inDay - seconds * 1_000_000 };
}

/** The same through BigInt and Date, for timestamps beyond the exact range. */
function splitWide(micros: bigint): { date: string; seconds: number; fraction: number } {
  const whole = floorDiv(micros, MICROS_PER_SECOND);
  const iso = new Date(Number(whole) * 1000).toISOString();
  const t = iso.indexOf('T');
  const [hh, mm, ss] = iso
    .slice(t + 1, t + 9)
    .split(':')
    .map(Number) as [number, number, number];
  return {
    date: iso.slice(0, t),
    seconds: hh * 3600 + mm * 60 + ss,
    fraction: Number(micros - whole * MICROS_PER_SECOND),
  };
}

/**
 * `YYYY-MM-DDTHH:MM:SS[.ffffff]` for microseconds since the epoch (`separator` between date and time). Formatted
 * with Number arithmetic and the day's date kept from the value before: results stream millions of these.
 */
export function formatTimestamp(micros: bigint, separator = 'T'): string {
  const { date, seconds, fraction } = split(micros) ?? splitWide(micros);
  return `${date}${separator}${clock(seconds)}${fraction === 0 ? '' : fractionText(fraction)}`;
}

/** `YYYY-MM-DD HH:MM:SS.mmm`: milliseconds always, the rest of a microsecond value floored. */
export function formatTimestampMillis(micros: bigint, separator = ' '): string {
  const { date, seconds, fraction } = split(micros) ?? splitWide(micros);
  const ms = Math.floor(fraction / 1000);
  return `${date}${separator}${clock(seconds)}.${ms < 10 ? `00${ms}` : ms < 100 ? `0${ms}` : ms}`;
}

function fractionText(micros: number): string {
  return `.${String(micros).padStart(6, '0').replace(/0+$/, '')}`;
}

/** `HH:MM:SS[.ffffff]` for microseconds since midnight. */
export function formatTime(micros: bigint): string {
  const inDay = ((micros % MICROS_PER_DAY) + MICROS_PER_DAY) % MICROS_PER_DAY;
  const seconds = inDay / MICROS_PER_SECOND;
  const hh = String(seconds / 3600n).padStart(2, '0');
  const mm = String((seconds / 60n) % 60n).padStart(2, '0');
  const ss = String(seconds % 60n).padStart(2, '0');
  const fraction = Number(inDay % MICROS_PER_SECOND);
  return `${hh}:${mm}:${ss}${fraction === 0 ? '' : fractionText(fraction)}`;
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
