import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyRow as row, COPY_TRAILER as TRAILER } from '../test-support.js';
import { COPY_SIGNATURE, copyHeader, namingColumns } from './copy-format.js';
import { sniffFile } from './file-layout.js';
import { Interner } from './interner.js';
import { readLines, splitRanges } from './line-reader.js';
import type { LocalColumn } from './local-types.js';
import { createRowDecoder, RowSlots } from './row-decoder.js';

const COLUMNS: LocalColumn[] = [
  { name: 'ts', type: 'timestamp' },
  { name: 'day', type: 'date' },
  { name: 'n', type: 'bigint' },
  { name: 'ms', type: 'double' },
  { name: 'ok', type: 'boolean' },
  { name: 'org', type: 'varchar' },
];

/** Every row of the file at `path` as values (strings for VARCHAR, numbers otherwise, null for NULL). */
async function readAll(path: string, needed = COLUMNS.map((_, i) => i)): Promise<unknown[][]> {
  const layout = await sniffFile(path, 'pgcopy');
  const interners = layout.columns.map((c) => (c.type === 'varchar' ? new Interner() : undefined));
  const slots = new RowSlots(layout.columns.length);
  const decoder = createRowDecoder(layout, layout.columns, needed, interners, slots);
  const rows: unknown[][] = [];
  const { size } = await stat(path);
  for (const range of splitRanges([{ path, size }], () => layout, 1024, 4)) {
    readLines(range, layout, (bytes, start, end) => {
      decoder.decode(bytes, start, end);
      rows.push(
        needed.map((c) => {
          if (slots.nulls[c] === 1) return null;
          const interner = interners[c];
          return interner ? interner.string(slots.ids[c] as number) : slots.nums[c];
        }),
      );
    });
  }
  return rows;
}

describe('dumps in binary COPY format', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-copy-format-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('names its columns in the header and reads every type, NULLs included', async () => {
    const path = join(root, 'typed.pgcopy');
    await writeFile(
      path,
      Buffer.concat([
        copyHeader(COLUMNS),
        row(COLUMNS, ['2026-12-06T10:05:00.123Z', '2026-12-06', -7, 12.5, true, 'acme']),
        row(COLUMNS, ['1999-12-31T23:59:59Z', '1969-07-20', 2 ** 40 + 3, -0.25, false, 'ünïcode']),
        row(COLUMNS, [null, null, null, null, null, null]),
        TRAILER,
      ]),
    );
    const layout = await sniffFile(path, 'pgcopy');
    expect(layout).toMatchObject({ format: 'pgcopy', columns: COLUMNS, empty: false, quoted: false });
    expect(layout.typed).toEqual(COLUMNS.map(() => true));
    expect(await readAll(path)).toEqual([
      [Date.parse('2026-12-06T10:05:00.123Z') * 1000, Date.parse('2026-12-06') / 86_400_000, -7, 12.5, 1, 'acme'],
      [
        Date.parse('1999-12-31T23:59:59Z') * 1000,
        Date.parse('1969-07-20') / 86_400_000,
        2 ** 40 + 3,
        -0.25,
        0,
        'ünïcode',
      ],
      [null, null, null, null, null, null],
    ]);
    // Only the columns asked for are decoded; the others are stepped over by their lengths.
    expect(await readAll(path, [2, 5])).toEqual([
      [-7, 'acme'],
      [2 ** 40 + 3, 'ünïcode'],
      [null, null],
    ]);
  });

  it('reads rows that straddle the blocks it reads, and is never split between workers', async () => {
    const path = join(root, 'big.pgcopy');
    const rows: Buffer[] = [];
    // About 6 MB: more than one 4 MiB block, with rows of varying lengths.
    for (let i = 0; i < 120_000; i++)
      rows.push(
        row(COLUMNS, ['2026-12-06T10:00:00Z', '2026-12-06', i, i / 4, i % 2 === 0, `org-${'x'.repeat(i % 17)}`]),
      );
    const bytes = Buffer.concat([copyHeader(COLUMNS), ...rows, TRAILER]);
    await writeFile(path, bytes);
    const read = await readAll(path, [2, 5]);
    expect(read.length).toBe(120_000);
    expect(read.reduce((sum, r) => sum + (r[0] as number), 0)).toBe((119_999 * 120_000) / 2);
    expect(read[119_999]).toEqual([119_999, `org-${'x'.repeat(119_999 % 17)}`]);
    const layout = await sniffFile(path, 'pgcopy');
    expect(splitRanges([{ path, size: bytes.length }], () => layout, 1024, 4)).toEqual([
      { path, start: 0, end: bytes.length },
    ]);
  });

  it('knows a file of no rows, and refuses a damaged one with a message that says why', async () => {
    const empty = join(root, 'empty.pgcopy');
    await writeFile(empty, Buffer.concat([copyHeader(COLUMNS), TRAILER]));
    expect((await sniffFile(empty, 'pgcopy')).empty).toBe(true);
    expect(await readAll(empty)).toEqual([]);

    const cut = join(root, 'cut.pgcopy');
    const whole = Buffer.concat([copyHeader(COLUMNS), row(COLUMNS, ['2026-12-06T10:00:00Z', null, 1, 2, true, 'a'])]);
    await writeFile(cut, whole.subarray(0, whole.length - 3));
    await expect(readAll(cut)).rejects.toMatchObject({ code: 'INVALID_REQUEST', message: /ends inside a row/ });

    // The server's own header names no columns.
    const bare = join(root, 'bare.pgcopy');
    await writeFile(bare, Buffer.concat([COPY_SIGNATURE, Buffer.alloc(8), TRAILER]));
    await expect(sniffFile(bare, 'pgcopy')).rejects.toMatchObject({ message: /names no columns/ });
    const csv = join(root, 'not.pgcopy');
    await writeFile(csv, 'ts,org\n2026-12-06,acme\n');
    await expect(sniffFile(csv, 'pgcopy')).rejects.toMatchObject({ message: /binary COPY signature/ });
  });

  it('refuses an infinite timestamp rather than reading it as a date far away', async () => {
    const path = join(root, 'infinite.pgcopy');
    const columns: LocalColumn[] = [{ name: 'ts', type: 'timestamp' }];
    const infinity = Buffer.from([0, 2, 0, 0, 0, 8, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    infinity.writeInt16BE(1, 0);
    await writeFile(path, Buffer.concat([copyHeader(columns), infinity, TRAILER]));
    await expect(readAll(path, [0])).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
      message: /"ts" holds an infinite timestamp/,
    });
  });

  it("puts the columns' header in place of the server's, wherever the server's chunks end", async () => {
    const serverHeader = Buffer.concat([COPY_SIGNATURE, Buffer.alloc(8)]);
    const rest = Buffer.concat([row(COLUMNS.slice(2, 3), [5]), TRAILER]);
    const sent = Buffer.concat([serverHeader, rest]);
    for (const cuts of [[], [3], [11, 12, 19], [18, 20]]) {
      const bounds = [0, ...cuts, sent.length];
      const chunks = bounds.slice(1).map((to, i) => sent.subarray(bounds[i], to));
      const out: Uint8Array[] = [];
      for await (const chunk of namingColumns(
        (async function* () {
          yield* chunks;
        })(),
        COLUMNS.slice(2, 3),
      ))
        out.push(chunk);
      expect(Buffer.concat(out)).toEqual(Buffer.concat([copyHeader(COLUMNS.slice(2, 3)), rest]));
    }
    const wrong = (async function* () {
      yield Buffer.from('n\n1\n2\n3\n4\n5\n6\n7\n8\n9\n');
    })();
    await expect(
      (async () => {
        for await (const _ of namingColumns(wrong, COLUMNS)) void _;
      })(),
    ).rejects.toThrow(/binary COPY header/);
  });
});
