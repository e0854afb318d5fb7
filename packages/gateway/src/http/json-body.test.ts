import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { readJsonBody } from './json-body.js';

interface Seen {
  readonly value: unknown;
  readonly request: IncomingMessage;
}

/** A real Node server whose handler reads each body with `readJsonBody`; what it read, and each Node request. */
async function server(): Promise<{ server: Server; port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const s = createServer((req, res) => {
    // The request as a web Request, made only when its body is read through it (as the HTTP adapter makes it):
    // a stream over the Node request would read it to its end by itself.
    const request = {
      text: () =>
        new Request('http://localhost/', {
          method: 'POST',
          body: Readable.toWeb(req) as ReadableStream,
          duplex: 'half',
        } as RequestInit).text(),
    } as Request;
    // Read a step later, as the gateway's middleware does: by then Node holds the body of a request sent whole.
    void Promise.resolve()
      .then(() => readJsonBody(request, req))
      .then((value) => {
        seen.push({ value, request: req });
        res.end('{}');
      });
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return { server: s, port: (s.address() as { port: number }).port, seen };
}

/** Sends `parts` on a keep-alive connection, `pauseMs` apart, and waits for the answer. */
async function send(port: number, parts: readonly string[], pauseMs: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  let received = '';
  const answered = new Promise<void>((resolve) =>
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString();
      if (received.endsWith('\r\n\r\n{}')) resolve();
    }),
  );
  for (const [i, part] of parts.entries()) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    socket.write(part);
  }
  await answered;
  return socket;
}

const head = (length: number) =>
  `POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;

describe('readJsonBody with the Node request', () => {
  let running: { server: Server; socket: Socket } | undefined;
  afterEach(async () => {
    running?.socket.destroy();
    await new Promise<void>((resolve) => (running ? running.server.close(() => resolve()) : resolve()));
    running = undefined;
  });

  it('reads a body that came with its headers, and the request still ends', async () => {
    const { server: s, port, seen } = await server();
    const body = JSON.stringify({ sql: 'SELECT 1' });
    running = { server: s, socket: await send(port, [head(body.length) + body], 0) };
    expect(seen.map((entry) => entry.value)).toEqual([{ sql: 'SELECT 1' }]);
    // Ended as a request read through its events ends, on a connection kept alive for the next one.
    await expect.poll(() => seen[0]?.request.readableEnded).toBe(true);
  });

  it('waits for the rest of a body whose first bytes came with its headers', async () => {
    const { server: s, port, seen } = await server();
    const body = JSON.stringify({ sql: 'SELECT 2' });
    running = { server: s, socket: await send(port, [head(body.length) + body.slice(0, 5), body.slice(5)], 50) };
    expect(seen.map((entry) => entry.value)).toEqual([{ sql: 'SELECT 2' }]);
    await expect.poll(() => seen[0]?.request.readableEnded).toBe(true);
  });
});
