import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../harness/services.js';
import { writeParquet } from '../support/duckdb-data.js';
import { startGatewayProcess } from '../support/gateway-process.js';
import { livyClient } from '../support/sessions-client.js';

/**
 * SIGTERM drains: /readyz answers 503 at once while the listener keeps answering; new queries get SHUTTING_DOWN;
 * running ones finish within the grace period, or end with a complete answer in their protocol; then exit 0.
 */
describe('graceful shutdown', () => {
  let root: string;
  const KEY = 'acme-shutdown-key';
  const LONG = 'SELECT count(*) FROM range(100000000000) t(i) WHERE i % 7 = 3';
  const config = (port: number, graceMs: number) => ({
    server: { port, shutdownGraceMs: graceMs },
    storage: { cacheDir: join(root, `cache-${port}`), warming: { enabled: false } },
    engines: { duckdb: { threads: 1 } },
    tenants: {
      acme: { apiKeys: [KEY], datasets: { events: { location: `file:${join(root, 'events')}/`, format: 'parquet' } } },
    },
  });
  const query = (url: string, sql: string) =>
    fetch(`${url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ sql }),
    }).then(async (r) => ({
      status: r.status,
      retryAfter: r.headers.get('retry-after'),
      body: (await r.json()) as { rows?: unknown[][]; error?: { code: string; message: string } },
    }));

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-shutdown-'));
    await mkdir(join(root, 'events'));
    await writeParquet(join(root, 'events', 'p.parquet'), 'SELECT i FROM range(1000) t(i)');
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('turns /readyz to 503 at once, refuses new queries with SHUTTING_DOWN, and lets a running one finish', async () => {
    const port = await freePort();
    const gateway = await startGatewayProcess(join(root, 'a.json'), config(port, 10_000), port);
    const running = query(gateway.url, 'SELECT count(*) FROM events, range(300000) r WHERE (i + r.range) % 7 = 3');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const exited = gateway.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(503);
    const refused = await query(gateway.url, 'SELECT 1');
    expect(refused.status).toBe(503);
    expect(refused.body.error?.code).toBe('SHUTTING_DOWN');
    expect(refused.retryAfter).toBe('1');
    const answer = await running;
    expect(answer.status).toBe(200);
    expect(answer.body.rows?.[0]?.[0]).toBeGreaterThan(0);
    expect(await exited).toBe(0);
  });

  it('ends what still runs at the end of the grace period with a complete answer on every protocol', async () => {
    const port = await freePort();
    const gateway = await startGatewayProcess(join(root, 'b.json'), config(port, 500), port);
    // A query on POST /v1/query, one on the Trino protocol, and a session statement, all still running at the end.
    const http = query(gateway.url, LONG);
    const auth = { Authorization: `Basic ${Buffer.from(`acme:${KEY}`).toString('base64')}` };
    const trino = (async () => {
      let page = (await (
        await fetch(`${gateway.url}/v1/statement`, { method: 'POST', headers: auth, body: LONG })
      ).json()) as {
        nextUri?: string;
        error?: { errorName: string };
      };
      while (page.nextUri) page = (await (await fetch(page.nextUri, { headers: auth })).json()) as typeof page;
      return page;
    })();
    // And one over the Postgres protocol.
    const pgPort = Number(/"postgres":\{[^}]*"port":(\d+)/.exec(gateway.output())?.[1]);
    const client = new pg.Client({
      host: '127.0.0.1',
      port: pgPort,
      user: 'acme',
      password: KEY,
      database: 'lakegate',
    });
    await client.connect();
    const overPostgres = client.query(LONG).then(
      () => 'answered',
      (error: { code?: string; message: string }) => `${error.code}: ${error.message}`,
    );
    const livy = livyClient(() => gateway.url, KEY);
    const session = (await livy.call('POST', '/sessions', { kind: 'sql' })).body.id as number;
    const statement = (await livy.call('POST', `/sessions/${session}/statements`, { code: LONG })).body.id as number;
    await livy.waitFor(session, statement, (state) => state === 'running');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    const exited = gateway.kill('SIGTERM');

    const answer = await http;
    expect(answer.body.error?.code).toBe('QUERY_CANCELLED');
    expect(answer.body.error?.message).toMatch(/grace period/);
    expect((await trino).error?.errorName).toBe('USER_CANCELED');
    // A well-formed ErrorResponse, not a dropped connection.
    expect(await overPostgres).toMatch(/^57014: .*grace period/);
    await client.end().catch(() => undefined);
    // The statement's end is in the shared state (memory here, so read it before the process exits).
    const ended = await livy.waitFor(session, statement);
    expect(ended).toMatchObject({ state: 'error', output: { ename: 'SHUTTING_DOWN' } });
    expect(ended.output.evalue).toMatch(/submit it again/);
    expect(await exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
