import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { EngineFactory } from '@lakegate/engine-api';
import { duckdbEngineFactory } from '@lakegate/engine-duckdb';
import { localAggEngineFactory } from '@lakegate/engine-local-agg';
import {
  createLogger,
  createRollups,
  EngineRegistry,
  openRedisState,
  parseConfig,
  planEngines,
  silentLogger,
  storageOptions,
} from '@lakegate/gateway';
import type { IntervalRecord } from '@lakegate/rollups';
import { createBlobStore, createStorage } from '@lakegate/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  findRedisServer,
  freePort,
  type RedisHandle,
  type S3Handle,
  startRedis,
  startS3,
} from '../harness/services.js';
import { withDuckDB } from '../support/duckdb-data.js';
import { type GatewayProcess, startGatewayProcess } from '../support/gateway-process.js';
import { createBucket, putObject, s3Client, s3Settings } from '../support/s3-fixtures.js';
import { timestampText, trafficCsv, trafficRollup, writeTrafficFiles } from '../support/traffic-csv.js';
import { waitFor } from '../support/wait-for.js';

const KEY = 'acme-rollup-key';
const FIVE_MINUTES = 300_000;
const HOUR = 3_600_000;

/** DuckDB's own count of raw rows per 5-minute interval (start in ms -> rows). */
async function rawCounts(files: readonly string[]): Promise<Map<number, number>> {
  const list = files.map((f) => `'${f}'`).join(', ');
  return withDuckDB(async (run) => {
    const rows = await run(
      `SELECT epoch_ms(time_bucket(INTERVAL '5 minutes', ts)), count(*) FROM read_csv([${list}]) GROUP BY 1`,
    );
    return new Map(rows.map((r) => [Number(r[0]), Number(r[1])]));
  });
}

interface RollupView {
  name: string;
  intervals: Record<string, number>;
  auditMismatches: number;
  detail?: (IntervalRecord & { start: string; state: string })[];
}

describe.skipIf(!findRedisServer())('interval rollups on a gateway with Redis', () => {
  let root: string;
  let redis: RedisHandle;
  let gateway: GatewayProcess;
  let files: string[];
  // Data covers two hours of complete intervals, starting on a 5-minute boundary.
  const t0 = Math.floor(Date.now() / FIVE_MINUTES) * FIVE_MINUTES - 2 * HOUR - 2 * FIVE_MINUTES;
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${gateway.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text.startsWith('{') ? JSON.parse(text) : text };
  };
  const rollup = async (): Promise<RollupView> => (await call('GET', '/v1/rollups/traffic_5m')).body.rollup;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-rollups-'));
    await mkdir(join(root, 'raw'));
    await mkdir(join(root, 'redis'));
    files = await writeTrafficFiles(join(root, 'raw'), t0, t0 + 2 * HOUR, 20 * 60_000, 3000);
    redis = await startRedis(undefined, join(root, 'redis'));
    const port = await freePort();
    gateway = await startGatewayProcess(
      join(root, 'gateway.json'),
      {
        server: { port },
        state: { redisUrl: redis.url, replicaId: 'rollup-a' },
        storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
        rollups: { location: `file:${join(root, 'rollups')}/`, tickSeconds: 0.3, backfillPerTick: 8 },
        engines: { duckdb: { threads: 1 } },
        tenants: {
          acme: {
            apiKeys: [KEY],
            datasets: { traffic: { location: `file:${join(root, 'raw')}/`, format: 'csv' } },
            rollups: { traffic_5m: trafficRollup(t0) },
          },
        },
      },
      port,
    );
  }, 90_000);
  afterAll(async () => {
    await gateway?.kill('SIGKILL');
    await redis?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('computes every interval once, with the raw row counts, and audits them', async () => {
    const view = await waitFor('all intervals done', async () => {
      const r = await rollup();
      return (r.intervals.done ?? 0) > 0 && r.intervals.done === Object.values(r.intervals).reduce((a, b) => a + b, 0)
        ? r
        : undefined;
    });
    const counts = await rawCounts(files);
    const detail = view.detail ?? [];
    expect(detail.length).toBeGreaterThanOrEqual(24);
    for (const interval of detail) {
      expect(interval.rows, interval.start).toBe(counts.get(Date.parse(interval.start)) ?? 0);
      expect(interval.attempts, interval.start).toBe(1);
    }
    const audited = await waitFor('audits', async () => {
      const r = await rollup();
      return r.detail?.every((i) => i.audit) ? r : undefined;
    });
    expect(audited.detail?.every((i) => i.audit?.ok && i.audit.rawRows === i.rows)).toBe(true);
    expect(audited.auditMismatches).toBe(0);
  });

  it('answers an aggregation from the rollup when it fits, with DuckDB answers on the raw data', async () => {
    const sql = `SELECT organization, count(*) AS requests, sum(total_response_ms) AS total_ms,
        quantile_cont(total_response_ms, 0.95) AS p95, count(*) FILTER (WHERE status_code >= 500) AS errors
      FROM traffic
      WHERE ts >= TIMESTAMP '${timestampText(t0 + 30 * 60_000)}' AND ts < TIMESTAMP '${timestampText(t0 + 90 * 60_000)}'
        AND api_proxy <> 'search'
      GROUP BY organization ORDER BY organization`;
    const fromRollup = await call('POST', '/v1/query', { sql });
    expect(fromRollup.status).toBe(200);
    expect(fromRollup.body.stats.rollup).toBe('traffic_5m');
    expect(fromRollup.body.stats.engine).toBe('local-agg');
    const raw = await call('POST', '/v1/query', { sql, engine: 'duckdb' });
    expect(raw.body.stats.rollup).toBeUndefined();
    expect(fromRollup.body.rows.length).toBeGreaterThan(1);
    expect(fromRollup.body.rows).toEqual(raw.body.rows);

    // Hour buckets merge twelve intervals each.
    const hourly = `SELECT date_trunc('hour', ts) AS h, count(*) AS n, quantile_cont(total_response_ms, 0.5) AS p50
      FROM traffic WHERE ts >= TIMESTAMP '${timestampText(t0)}' AND ts < TIMESTAMP '${timestampText(t0 + 2 * HOUR)}'
      GROUP BY 1 ORDER BY 1`;
    const hourlyRollup = await call('POST', '/v1/query', { sql: hourly });
    expect(hourlyRollup.body.stats.rollup).toBe('traffic_5m');
    expect(hourlyRollup.body.rows).toEqual(
      (await call('POST', '/v1/query', { sql: hourly, engine: 'duckdb' })).body.rows,
    );
  });

  it('leaves to the engines what the rollup cannot answer', async () => {
    for (const sql of [
      // Not aligned to intervals.
      `SELECT count(*) FROM traffic WHERE ts >= TIMESTAMP '${timestampText(t0 + 60_000)}' AND ts < TIMESTAMP '${timestampText(t0 + HOUR)}'`,
      // A measure the rollup does not keep.
      `SELECT max(response_size) FROM traffic WHERE ts >= TIMESTAMP '${timestampText(t0)}' AND ts < TIMESTAMP '${timestampText(t0 + HOUR)}'`,
      // No time range.
      'SELECT organization, count(*) FROM traffic GROUP BY organization',
    ]) {
      const result = await call('POST', '/v1/query', { sql });
      expect(result.status, sql).toBe(200);
      expect(result.body.stats.rollup, sql).toBeUndefined();
    }
  });

  it('runs aggregations on local-agg when asked, and routes to DuckDB what it declines', async () => {
    const sql = `SELECT organization, api_proxy, count(*) AS n, avg(total_response_ms) AS mean,
        quantile_cont(total_response_ms, 0.99) AS p99
      FROM traffic WHERE status_code = 200 GROUP BY ALL ORDER BY organization, api_proxy`;
    const local = await call('POST', '/v1/query', { sql, engine: 'local-agg' });
    expect(local.status).toBe(200);
    expect(local.body.stats.engine).toBe('local-agg');
    const duckdb = await call('POST', '/v1/query', { sql, engine: 'duckdb' });
    expect(local.body.rows.length).toBeGreaterThan(3);
    expect(local.body.rows.map((r: unknown[]) => r.slice(0, 3))).toEqual(
      duckdb.body.rows.map((r: unknown[]) => r.slice(0, 3)),
    );
    local.body.rows.forEach((row: number[], i: number) => {
      expect(row[3]).toBeCloseTo(duckdb.body.rows[i][3], 9);
      expect(row[4]).toBe(duckdb.body.rows[i][4]);
    });

    const joined = await call('POST', '/v1/query', {
      sql: 'SELECT count(*) FROM traffic a JOIN traffic b USING (ts)',
      engine: 'local-agg',
    });
    expect(joined.status).toBe(200);
    expect(joined.body.stats.engine).toBe('duckdb');
    expect(joined.body.stats.route).toMatch(/^local-agg declined: .*JOIN.*; answered by duckdb$/);
  });

  it('serves the rollup as a dataset of its own', async () => {
    const result = await call('POST', '/v1/query', {
      sql: 'SELECT sum(_rows) AS n, sum(requests) AS r FROM traffic_5m',
    });
    expect(result.status).toBe(200);
    expect(result.body.rows[0]).toEqual([18_000, 18_000]);
  });

  it('exposes the lag and the failed audits as metrics', async () => {
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    const line = metrics.split('\n').find((l) => l.startsWith('lakegate_rollup_lag_seconds{'));
    expect(line).toMatch(/tenant="acme"/);
    expect(Number(line?.split(' ').at(-1))).toBeLessThan(600);
    // Every interval audited clean so far.
    const mismatches = metrics.split('\n').find((l) => l.startsWith('lakegate_rollup_audit_mismatches{'));
    expect(mismatches).toMatch(/tenant="acme"/);
    expect(Number(mismatches?.split(' ').at(-1))).toBe(0);
  });

  it('catches a corrupted rollup file in the audit, and a backfill repairs it', async () => {
    const folder = join(root, 'rollups', 'acme', 'traffic_5m');
    const [first] = (await readdir(folder)).sort();
    const path = join(folder, first as string);
    const lines = (await readFile(path, 'utf8')).trim().split('\n');
    const record = JSON.parse(lines[0] as string);
    record._rows += 7;
    lines[0] = JSON.stringify(record);
    await writeFile(path, `${lines.join('\n')}\n`);

    const range = { from: new Date(t0).toISOString(), to: new Date(t0 + FIVE_MINUTES).toISOString() };
    const audit = await call('POST', '/v1/rollups/traffic_5m/audit', range);
    expect(audit.status).toBe(200);
    expect(audit.body.mismatches).toBe(1);
    expect(audit.body.audits[0].rollupRows - audit.body.audits[0].rawRows).toBe(7);
    expect((await rollup()).auditMismatches).toBe(1);

    const backfill = await call('POST', '/v1/rollups/traffic_5m/backfill', range);
    expect(backfill.status).toBe(202);
    expect(backfill.body.intervals).toBe(1);
    const repaired = await waitFor('the recomputed interval', async () => {
      const r = await rollup();
      const interval = r.detail?.find((i) => Date.parse(i.start) === t0);
      return interval?.state === 'done' && interval.attempts === 2 && interval.audit ? r : undefined;
    });
    expect(repaired.auditMismatches).toBe(0);
  });

  it('refuses bad backfill ranges and unknown rollups with clear errors', async () => {
    const bad = await call('POST', '/v1/rollups/traffic_5m/backfill', { from: 'yesterday' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_REQUEST');
    const missing = await call('POST', '/v1/rollups/nope/backfill', {});
    expect(missing.status).toBe(404);
  });
});

describe.skipIf(!findRedisServer())('a gateway killed in the middle of an interval', () => {
  let root: string;
  let redis: RedisHandle;
  let s3: S3Handle;
  let client: ReturnType<typeof s3Client>;
  let gateway: GatewayProcess | undefined;
  let port: number;
  let t0 = 0;
  // The raw data and the sink both live in S3, so that a slow origin holds an interval in the middle of its write.
  const config = () => ({
    server: { port },
    state: { redisUrl: redis.url, replicaId: 'rollup-crash' },
    storage: {
      cacheDir: join(root, 'cache'),
      warming: { enabled: false },
      s3: s3Settings(s3.endpoint, { requestTimeoutMs: 60_000, maxAttempts: 1 }),
    },
    rollups: { location: 's3://rollups/sink/', tickSeconds: 0.3 },
    engines: { duckdb: { threads: 1 } },
    tenants: {
      acme: {
        apiKeys: [KEY],
        datasets: { traffic: { location: 's3://raw/traffic/', format: 'csv' } },
        rollups: { traffic_5m: trafficRollup(t0) },
      },
    },
  });
  const view = async (): Promise<RollupView> => {
    const response = await fetch(`${gateway?.url}/v1/rollups/traffic_5m`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    return ((await response.json()) as { rollup: RollupView }).rollup;
  };

  beforeAll(async () => {
    t0 = Math.floor(Date.now() / FIVE_MINUTES) * FIVE_MINUTES - 4 * FIVE_MINUTES;
    root = await mkdtemp(join(tmpdir(), 'lakegate-rollup-crash-'));
    await mkdir(join(root, 'redis'));
    redis = await startRedis(undefined, join(root, 'redis'));
    s3 = await startS3();
    client = s3Client(s3.endpoint);
    await createBucket(client, 'raw');
    await createBucket(client, 'rollups');
    await putObject(client, 'raw', 'traffic/part-0.csv', trafficCsv(11, t0, t0 + 4 * FIVE_MINUTES, 4000));
    port = await freePort();
  }, 90_000);
  afterAll(async () => {
    await gateway?.kill('SIGKILL');
    await s3?.stop();
    await redis?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('resumes after a SIGKILL and counts every row exactly once', async () => {
    // Every S3 request takes 1.5 s: an interval stays running while its file is written to the sink.
    await s3.setDelay(1500);
    gateway = await startGatewayProcess(join(root, 'gateway.json'), config(), port);
    const running = await waitFor('an interval to run', async () => {
      const r = await view();
      return (r.intervals.running ?? 0) > 0 ? r : undefined;
    });
    expect(running.intervals.done ?? 0).toBeLessThan(4);
    await gateway.kill('SIGKILL');
    // Requests the dead process had in flight reach the origin first (s3rver, unlike S3, keeps a body cut short).
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await s3.setDelay(0);

    gateway = await startGatewayProcess(join(root, 'gateway.json'), config(), port);
    const done = await waitFor('every interval done', async () => {
      const r = await view();
      const total = Object.values(r.intervals).reduce((a, b) => a + b, 0);
      return total >= 4 && r.intervals.done === total && r.detail?.every((i) => i.audit) ? r : undefined;
    }).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${JSON.stringify(await view())}\n${gateway?.output().slice(-3000)}`);
    });
    const detail = done.detail ?? [];
    const context = JSON.stringify(detail);
    expect(
      detail.reduce((sum, i) => sum + (i.rows ?? 0), 0),
      context,
    ).toBe(4000);
    expect(Math.max(...detail.map((i) => i.attempts)), context).toBe(2);
    expect(
      detail.every((i) => i.audit?.ok),
      context,
    ).toBe(true);
    // The sink holds one whole file per interval, and their rows add up to the raw rows: none twice, none lost.
    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'rollups', Prefix: 'sink/acme/traffic_5m/' }));
    const keys = (listed.Contents ?? []).map((o) => o.Key as string);
    expect(keys).toHaveLength(detail.length);
    let stored = 0;
    for (const key of keys) {
      const text = await (
        await client.send(new GetObjectCommand({ Bucket: 'rollups', Key: key }))
      ).Body?.transformToString();
      for (const line of (text ?? '').trim().split('\n')) if (line) stored += JSON.parse(line)._rows;
    }
    expect(stored).toBe(4000);
  });
});

describe.skipIf(!findRedisServer())('backfilling a two-hour gap while new intervals arrive', () => {
  let root: string;
  let redis: RedisHandle;
  let files: string[];
  const t0 = Date.UTC(2026, 0, 5, 8, 0, 0);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-rollup-gap-'));
    await mkdir(join(root, 'raw'));
    await mkdir(join(root, 'redis'));
    files = await writeTrafficFiles(join(root, 'raw'), t0, t0 + 3 * HOUR, 15 * 60_000, 1500);
    redis = await startRedis(undefined, join(root, 'redis'));
  }, 90_000);
  afterAll(async () => {
    await redis?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('computes each new interval on the tick after it ends, and fills the gap behind it', async () => {
    const config = parseConfig(
      {
        storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
        rollups: { location: `file:${join(root, 'rollups')}/`, backfillPerTick: 4 },
        engines: { 'local-agg': { threads: 2 } },
        tenants: {
          acme: {
            apiKeys: [KEY],
            datasets: { traffic: { location: `file:${join(root, 'raw')}/`, format: 'csv' } },
            rollups: { traffic_5m: trafficRollup(t0) },
          },
        },
      },
      { baseDir: root },
    );
    await mkdir(join(root, 'rollups', 'acme', 'traffic_5m'), { recursive: true });
    const storage = await createStorage(storageOptions(config));
    const engines = await EngineRegistry.create({
      specs: await planEngines({
        ...config,
        builtIns: [duckdbEngineFactory as EngineFactory<unknown>, localAggEngineFactory as EngineFactory<unknown>],
      }),
      deps: { storage },
      limits: { maxConcurrent: 4, maxQueued: 16 },
    });
    const state = openRedisState({ url: redis.url, prefix: 'gap:', logger: silentLogger });
    await state.ready(3000);
    let now = t0 + FIVE_MINUTES;
    const service = createRollups({
      config,
      storage,
      ledger: state.ledger,
      engines,
      sink: createBlobStore(config.rollups.location, () => storage.s3Client()),
      logger: process.env.DEBUG_ROLLUPS ? createLogger({ level: 'debug' }) : silentLogger,
      replicaId: () => 'gap-test',
      clock: () => now,
    });
    if (!service) throw new Error('the configuration has rollups');
    const records = async () => {
      const raw = await state.ledger.rollupIntervals('acme/traffic_5m');
      return new Map([...raw].map(([start, text]) => [start, JSON.parse(text) as IntervalRecord]));
    };
    try {
      await service.tick();
      expect([...(await records()).keys()]).toEqual([t0]);

      // Two hours pass without a tick: 24 intervals are missing.
      now = t0 + 2 * HOUR + FIVE_MINUTES;
      let previousHoles = Number.POSITIVE_INFINITY;
      for (let tick = 0; tick < 12; tick++) {
        await service.tick();
        const state = await records();
        const newest = now - FIVE_MINUTES;
        // The interval that has just ended is done on this very tick, whatever the backlog.
        expect(state.get(newest)?.state, `tick ${tick}`).toBe('done');
        let holes = 0;
        for (let start = t0; start < now; start += FIVE_MINUTES) if (state.get(start)?.state !== 'done') holes++;
        expect(holes, `tick ${tick}`).toBeLessThan(previousHoles);
        previousHoles = holes;
        if (holes === 0) break;
        now += FIVE_MINUTES; // a new interval ends before the next tick
      }
      expect(previousHoles).toBe(0);

      const counts = await rawCounts(files);
      const state = await records();
      for (const [start, record] of state) {
        expect(record.state).toBe('done');
        expect(record.rows, new Date(start).toISOString()).toBe(counts.get(start) ?? 0);
        expect(record.audit?.ok, new Date(start).toISOString()).toBe(true);
      }

      // A late file with rows of an interval already done: the next tick computes that interval again.
      const late = t0 + 12 * FIVE_MINUTES;
      await writeFile(join(root, 'raw', 'late.csv'), trafficCsv(99, late, late + FIVE_MINUTES, 40));
      await storage.refresh('acme', 'traffic');
      const before = (await records()).get(late);
      await service.tick();
      const after = (await records()).get(late);
      expect(after?.rows).toBe((before?.rows ?? 0) + 40);
      expect(after?.attempts).toBe((before?.attempts ?? 0) + 1);
      expect(after?.audit?.ok).toBe(true);
    } finally {
      await service.close();
      await engines.close();
      await storage.close();
      await state.close();
    }
  }, 120_000);
});
