import { afterEach, describe, expect, it, vi } from 'vitest';
import { MessageFramer } from './pg-wire.js';

/** A typed message: its type, its length (which counts itself) and its body. */
function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

describe('MessageFramer', () => {
  afterEach(() => vi.restoreAllMocks());

  it('joins a message trickled in small pieces once, not at every piece', () => {
    const framer = new MessageFramer(1 << 20);
    framer.startTyped();
    const body = Buffer.alloc(100_000, 7);
    const bytes = Buffer.concat([message('Q', body), message('S', Buffer.alloc(0))]);
    const concat = vi.spyOn(Buffer, 'concat');
    const messages: { type: string; body: Buffer }[] = [];
    for (let at = 0; at < bytes.length; at += 100) {
      framer.push(bytes.subarray(at, at + 100));
      for (let m = framer.next(); m; m = framer.next()) messages.push({ type: m.type, body: Buffer.from(m.body) });
    }
    expect(messages.map((m) => m.type)).toEqual(['Q', 'S']);
    expect(messages[0]?.body.equals(body)).toBe(true);
    expect(framer.buffered).toBe(0);
    // A thousand pieces: joined when the header is complete, and when the body is.
    expect(concat.mock.calls.length).toBeLessThanOrEqual(4);
  });
});
