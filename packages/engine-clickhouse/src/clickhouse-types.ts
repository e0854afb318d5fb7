import type { Column, ColumnType } from '@lakegate/engine-api';

/**
 * ClickHouse column types (as `TabSeparatedWithNamesAndTypes` names them) mapped to engine-api types, and values
 * in ClickHouse's text formats decoded to the representation engine-api fixes. SQL type names follow the ones the
 * gateway's protocols already map (DuckDB's spelling): `UInt64` is `UBIGINT`, a `numeric` to Postgres clients and a
 * `decimal(38,0)` to Trino's, since its values may not fit a signed 64-bit integer.
 */

/** A parsed ClickHouse type: the engine-api type, and how to decode one value of it. */
export interface ClickHouseType {
  readonly type: ColumnType;
  /** Decodes a value written in the "quoted" style of arrays and tuples (`'text'`, `NULL`, `[1,2]`). */
  readonly quoted: (reader: QuotedReader) => unknown;
  /** Decodes a top-level TSV field as written (still escaped; `\N` is handled before). */
  readonly field: (text: string) => unknown;
}

const MS_PER_DAY = 86_400_000;

/** The zero date and time older servers write for the epoch (`toDate(0)`, `toDateTime(0)`). */
const ZERO_DATE = '0000-00-00';
const ZERO_DATE_TIME = '0000-00-00 00:00:00';

/** `2024-01-02` as days since 1970-01-01. */
const dateDays = (text: string): number => (text === ZERO_DATE ? 0 : Date.parse(`${text}T00:00:00Z`) / MS_PER_DAY);

/** A formatter of instants as wall-clock times in one time zone, per zone. */
const zoneFormats = new Map<string, Intl.DateTimeFormat>();

/** The offset of `zone` from UTC at the instant `ms`, in milliseconds (its wall clock then, less the instant). */
function zoneOffsetMs(zone: string, ms: number): number {
  let format = zoneFormats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    zoneFormats.set(zone, format);
  }
  const part: Record<string, number> = {};
  for (const { type, value } of format.formatToParts(ms)) part[type] = Number(value);
  const wall = Date.UTC(part.year ?? 1970, (part.month ?? 1) - 1, part.day ?? 1, part.hour, part.minute, part.second);
  return wall - (ms - (((ms % 1000) + 1000) % 1000));
}

/**
 * `2024-01-02 10:00:00` (as the server writes it) as microseconds since 1970-01-01: a wall-clock time in `zone`
 * for a `DateTime('<zone>')`, else taken as UTC (the server's own zone, which the gateway expects to be UTC).
 */
function dateTimeMicros(text: string, zone?: string): bigint {
  if (text === ZERO_DATE_TIME) return 0n;
  const wall = Date.parse(`${text.replace(' ', 'T')}Z`);
  if (zone === undefined || zone === 'UTC' || Number.isNaN(wall)) return BigInt(wall) * 1000n;
  // Kept per quarter hour of wall clock, where zones change their offsets: asking Intl costs microseconds a value.
  let offsets = zoneOffsets.get(zone);
  if (!offsets) {
    offsets = new Map();
    zoneOffsets.set(zone, offsets);
  }
  const quarter = Math.floor(wall / 900_000);
  let offset = offsets.get(quarter);
  if (offset === undefined) {
    // The instant whose wall clock in the zone reads `wall`: the offset at a first guess, then at the instant found
    // (they differ only next to a change of the zone's offset).
    let instant = wall - zoneOffsetMs(zone, wall);
    instant = wall - zoneOffsetMs(zone, instant);
    offset = wall - instant;
    if (offsets.size >= 100_000) offsets.clear();
    offsets.set(quarter, offset);
  }
  return BigInt(wall - offset) * 1000n;
}

/** Per zone, the offset of each quarter hour of wall clock read so far (see {@link dateTimeMicros}). */
const zoneOffsets = new Map<string, Map<number, number>>();

/** The time zone a `DateTime('Asia/Tokyo')` names, when the server knows it as this process does. */
function zoneOf(argument: string): string | undefined {
  const zone = /^'(.*)'$/.exec(argument.trim())?.[1];
  if (!zone) return undefined;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone;
  } catch {
    return undefined;
  }
}

/** Splits a type's arguments at top-level commas: `String, Array(Int8)` → `['String', 'Array(Int8)']`. */
function splitArguments(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === "'") quoted = false;
    } else if (c === "'") quoted = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts;
}

const scalar = (sqlType: string, kind: ColumnType['kind'], parse: (text: string) => unknown): ClickHouseType => ({
  type: { kind, sqlType },
  field: (t) => parse(unescapeField(t)),
  quoted: (reader) => reader.scalar(parse),
});

const integer = (sqlType: string) => scalar(sqlType, 'integer', Number);
const big = (sqlType: string) => scalar(sqlType, 'bigint', BigInt);
const float = (sqlType: string) =>
  scalar(sqlType, 'float', (t) =>
    t === 'nan' ? Number.NaN : t === 'inf' || t === '+inf' ? Infinity : t === '-inf' ? -Infinity : Number(t),
  );
const text = (sqlType: string) => scalar(sqlType, 'string', (t) => t);

/** The engine-api type and decoders of a ClickHouse type name. */
export function clickhouseType(name: string): ClickHouseType {
  const open = name.indexOf('(');
  const base = open < 0 ? name : name.slice(0, open);
  const inner = open < 0 ? '' : name.slice(open + 1, name.lastIndexOf(')'));
  switch (base) {
    case 'UInt8':
      return integer('UTINYINT');
    case 'Int8':
      return integer('TINYINT');
    case 'Int16':
      return integer('SMALLINT');
    case 'UInt16':
    case 'Int32':
      return integer('INTEGER');
    case 'UInt32':
      return integer('UINTEGER');
    case 'Int64':
      return big('BIGINT');
    case 'UInt64':
      return big('UBIGINT');
    case 'Float32':
      return float('FLOAT');
    case 'Float64':
      return float('DOUBLE');
    case 'Decimal':
    case 'Decimal32':
    case 'Decimal64':
    case 'Decimal128': {
      const args = splitArguments(inner).map(Number);
      const precision = base === 'Decimal' ? args[0] : { Decimal32: 9, Decimal64: 18, Decimal128: 38 }[base];
      const scale = base === 'Decimal' ? args[1] : args[0];
      return scalar(`DECIMAL(${precision},${scale})`, 'decimal', (t) => t);
    }
    case 'String':
    case 'FixedString':
    case 'Enum8':
    case 'Enum16':
      return text('VARCHAR');
    case 'UUID':
      return text('UUID');
    case 'Date':
      return scalar('DATE', 'date', dateDays);
    case 'DateTime': {
      const zone = zoneOf(inner);
      return scalar('TIMESTAMP', 'timestamp', (t) => dateTimeMicros(t, zone));
    }
    case 'Nullable': {
      const element = clickhouseType(inner);
      return {
        type: element.type,
        field: element.field,
        quoted: (reader) => (reader.takeNull() ? null : element.quoted(reader)),
      };
    }
    case 'LowCardinality':
      return clickhouseType(inner);
    case 'Array': {
      const element = clickhouseType(inner);
      const quoted = (reader: QuotedReader): unknown[] => reader.list(() => element.quoted(reader));
      return {
        type: { kind: 'list', sqlType: `${element.type.sqlType}[]`, element: element.type },
        quoted,
        field: (t) => quoted(new QuotedReader(t)),
      };
    }
    case 'Tuple': {
      const elements = splitArguments(inner).map(clickhouseType);
      const fields: Column[] = elements.map((e, i) => ({ name: String(i + 1), type: e.type }));
      const quoted = (reader: QuotedReader): Record<string, unknown> => {
        const values = reader.tuple((i) => (elements[i] ?? OTHER).quoted(reader));
        return Object.fromEntries(values.map((v, i) => [String(i + 1), v]));
      };
      return {
        type: {
          kind: 'struct',
          sqlType: `STRUCT(${elements.map((e, i) => `"${i + 1}" ${e.type.sqlType}`).join(', ')})`,
          fields,
        },
        quoted,
        field: (t) => quoted(new QuotedReader(t)),
      };
    }
    default:
      return { ...OTHER, type: { kind: 'other', sqlType: name } };
  }
}

/** Any type not mapped: its text as the server writes it. */
const OTHER: ClickHouseType = {
  type: { kind: 'other', sqlType: 'VARCHAR' },
  field: (t) => unescapeField(t),
  quoted: (reader) => reader.raw(),
};

/**
 * Reads values in ClickHouse's quoted text style, as it writes the elements of arrays and tuples in TSV:
 * strings in single quotes with backslash escapes, numbers and dates bare or quoted, `NULL`, `[...]`, `(...)`.
 */
export class QuotedReader {
  #at = 0;
  constructor(readonly text: string) {}

  takeNull(): boolean {
    if (this.text.startsWith('NULL', this.#at)) {
      this.#at += 4;
      return true;
    }
    return false;
  }

  /** One scalar: a quoted string (unescaped) or a bare token, parsed by `parse`. */
  scalar(parse: (text: string) => unknown): unknown {
    if (this.takeNull()) return null;
    if (this.text[this.#at] === "'") return parse(this.#string());
    return parse(this.#bare());
  }

  list(element: () => unknown): unknown[] {
    this.#expect('[');
    const out: unknown[] = [];
    if (this.text[this.#at] === ']') {
      this.#at++;
      return out;
    }
    for (;;) {
      out.push(element());
      const c = this.text[this.#at++];
      if (c === ']') return out;
      if (c !== ',') throw new Error(`malformed array at ${this.#at - 1}`);
    }
  }

  tuple(element: (index: number) => unknown): unknown[] {
    this.#expect('(');
    const out: unknown[] = [];
    for (let i = 0; ; i++) {
      out.push(element(i));
      const c = this.text[this.#at++];
      if (c === ')') return out;
      if (c !== ',') throw new Error(`malformed tuple at ${this.#at - 1}`);
    }
  }

  /** The next value's text as written, for types not mapped. */
  raw(): string {
    const start = this.#at;
    let depth = 0;
    while (this.#at < this.text.length) {
      const c = this.text[this.#at];
      if (c === "'") {
        this.#string();
        continue;
      }
      if (c === '[' || c === '(') depth++;
      else if (c === ']' || c === ')') {
        if (depth === 0) break;
        depth--;
      } else if (c === ',' && depth === 0) break;
      this.#at++;
    }
    return this.text.slice(start, this.#at);
  }

  #expect(c: string): void {
    if (this.text[this.#at] !== c) throw new Error(`expected ${c} at ${this.#at}`);
    this.#at++;
  }

  #bare(): string {
    const start = this.#at;
    while (this.#at < this.text.length && !',])'.includes(this.text[this.#at] as string)) this.#at++;
    return this.text.slice(start, this.#at);
  }

  #string(): string {
    this.#at++;
    let out = '';
    for (;;) {
      const c = this.text[this.#at++];
      if (c === undefined) throw new Error('unterminated string');
      if (c === "'") return out;
      if (c === '\\') out += unescapeOne(this.text[this.#at++] ?? '');
      else out += c;
    }
  }
}

const ESCAPES: Readonly<Record<string, string>> = {
  b: '\b',
  f: '\f',
  r: '\r',
  n: '\n',
  t: '\t',
  '0': '\0',
  a: '\x07',
  v: '\v',
};

const unescapeOne = (c: string): string => ESCAPES[c] ?? c;

/** A TSV field as ClickHouse escapes it (`\t`, `\n`, `\\`, `\'`, ...), unescaped. */
export function unescapeField(field: string): string {
  if (!field.includes('\\')) return field;
  let out = '';
  for (let i = 0; i < field.length; i++) {
    const c = field[i] as string;
    if (c === '\\' && i + 1 < field.length) out += unescapeOne(field[++i] as string);
    else out += c;
  }
  return out;
}
