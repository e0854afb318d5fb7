import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, parseConfig, type RunningGateway, startGateway } from '@lakegate/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const KEY = 'leaves-key-1234';
/** Runs for minutes on any machine: only a cancel ends it within the test's time. */
const LONG_SQL = 'SELECT count(*) FROM range(1000000000000) t(i) WHERE i % 7 = 3';

/**
 * A client of `POST /v1/query` that closes its connection before the answer cancels its query: the engine stops,
 * the slot is freed, and the query's one line says it was cancelled. A client that waits is answered as usual.
 */
describe('an HTTP client that leaves', () => {
  let root: string;
  let gateway: RunningGateway;
  const lines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-leaves-'));
    const config = parseConfig(
      {
        server: { port: 0, postgres: { enabled: false } },
        storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
        tenants: { acme: { apiKeys: [KEY], limits: { concurrentQueries: 1 } } },
      },
      { baseDir: root },
    );
    gateway = await startGateway({
      config,
      logger: createLogger({ write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) }),
    });
  });
  afterAll(async () => {
    await gateway?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  /** Sends `sql` with request id `id` on a raw connection, and closes it after `leaveAfterMs`. */
  function sendAndLeave(id: string, sql: string, leaveAfterMs: number): void {
    const { hostname, port } = new URL(gateway.url);
    const body = JSON.stringify({ sql });
    const socket = connect({ host: hostname, port: Number(port) });
    socket.on('error', () => {});
    socket.write(
      `POST /v1/query HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${KEY}\r\nX-Request-Id: ${id}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    setTimeout(() => socket.destroy(), leaveAfterMs);
  }

  async function doneLine(id: string, withinMs: number): Promise<Record<string, unknown>> {
    const deadline = Date.now() + withinMs;
    for (;;) {
      const line = lines.find((l) => l.event === 'query.done' && l.queryId === id);
      if (line) return line;
      if (Date.now() > deadline) throw new Error(`no query.done line for ${id} within ${withinMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('cancels a running query when its client closes the connection', async () => {
    sendAndLeave('leaves-running', LONG_SQL, 500);
    const line = await doneLine('leaves-running', 15_000);
    expect(line).toMatchObject({ outcome: 'cancelled', code: 'QUERY_CANCELLED' });
    // The slot is free again: the tenant's one slot takes the next query at once.
    const answer = await fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sql: 'SELECT 42 AS answer' }),
    });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ rows: [[42]] });
  });

  it('cancels a query still waiting for its slot when its client leaves', async () => {
    sendAndLeave('leaves-holder', LONG_SQL, 3_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    sendAndLeave('leaves-queued', 'SELECT 1 AS one', 500);
    const queued = await doneLine('leaves-queued', 10_000);
    expect(queued).toMatchObject({ outcome: 'cancelled', code: 'QUERY_CANCELLED' });
    // It left while the other query still held the slot.
    expect(lines.some((l) => l.event === 'query.done' && l.queryId === 'leaves-holder')).toBe(false);
    expect(await doneLine('leaves-holder', 15_000)).toMatchObject({ outcome: 'cancelled' });
  });

  it('answers a client that waits, and logs its query as done', async () => {
    const answer = await fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'x-request-id': 'stays' },
      body: JSON.stringify({ sql: 'SELECT 7 AS answer' }),
    });
    expect(await answer.json()).toMatchObject({ rows: [[7]] });
    expect(await doneLine('stays', 5_000)).toMatchObject({ outcome: 'ok' });
  });
});
