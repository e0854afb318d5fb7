import { describe, expect, it } from 'vitest';
import { clickhouseType, QuotedReader } from './clickhouse-types.js';

describe('ClickHouse types', () => {
  it('maps type names to engine-api kinds and the SQL names the protocols map', () => {
    const mapped = (name: string) => {
      const { kind, sqlType } = clickhouseType(name).type;
      return [kind, sqlType];
    };
    expect(mapped('UInt8')).toEqual(['integer', 'UTINYINT']);
    expect(mapped('Int32')).toEqual(['integer', 'INTEGER']);
    expect(mapped('UInt32')).toEqual(['integer', 'UINTEGER']);
    expect(mapped('Int64')).toEqual(['bigint', 'BIGINT']);
    expect(mapped('UInt64')).toEqual(['bigint', 'UBIGINT']);
    expect(mapped('Float32')).toEqual(['float', 'FLOAT']);
    expect(mapped('Decimal(18, 3)')).toEqual(['decimal', 'DECIMAL(18,3)']);
    expect(mapped('Decimal64(4)')).toEqual(['decimal', 'DECIMAL(18,4)']);
    expect(mapped('Nullable(String)')).toEqual(['string', 'VARCHAR']);
    expect(mapped("Enum8('a' = 1, 'b' = 2)")).toEqual(['string', 'VARCHAR']);
    expect(mapped('Date')).toEqual(['date', 'DATE']);
    expect(mapped("DateTime('UTC')")).toEqual(['timestamp', 'TIMESTAMP']);
    expect(mapped('Array(Nullable(Int64))')).toEqual(['list', 'BIGINT[]']);
    expect(mapped('Tuple(String, Array(UInt8))')).toEqual(['struct', 'STRUCT("1" VARCHAR, "2" UTINYINT[])']);
    expect(mapped('AggregateFunction(uniq, UInt64)')).toEqual(['other', 'AggregateFunction(uniq, UInt64)']);
  });

  it('decodes TSV fields, escapes included', () => {
    expect(clickhouseType('String').field("a\\tb\\\\c\\nd\\'e")).toBe("a\tb\\c\nd'e");
    expect(clickhouseType('UInt64').field('18446744073709551615')).toBe(18446744073709551615n);
    expect(clickhouseType('Float64').field('nan')).toBeNaN();
    expect(clickhouseType('Float64').field('-inf')).toBe(-Infinity);
    expect(clickhouseType('Date').field('2024-01-02')).toBe(19724);
    expect(clickhouseType('DateTime').field('2024-01-02 03:04:05')).toBe(1704164645000000n);
    // The epoch as older servers write it, and a time zone's wall clock (Tokyo is UTC+9; New York UTC-5 in winter
    // and UTC-4 in summer).
    expect(clickhouseType('Date').field('0000-00-00')).toBe(0);
    expect(clickhouseType('DateTime').field('0000-00-00 00:00:00')).toBe(0n);
    expect(clickhouseType("DateTime('Asia/Tokyo')").field('2024-01-02 12:04:05')).toBe(1704164645000000n);
    expect(clickhouseType("DateTime('America/New_York')").field('2024-01-01 22:04:05')).toBe(1704164645000000n);
    expect(clickhouseType("DateTime('America/New_York')").field('2024-07-01 12:00:00')).toBe(
      BigInt(Date.parse('2024-07-01T16:00:00Z')) * 1000n,
    );
    expect(clickhouseType("DateTime('UTC')").field('2024-01-02 03:04:05')).toBe(1704164645000000n);
    expect(clickhouseType('Decimal(9, 2)').field('-12.50')).toBe('-12.50');
  });

  it('decodes arrays and tuples in the quoted style, with NULLs, escapes and nesting', () => {
    expect(clickhouseType('Array(String)').field("['a,b','it\\'s',']']")).toEqual(['a,b', "it's", ']']);
    expect(clickhouseType('Array(Nullable(Int32))').field('[1,NULL,-3]')).toEqual([1, null, -3]);
    expect(clickhouseType('Array(Array(UInt8))').field('[[1,2],[],[3]]')).toEqual([[1, 2], [], [3]]);
    expect(clickhouseType('Array(Date)').field("['2024-01-02']")).toEqual([19724]);
    expect(clickhouseType('Tuple(String, Array(UInt8))').field("('x',[1])")).toEqual({ '1': 'x', '2': [1] });
    expect(() => new QuotedReader("['open").list(() => new QuotedReader('').raw())).toThrow();
  });
});
