import type { ColumnType } from '@lakegate/engine-api';
import { describe, expect, it } from 'vitest';
import {
  csvValueEncoder,
  formatDate,
  formatTime,
  formatTimestamp,
  formatTimestampMillis,
  jsonValueEncoder,
} from './encode-values.js';

const type = (kind: ColumnType['kind'], extra: Partial<ColumnType> = {}): ColumnType => ({
  kind,
  sqlType: kind,
  ...extra,
});

describe('value encoding', () => {
  it('keeps integers JSON-native only within ±(2^53−1)', () => {
    const encode = jsonValueEncoder(type('bigint'));
    expect(encode(9007199254740991n)).toBe(9007199254740991);
    expect(encode(-9007199254740991n)).toBe(-9007199254740991);
    expect(encode(9007199254740992n)).toBe('9007199254740992');
    expect(encode(-170141183460469231731687303715884105728n)).toBe('-170141183460469231731687303715884105728');
  });

  it('writes non-finite doubles as strings, since JSON has no NaN', () => {
    const encode = jsonValueEncoder(type('float'));
    expect([encode(1.5), encode(Number.NaN), encode(Number.NEGATIVE_INFINITY)]).toEqual([1.5, 'NaN', '-Infinity']);
  });

  it('formats dates, times and timestamps as ISO 8601, before 1970 too', () => {
    expect(formatDate(0)).toBe('1970-01-01');
    expect(formatDate(-1)).toBe('1969-12-31');
    expect(formatDate(19783)).toBe('2024-03-01');
    expect(formatTimestamp(1_709_296_496_789_000n)).toBe('2024-03-01T12:34:56.789');
    expect(formatTimestamp(-1n)).toBe('1969-12-31T23:59:59.999999');
    expect(formatTimestamp(0n)).toBe('1970-01-01T00:00:00');
    expect(formatTime(45_296_000_001n)).toBe('12:34:56.000001');
    expect(jsonValueEncoder(type('timestamptz'))(0n)).toBe('1970-01-01T00:00:00Z');
  });

  it('formats timestamps as Date does, within the exact range, beyond it and across days', () => {
    // Reference: whole seconds through Date, the microseconds after them as digits.
    const reference = (micros: bigint): string => {
      const seconds = micros / 1_000_000n - (micros % 1_000_000n < 0n ? 1n : 0n);
      const rest = micros - seconds * 1_000_000n;
      const iso = new Date(Number(seconds) * 1000).toISOString().slice(0, -5);
      return rest === 0n ? iso : `${iso}.${rest.toString().padStart(6, '0').replace(/0+$/, '')}`;
    };
    const values = [
      0n,
      -1n,
      86_399_999_999n,
      86_400_000_000n,
      -86_400_000_001n,
      253_402_300_799_999_999n, // 9999-12-31T23:59:59.999999, beyond the exact range
      -30_610_224_000_000_000n, // 1000-01-01
      BigInt(Number.MAX_SAFE_INTEGER),
      BigInt(Number.MAX_SAFE_INTEGER) + 1n,
    ];
    let seed = 7;
    for (let i = 0; i < 2000; i++) {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      // Within the exact range (about ±142 years) and across the whole of BIGINT.
      values.push(BigInt(seed - 1_073_741_824) * 4_194_304n + BigInt(seed % 1_000_000));
      values.push(BigInt(seed - 1_073_741_824) * 4_294_967_296n + BigInt(seed));
    }
    for (const micros of values) {
      expect(formatTimestamp(micros), String(micros)).toBe(reference(micros));
      expect(formatTimestamp(micros, ' ')).toBe(reference(micros).replace('T', ' '));
      const millis = micros - (((micros % 1000n) + 1000n) % 1000n);
      const [whole, fraction = ''] = reference(millis).replace('T', ' ').split('.');
      expect(formatTimestampMillis(micros), String(micros)).toBe(`${whole}.${fraction.padEnd(3, '0').slice(0, 3)}`);
    }
  });

  it('encodes nested lists, structs and maps by their element types', () => {
    const list = jsonValueEncoder(type('list', { element: type('bigint') }));
    expect(list([1n, null, 2n ** 60n])).toEqual([1, null, '1152921504606846976']);
    const struct = jsonValueEncoder(type('struct', { fields: [{ name: 'd', type: type('date') }] }));
    expect(struct({ d: 0 })).toEqual({ d: '1970-01-01' });
    const map = jsonValueEncoder(type('map', { key: type('string'), value: type('decimal') }));
    expect(map([{ key: 'a', value: '1.50' }])).toEqual([{ key: 'a', value: '1.50' }]);
  });

  it('quotes CSV fields only when needed and writes nested values as JSON', () => {
    const text = csvValueEncoder(type('string'));
    expect([text('plain'), text('a,b'), text('say "hi"'), text('two\nlines'), text(' padded')]).toEqual([
      'plain',
      '"a,b"',
      '"say ""hi"""',
      '"two\nlines"',
      '" padded"',
    ]);
    expect(csvValueEncoder(type('list', { element: type('integer') }))([1, 2])).toBe('"[1,2]"');
    expect(csvValueEncoder(type('blob'))(new Uint8Array([1, 2, 3]))).toBe('AQID');
  });
});
