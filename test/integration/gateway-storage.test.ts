import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { parseConfig, type RunningGateway, silentLogger, startGateway } from '@lakegate/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type S3Handle, startS3 } from '../harness/services.js';
import { writeParquet } from '../support/duckdb-data.js';
import { createBucket, putObject, S3_CREDENTIALS, s3Client } from '../support/s3-fixtures.js';

const KEYS = { acme: 'acme-storage-key', globex: 'globex-storage-key' } as const;

/** The gateway over S3 datasets: queries on cached snapshots, refresh under load, dataset and cache endpoints. */
describe('gateway on S3 datasets', () => {
  let server: S3Handle;
  let s3: S3Client;
  let root: string;
  let gateway: RunningGateway;

  /** Writes a Parquet file whose `amount` column sums to `amount * rows`, and uploads it. */
  const upload = async (key: string, rows: number, amount: number) => {
    const path = join(root, `upload-${Math.random().toString(36).slice(2)}.parquet`);
    await writeParquet(path, `SELECT i AS id, ${amount}::BIGINT AS amount FROM range(${rows}) t(i)`);
    await putObject(s3, 'lake', key, await readFile(path));
  };

  beforeAll(async () => {
    server = await startS3();
    s3 = s3Client(server.endpoint);
    root = await mkdtemp(join(tmpdir(), 'lakegate-gateway-s3-'));
    await createBucket(s3, 'lake');
    await upload('acme/events/part-0.parquet', 5000, 1);
    await upload('acme/events/part-1.parquet', 5000, 1);
    await upload('globex/orders/part-0.parquet', 10, 7);
    const config = parseConfig(
      {
        server: { port: 0 },
        storage: {
          cacheDir: join(root, 'cache'),
          s3: { endpoint: server.endpoint, forcePathStyle: true, ...S3_CREDENTIALS, requestTimeoutMs: 2000 },
          warming: { enabled: false },
        },
        engines: { duckdb: { threads: 1 } },
        tenants: {
          acme: {
            apiKeys: [KEYS.acme],
            datasets: { events: { location: 's3://lake/acme/events/', format: 'parquet' } },
          },
          globex: {
            apiKeys: [KEYS.globex],
            datasets: { orders: { location: 's3://lake/globex/orders/', format: 'parquet' } },
          },
        },
      },
      { baseDir: root },
    );
    gateway = await startGateway({ config, logger: silentLogger });
  });
  afterAll(async () => {
    await gateway?.close();
    s3?.destroy();
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  const call = async (method: string, path: string, tenant: keyof typeof KEYS = 'acme', body?: unknown) => {
    const response = await fetch(`${gateway.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${KEYS[tenant]}` },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by the assertions
    return { status: response.status, headers: response.headers, body: (await response.json()) as any };
  };
  const sql = (text: string, tenant: keyof typeof KEYS = 'acme') => call('POST', '/v1/query', tenant, { sql: text });

  it('lists only the caller’s datasets, warms one, and reports the cache', async () => {
    const before = await call('GET', '/v1/datasets');
    expect(before.body.datasets).toEqual([
      expect.objectContaining({ name: 'events', version: null, location: 's3://lake/acme/events/', bytesCached: 0 }),
    ]);
    const warmed = await call('POST', '/v1/datasets/events/warm');
    expect(warmed.status).toBe(200);
    expect(warmed.body.dataset).toMatchObject({ files: 2 });
    expect(warmed.body.dataset.bytesCached).toBe(warmed.body.dataset.bytes);
    const answer = await sql('SELECT count(*) AS n, sum(amount) AS total FROM events');
    expect(answer.body.rows).toEqual([[10000, 10000]]);
    const cache = await call('GET', '/v1/cache');
    expect(cache.body).toMatchObject({ tenant: 'acme', cache: { hits: 1, misses: 0, originRequests: 2 } });
    expect(cache.body.cache.originBytes).toBe(warmed.body.dataset.bytes);
    const globex = await call('GET', '/v1/datasets', 'globex');
    expect(globex.body.datasets.map((d: { name: string }) => d.name)).toEqual(['orders']);
    const foreign = await call('POST', '/v1/datasets/events/refresh', 'globex');
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe('UNKNOWN_TABLE');
  });

  it('lets long queries finish on the version they started with while a refresh swaps in a new one', async () => {
    await sql('SELECT count(*) FROM events');
    const longSql = 'SELECT sum(e.amount) AS total FROM events e, range(30000) r WHERE (e.id + r.range) % 3 <> 5';
    const started = Date.now();
    const long = sql(longSql).then((r) => ({ ...r, at: Date.now() }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await upload('acme/events/part-0.parquet', 5000, 3);
    const refreshed = await call('POST', '/v1/datasets/events/refresh');
    const refreshedAt = Date.now();
    expect(refreshed.body.dataset.files).toBe(2);
    const after = await sql('SELECT sum(amount) AS total FROM events');
    expect(after.body.rows).toEqual([[20000]]);
    const finished = await long;
    expect(finished.status).toBe(200);
    expect(finished.body.rows).toEqual([[10000 * 30000]]);
    expect(finished.at, `the long query (${finished.at - started} ms) ended before the refresh`).toBeGreaterThan(
      refreshedAt,
    );
  });

  it('keeps answering from the last complete version when the origin is down, flagged stale', async () => {
    await server.setOutage(true);
    try {
      const refresh = await call('POST', '/v1/datasets/events/refresh');
      expect(refresh.status).toBe(503);
      expect(refresh.body.error.code).toBe('STORAGE_UNAVAILABLE');
      expect(refresh.headers.get('retry-after')).toBe('5');
      const answer = await sql('SELECT sum(amount) FROM events');
      expect(answer.body.rows).toEqual([[20000]]);
      expect(answer.body.stats.stale).toBe(true);
      const unloaded = await sql('SELECT * FROM orders', 'globex');
      expect(unloaded.status).toBe(503);
      expect(unloaded.body.error.message).toMatch(/Dataset "orders"/);
    } finally {
      await server.setOutage(false);
    }
    const recovered = await call('POST', '/v1/datasets/events/refresh');
    expect(recovered.body.dataset.stale).toBe(false);
    expect((await sql('SELECT sum(amount) FROM events')).body.stats.stale).toBeUndefined();
  });
});
