import { describe, expect, it } from 'vitest';
import { RowWriters } from './row-writers.js';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** A binary COPY stream of `rows` (each a list of fields, null for NULL), with a header extension of `extension`. */
function copyStream(rows: readonly (readonly (Buffer | null)[])[], extension = Buffer.alloc(0)): Buffer {
  const parts: Buffer[] = [SIGNATURE, int32(0), int32(extension.length), extension];
  for (const row of rows) {
    parts.push(int16(row.length));
    for (const field of row) parts.push(field === null ? int32(-1) : Buffer.concat([int32(field.length), field]));
  }
  parts.push(int16(-1));
  return Buffer.concat(parts);
}

const int16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const xid = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** A deterministic pseudo-random source. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

/** Fields of every kind: NULL, empty, short and longer than a chunk. */
function field(next: () => number): Buffer | null {
  const kind = next();
  if (kind < 0.1) return null;
  if (kind < 0.2) return Buffer.alloc(0);
  const length = kind < 0.9 ? Math.floor(next() * 12) + 1 : Math.floor(next() * 300);
  return Buffer.from(Array.from({ length }, () => Math.floor(next() * 256)));
}

/** `bytes` cut at random into chunks of 1 to `most` bytes, each its own copy (as a socket gives them). */
function chunks(bytes: Buffer, next: () => number, most: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; ) {
    const n = Math.min(bytes.length - i, 1 + Math.floor(next() * most));
    out.push(Buffer.from(bytes.subarray(i, i + n)));
    i += n;
  }
  return out;
}

async function strip(input: Buffer[], writers = new RowWriters()): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const piece of writers.strip(input)) out.push(Buffer.from(piece));
  return Buffer.concat(out);
}

describe('RowWriters', () => {
  it('passes on the rows without their xmin, however the stream is cut, and tallies them', async () => {
    for (const [seed, most] of [
      [1, 1],
      [2, 3],
      [3, 7],
      [4, 64],
      [5, 4096],
    ] as const) {
      const next = random(seed);
      const rows = Array.from({ length: 400 }, () => {
        const xmin = Math.floor(next() * 2 ** 32);
        return { xmin, fields: Array.from({ length: 1 + Math.floor(next() * 5) }, () => field(next)) };
      });
      const extension = seed % 2 === 0 ? Buffer.from('lakegate.columns\0[]') : Buffer.alloc(0);
      const input = copyStream(
        rows.map(({ xmin, fields }) => [xid(xmin), ...fields]),
        extension,
      );
      const writers = new RowWriters();
      const output = await strip(chunks(input, next, most), writers);
      expect(
        output.equals(
          copyStream(
            rows.map(({ fields }) => fields),
            extension,
          ),
        ),
      ).toBe(true);
      expect(writers.rows).toBe(rows.length);
      expect(writers.writers).toBe(rows.reduce((sum, { xmin }) => sum + BigInt(xmin), 0n));
    }
  });

  it('sums xmin past 2^53 exactly', async () => {
    // Rows of one field, written straight into one buffer: 2^53 takes over two million xmin near 2^32.
    const rows = 3_000_000;
    const input = Buffer.alloc(19 + rows * 10 + 2);
    copyStream([]).copy(input, 0, 0, 19);
    for (let i = 0, at = 19; i < rows; i++, at += 10) {
      input.writeInt16BE(1, at);
      input.writeInt32BE(4, at + 2);
      input.writeUInt32BE(0xffffffff - (i % 7), at + 6);
    }
    input.writeInt16BE(-1, input.length - 2);
    const writers = new RowWriters();
    const output = await strip([input], writers);
    expect(output.length).toBe(19 + rows * 2 + 2);
    let expected = 0n;
    for (let i = 0; i < rows; i++) expected += BigInt(0xffffffff - (i % 7));
    expect(expected > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(writers.writers).toBe(expected);
  });

  it('passes on a stream without rows as it is', async () => {
    const input = copyStream([]);
    const writers = new RowWriters();
    expect((await strip(chunks(input, random(9), 2), writers)).equals(input)).toBe(true);
    expect([writers.rows, writers.writers]).toEqual([0, 0n]);
  });

  it('refuses a stream cut before its trailer, a row without its xmin, and bytes after the trailer', async () => {
    // (Each its own copy: the chunks are overwritten.)
    const whole = () => copyStream([[xid(7), Buffer.from('a')]]);
    await expect(strip([whole().subarray(0, whole().length - 1)])).rejects.toThrow(/ended before its trailer/);
    await expect(strip([copyStream([[Buffer.from('abc')]])])).rejects.toThrow(/lacks its xmin/);
    await expect(strip([copyStream([[]])])).rejects.toThrow(/lacks its xmin/);
    await expect(strip([whole(), Buffer.from([0])])).rejects.toThrow(/after its trailer/);
  });
});
