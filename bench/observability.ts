/**
 * Observability and admission, measured on loopback in bounded time:
 *  1. tracing overhead: trivial queries with tracing on (spans sent over OTLP/HTTP to a loopback sink) vs off,
 *     paired in one run, each gateway in its own process;
 *  2. fairness: tenant A floods with 20x tenant B's concurrency; B's p99 beside its p99 alone, and how A is
 *     refused (429s, not timeouts).
 *
 *   npm run bench -w @lakegate/bench -- observability
 *   BENCH_SLOTS=2 npm run bench -w @lakegate/bench -- observability     (gateway-wide query slots; default 4)
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/harness/services.js';
import { writeParquet } from '../test/support/duckdb-data.js';
import { type GatewayProcess, startGatewayProcess } from '../test/support/gateway-process.js';
import { ms, report, summarise, timePaired } from './support.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const RUNS = Number(process.env.BENCH_RUNS ?? 1000);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1000);

/** An OTLP/HTTP endpoint on loopback that accepts span batches and drops them. */
async function startSpanSink(): Promise<{ url: string; batches: () => number; close: () => Promise<void> }> {
  let batches = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      batches++;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    batches: () => batches,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const root = await mkdtemp(join(tmpdir(), 'lakegate-bench-observability-'));
const processes: GatewayProcess[] = [];
try {
  for (const tenant of ['a', 'b']) {
    await mkdir(join(root, tenant));
    await writeParquet(join(root, tenant, 'p.parquet'), 'SELECT i, i % 10 AS k FROM range(100000) t(i)');
  }
  /** A gateway in its own process (as in production: the client's work and the gateway's do not share a thread). */
  const launch = async (name: string, extra: Record<string, unknown> = {}) => {
    const port = await freePort();
    const tenant = (id: string) => ({
      apiKeys: [`tenant-${id}-key`],
      datasets: { events: { location: `file:${join(root, id)}/`, format: 'parquet' } },
    });
    const gateway = await startGatewayProcess(
      join(root, `${name}.json`),
      {
        server: { port, host: '127.0.0.1' },
        storage: { cacheDir: join(root, `cache-${name}`), warming: { enabled: false } },
        tenants: { a: tenant('a'), b: tenant('b') },
        ...extra,
      },
      port,
    );
    processes.push(gateway);
    return gateway;
  };
  const post = (gateway: GatewayProcess, key: string, sql: string) =>
    fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}` },
      body: JSON.stringify({ sql }),
    });

  // 1. Tracing overhead: a gateway process exporting spans over OTLP/HTTP beside one with tracing off, at full
  //    sampling and at 10%.
  //    Both are fresh processes each round, warmed alike (the JIT takes hundreds of requests to settle).
  const sink = await startSpanSink();
  const trivial = 'SELECT 1';
  for (const sampleRatio of [1, 0.1]) {
    const plain = await launch(`plain-${sampleRatio}`);
    const traced = await launch(`traced-${sampleRatio}`, {
      observability: { tracing: { exporter: 'otlp', endpoint: sink.url, sampleRatio } },
    });
    const [on, off] = await timePaired(
      async () => (await post(traced, 'tenant-a-key', trivial)).text(),
      async () => (await post(plain, 'tenant-a-key', trivial)).text(),
      RUNS,
      WARMUP,
    );
    const onS = summarise(on);
    const offS = summarise(off);
    report(
      `observability: tracing overhead on trivial queries, sampling ${sampleRatio * 100}%, ${RUNS} paired runs, gateways in their own processes`,
      [
        ['tracing on (OTLP/HTTP to a loopback sink), median', ms(onS.median)],
        ['tracing off, median (baseline)', ms(offS.median)],
        [
          'overhead',
          `${(((onS.median - offS.median) / offS.median) * 100).toFixed(1)}% (${sink.batches()} span batches received so far)`,
        ],
      ],
    );
    await traced.kill('SIGTERM');
    await plain.kill('SIGTERM');
  }
  await sink.close();

  // 2. Fairness under a flood.
  const gateway = await launch('fairness', {
    limits: { concurrentQueries: Number(process.env.BENCH_SLOTS ?? 4), queuedQueries: 64 },
    tenants: {
      a: {
        apiKeys: ['tenant-a-key'],
        datasets: { events: { location: `file:${join(root, 'a')}/`, format: 'parquet' } },
        limits: { concurrentQueries: 2, queuedQueries: 8 },
      },
      b: {
        apiKeys: ['tenant-b-key'],
        datasets: { events: { location: `file:${join(root, 'b')}/`, format: 'parquet' } },
        limits: { concurrentQueries: 2, queuedQueries: 8 },
      },
    },
  });
  const dashboard = 'SELECT k, count(*), sum(i) FROM events GROUP BY k ORDER BY k';
  const run = async (key: string, clients: number, seconds: number) => {
    const latencies: number[] = [];
    const statuses = new Map<number, number>();
    const until = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (performance.now() < until) {
          const started = performance.now();
          const response = await post(gateway, key, dashboard);
          await response.text();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          if (response.status === 200) latencies.push(performance.now() - started);
          else await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }),
    );
    return { latency: summarise(latencies), statuses };
  };
  const alone = await run('tenant-b-key', 2, SECONDS);
  const [flooded, flooder] = await Promise.all([run('tenant-b-key', 2, SECONDS), run('tenant-a-key', 40, SECONDS)]);
  const fmt = (statuses: Map<number, number>) => [...statuses].map(([s, n]) => `${s}: ${n}`).join(', ');
  report(
    `observability: fairness, B with 2 clients, A flooding with 40 (20x), ${SECONDS} s each, ${process.env.BENCH_SLOTS ?? 4} query slots, at most 2 per tenant`,
    [
      ['B alone: p50 / p99', `${ms(alone.latency.median)} / ${ms(alone.latency.p99)}`],
      [
        'B while A floods: p50 / p99',
        `${ms(flooded.latency.median)} / ${ms(flooded.latency.p99)} (p99 ${(flooded.latency.p99 / alone.latency.p99).toFixed(2)}x alone)`,
      ],
      ['B answers', fmt(flooded.statuses)],
      ['A answers', fmt(flooder.statuses)],
    ],
  );
} finally {
  for (const gateway of processes) await gateway.kill('SIGTERM');
  await rm(root, { recursive: true, force: true });
}
