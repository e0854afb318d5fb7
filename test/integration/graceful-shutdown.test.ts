import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../harness/services.js';
import { writeParquet } from '../support/duckdb-data.js';
import { startGatewayProcess } from '../support/gateway-process.js';

/** SIGTERM: stop accepting, let running queries finish up to the grace period, then cancel them, and exit 0. */
describe('graceful shutdown', () => {
  let root: string;
  const KEY = 'acme-shutdown-key';
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
      body: (await r.json()) as { rows?: unknown[][]; error?: { code: string } },
    }));

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-shutdown-'));
    await mkdir(join(root, 'events'));
    await writeParquet(join(root, 'events', 'p.parquet'), 'SELECT i FROM range(1000) t(i)');
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('lets a running query finish within the grace period, refuses new connections, and exits 0', async () => {
    const port = await freePort();
    const gateway = await startGatewayProcess(join(root, 'a.json'), config(port, 10_000), port);
    const running = query(gateway.url, 'SELECT count(*) FROM events, range(300000) r WHERE (i + r.range) % 7 = 3');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const exited = gateway.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await expect(query(gateway.url, 'SELECT 1')).rejects.toThrow();
    const answer = await running;
    expect(answer.status).toBe(200);
    expect(answer.body.rows?.[0]?.[0]).toBeGreaterThan(0);
    expect(await exited).toBe(0);
  });

  it('cancels queries still running when the grace period ends', async () => {
    const port = await freePort();
    const gateway = await startGatewayProcess(join(root, 'b.json'), config(port, 300), port);
    const running = query(gateway.url, 'SELECT count(*) FROM range(100000000000) t(i) WHERE i % 7 = 3');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    const exited = gateway.kill('SIGTERM');
    const answer = await running.catch((error: unknown) => ({ status: 0, body: { error: { code: String(error) } } }));
    expect(await exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    // The client sees the query cancelled (or the connection closed by the exiting gateway), never a hang.
    if (answer.status !== 0) expect(answer.body.error?.code).toBe('QUERY_CANCELLED');
  });
});
