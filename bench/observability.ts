/**
 * Observability and admission, measured on loopback in bounded time:
 *  1. tracing overhead: trivial queries with tracing on (spans exported to a sink) vs off, paired in one run;
 *  2. fairness: tenant A floods with 20x tenant B's concurrency; B's p99 beside its p99 alone, and how A is
 *     refused (429s, not timeouts).
 *
 *   npm run bench -w @lakegate/bench -- observability
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type RunningGateway, silentLogger, startGateway } from '@lakegate/gateway';
import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { writeParquet } from '../test/support/duckdb-data.js';
import { ms, report, summarise, timePaired } from './support.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

/** Accepts spans and drops them: the cost measured is making them, not shipping them. */
class SinkExporter implements SpanExporter {
  exported = 0;
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.exported += spans.length;
    done({ code: 0 });
  }
  async shutdown(): Promise<void> {}
}

const root = await mkdtemp(join(tmpdir(), 'lakegate-bench-observability-'));
try {
  for (const tenant of ['a', 'b']) {
    await mkdir(join(root, tenant));
    await writeParquet(join(root, tenant, 'p.parquet'), 'SELECT i, i % 10 AS k FROM range(100000) t(i)');
  }
  const base = (extra: Record<string, unknown> = {}) =>
    parseConfig(
      {
        server: { port: 0 },
        storage: { cacheDir: join(root, `cache-${Math.random()}`), warming: { enabled: false } },
        tenants: {
          a: { apiKeys: ['tenant-a-key'], datasets: { events: { location: 'file:./a/', format: 'parquet' } } },
          b: { apiKeys: ['tenant-b-key'], datasets: { events: { location: 'file:./b/', format: 'parquet' } } },
        },
        ...extra,
      },
      { baseDir: root },
    );
  const post = (gateway: RunningGateway, key: string, sql: string) =>
    fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}` },
      body: JSON.stringify({ sql }),
    });

  // 1. Tracing overhead.
  const sink = new SinkExporter();
  const traced = await startGateway({ config: base(), logger: silentLogger, spanExporter: sink });
  const plain = await startGateway({ config: base(), logger: silentLogger });
  const trivial = 'SELECT 1';
  const [on, off] = await timePaired(
    async () => (await post(traced, 'tenant-a-key', trivial)).text(),
    async () => (await post(plain, 'tenant-a-key', trivial)).text(),
    300,
    30,
  );
  const onS = summarise(on);
  const offS = summarise(off);
  report('observability: tracing overhead on trivial queries, 300 paired runs', [
    ['tracing on, median', ms(onS.median)],
    ['tracing off, median (baseline)', ms(offS.median)],
    ['overhead', `${(((onS.median - offS.median) / offS.median) * 100).toFixed(1)}% (${sink.exported} spans made)`],
  ]);
  await traced.close();
  await plain.close();

  // 2. Fairness under a flood.
  const gateway = await startGateway({
    config: base({
      limits: { concurrentQueries: 4, queuedQueries: 64 },
      tenants: {
        a: {
          apiKeys: ['tenant-a-key'],
          datasets: { events: { location: 'file:./a/', format: 'parquet' } },
          limits: { concurrentQueries: 2, queuedQueries: 8 },
        },
        b: {
          apiKeys: ['tenant-b-key'],
          datasets: { events: { location: 'file:./b/', format: 'parquet' } },
          limits: { concurrentQueries: 2, queuedQueries: 8 },
        },
      },
    }),
    logger: silentLogger,
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
    `observability: fairness, B with 2 clients, A flooding with 40 (20x), ${SECONDS} s each, 4 query slots, at most 2 per tenant`,
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
  await gateway.close();
} finally {
  await rm(root, { recursive: true, force: true });
}
