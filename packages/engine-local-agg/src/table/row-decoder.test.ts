import { describe, expect, it } from 'vitest';
import type { FileLayout } from './file-layout.js';
import { Interner } from './interner.js';
import { type LocalColumn, parseTimestamp } from './local-types.js';
import { createRowDecoder } from './row-decoder.js';

const columns: LocalColumn[] = [
  { name: 's', type: 'varchar' },
  { name: 'n', type: 'bigint' },
];
const layout = (quoted: boolean): FileLayout => ({
  format: 'csv',
  delimiter: 44,
  columns,
  unsupported: [],
  quoted,
  empty: false,
  typed: [],
});
const bytes = (text: string) => new TextEncoder().encode(text);

describe('CSV row decoder', () => {
  it('reads an empty last field as NULL without looking past the line, in both of its paths', () => {
    for (const quoted of [false, true]) {
      const decoder = createRowDecoder(layout(quoted), columns, [0, 1], [new Interner(), undefined]);
      // The line is `z,`; the buffer goes on with a minus (a later or stale line).
      decoder.decode(bytes('z,-1'), 0, 2);
      expect(decoder.slots.nulls[1], `quoted layout: ${quoted}`).toBe(1);
      // A line with a quoted field takes the general path, and so does this one's empty field.
      decoder.decode(bytes('"z",-1'), 0, 4);
      expect(decoder.slots.nulls[1]).toBe(1);
    }
  });

  it('reads -0 as 0 and refuses a sign alone', () => {
    const decoder = createRowDecoder(layout(false), columns, [0, 1], [new Interner(), undefined]);
    decoder.decode(bytes('a,-0'), 0, 4);
    expect(Object.is(decoder.slots.nums[1], 0)).toBe(true);
    expect(() => decoder.decode(bytes('a,-'), 0, 3)).toThrow(/holds "-", which is not a BIGINT/);
    expect(() => decoder.decode(bytes('"a",+'), 0, 5)).toThrow(/holds "\+", which is not a BIGINT/);
  });

  it('reads timestamps of every shape as the text parser does, and refuses a non-digit anywhere', () => {
    const tsColumns: LocalColumn[] = [{ name: 't', type: 'timestamp' }];
    const tsLayout: FileLayout = {
      format: 'csv',
      delimiter: 44,
      columns: tsColumns,
      unsupported: [],
      quoted: false,
      empty: false,
      typed: [],
    };
    const decoder = createRowDecoder(tsLayout, tsColumns, [0], []);
    const valid = [
      '2026-01-01',
      '2026-01-01 00:00',
      '2026-03-01 23:59:59',
      '1999-12-31T12:30:45.5',
      '2026-01-01 00:00:00.001',
      '2024-02-29 08:09:10.123456',
      '0001-01-01 00:00:00',
      '2026-01-01 00:00:00.001', // the same date again: its day number is reused
      '2027-01-01 00:00:00',
      '2026-17-01 00:00:00', // no real month, read as the text parser reads it; not taken for the date before
    ];
    for (const text of valid) {
      decoder.decode(bytes(text), 0, text.length);
      expect(decoder.slots.nums[0], text).toBe(parseTimestamp(text));
    }
    for (const text of [
      '2026-0a-01 00:00:00',
      '2026-01-01 0x:00:00',
      '2026-01-01 00:00:6-',
      '202a-01-01',
      '2026-01-01 24:00:00',
    ]) {
      expect(() => decoder.decode(bytes(text), 0, text.length), text).toThrow(/which is not a TIMESTAMP/);
    }
  });
});
