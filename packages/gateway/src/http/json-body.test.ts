import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJsonBody } from './json-body.js';

interface Read {
  readonly body?: unknown;
  readonly code?: string | undefined;
  /** Whether the body was read through the request's own stream, rather than from what the parser held. */
  readonly streamed: boolean;
  readonly ended?: boolean;
}

describe('reading a JSON body under Node’s server', () => {
  let server: Server;
  let port: number;
  const reads: Read[] = [];

  beforeAll(async () => {
    server = createServer((incoming: IncomingMessage, outgoing) => {
      // The gateway's routes read the body after its middleware: once the parser has handed over the body's bytes,
      // before it has seen the message's end.
      process.nextTick(async () => {
        let streamed = false;
        // Only the body is read from the request, and its stream is made only then: made at once, it would read
        // the message itself.
        const request = {
          text: () => {
            streamed = true;
            const body = Readable.toWeb(incoming) as ReadableStream;
            return new Request('http://localhost/', { method: 'POST', body, duplex: 'half' } as RequestInit).text();
          },
        } as unknown as Request;
        try {
          const body = await readJsonBody(request, incoming);
          // By the next turn the request has ended, however its body was read.
          await new Promise((resolve) => setImmediate(resolve));
          reads.push({ body, streamed, ended: incoming.readableEnded });
        } catch (error) {
          reads.push({ code: (error as { code?: string }).code, streamed });
        }
        outgoing.end('done');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** Sends `parts` of a raw request, `gapMs` apart, and resolves to how the server read its body. */
  async function send(parts: readonly string[], gapMs = 0): Promise<Read> {
    const before = reads.length;
    const socket = connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const answered = new Promise((resolve) => socket.once('data', resolve));
    for (const [i, part] of parts.entries()) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
      socket.write(part);
    }
    await answered;
    socket.destroy();
    expect(reads.length).toBe(before + 1);
    return reads[before] as Read;
  }

  const head = (length: number) => `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\n\r\n`;
  const body = JSON.stringify({ sql: 'SELECT 1', maxRows: 5 });

  it('reads a body the parser already holds at once, without its stream', async () => {
    expect(await send([head(body.length) + body])).toEqual({
      body: { sql: 'SELECT 1', maxRows: 5 },
      streamed: false,
      ended: true,
    });
  });

  it('reads through the stream a body still on its way, or chunked, or empty', async () => {
    // Half the body now, the rest once the route has started reading.
    const half = body.length >> 1;
    expect(await send([head(body.length) + body.slice(0, half), body.slice(half)], 50)).toEqual({
      body: { sql: 'SELECT 1', maxRows: 5 },
      streamed: true,
      ended: true,
    });
    const chunked = `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    expect(await send([chunked])).toEqual({ body: { sql: 'SELECT 1', maxRows: 5 }, streamed: true, ended: true });
    expect(await send([head(0)])).toEqual({ code: 'INVALID_REQUEST', streamed: true });
  });

  it('refuses a body held whole that is not JSON, as one read from the stream', async () => {
    expect(await send([`${head(5)}{"sql`])).toEqual({ code: 'INVALID_REQUEST', streamed: false });
  });
});
