import { describe, expect, it } from 'vitest';
import { binaryParameter, intervalText, OID, pgType, textParameter, writeNumeric } from './pg-types.js';
import { MessageBuilder } from './pg-wire.js';

const binary = (write: (out: MessageBuilder) => void): string => {
  const out = new MessageBuilder();
  write(out);
  return out.take().toString('hex');
};

describe('Postgres types', () => {
  it('writes values as Postgres prints them', () => {
    expect(pgType({ kind: 'timestamp', sqlType: 'TIMESTAMP' }).text(1_700_000_000_123_456n)).toBe(
      '2023-11-14 22:13:20.123456',
    );
    expect(pgType({ kind: 'timestamptz', sqlType: 'TIMESTAMP WITH TIME ZONE' }).text(0n)).toBe(
      '1970-01-01 00:00:00+00',
    );
    expect(pgType({ kind: 'float', sqlType: 'FLOAT' }).text(Math.fround(1.1))).toBe('1.1');
    expect(pgType({ kind: 'float', sqlType: 'DOUBLE' }).text(Number.NEGATIVE_INFINITY)).toBe('-Infinity');
    expect(pgType({ kind: 'blob', sqlType: 'BLOB' }).text(new Uint8Array([1, 255]))).toBe('\\x01ff');
    const list = pgType({ kind: 'list', sqlType: 'VARCHAR[]', element: { kind: 'string', sqlType: 'VARCHAR' } });
    expect(list.oid).toBe(1009);
    expect(list.text(['a', 'b c', null, '', 'NULL', 'q"'])).toBe('{a,"b c",NULL,"","NULL","q\\""}');
    expect(intervalText('P14M3DT4.5S')).toBe('1 year 2 mons 3 days 00:00:04.5');
    expect(intervalText('PT0S')).toBe('00:00:00');
    expect(pgType({ kind: 'decimal', sqlType: 'DECIMAL(10,2)' }).modifier).toBe(((10 << 16) | 2) + 4);
  });

  it('writes numeric in base-10000 binary digits', () => {
    // 12345.678: digits 1, 2345, 6780; weight 1; scale 3.
    expect(binary((out) => writeNumeric(out, '12345.678'))).toBe('0003000100000003000109291a7c');
    expect(binary((out) => writeNumeric(out, '-0.05'))).toBe('0001ffff4000000201f4');
    expect(binaryParameter(Buffer.from('0003000100000003000109291a7c', 'hex'), OID.numeric)).toBe('12345.678');
    expect(binaryParameter(Buffer.from('0001ffff4000000201f4', 'hex'), OID.numeric)).toBe('-0.05');
  });

  it('reads parameters as typed values where the client said the type', () => {
    expect(textParameter('42', OID.int8)).toBe(42n);
    expect(textParameter('42', OID.int4)).toBe(42);
    expect(textParameter('t', OID.bool)).toBe(true);
    expect(textParameter('2024-01-01', 0)).toBe('2024-01-01');
    expect(binaryParameter(Buffer.from([0, 0, 0, 7]), OID.int4)).toBe(7);
    expect(() => binaryParameter(Buffer.from([0, 7]), OID.int4)).toThrow();
  });
});
