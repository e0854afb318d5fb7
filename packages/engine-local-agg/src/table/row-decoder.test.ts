import { describe, expect, it } from 'vitest';
import type { FileLayout } from './file-layout.js';
import { Interner } from './interner.js';
import type { LocalColumn } from './local-types.js';
import { createRowDecoder } from './row-decoder.js';

const columns: LocalColumn[] = [
  { name: 's', type: 'varchar' },
  { name: 'n', type: 'bigint' },
];
const layout = (quoted: boolean): FileLayout => ({ format: 'csv', delimiter: 44, columns, unsupported: [], quoted });
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
});
