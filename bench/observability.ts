/**
 * Observability and admission, measured on loopback in bounded time:
 *  1. tracing overhead: trivial queries with tracing on (spans sent over OTLP/HTTP to a loopback sink) vs off,
 *     paired in one run, each gateway in its own process;
 *  2. fairness: tenant A floods at 20x tenant B's query rate, every other 2 seconds; B's p99 while A floods beside
 *     its p99 while A is silent (interleaved, in one run), and how A is refused (429s, not timeouts).
 *
 *   npm run bench -w @lakegate/bench -- observability
 *   BENCH_ONLY=fairness BENCH_SECONDS=60 npm run bench -w @lakegate/bench -- observability
 *   BENCH_ONLY=tracing npm run bench -w @lakegate/bench -- observability
 *   BENCH_SLOTS=4 BENCH_B_RATES=10,40 ...     (gateway-wide query slots, default the cores; B's rates, 5,10,20/s)
 *   BENCH_FLOOD_NICE=0 ...                    (the flooding client's CPU priority, default 19: the lowest)
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/harness/services.js';
import { writeParquet } from '../test/support/duckdb-data.js';
import { type GatewayProcess, startGatewayProcess } from '../test/support/gateway-process.js';
import { type PacedOptions, type PacedResult, paced } from './clients/paced.js';
import { ms, report, summarise, timePaired } from './support.js';

/** How long B runs alone and under the flood (interleaved), each, per rate: a p99 of B's 150 to 600 answers each. */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const RUNS = Number(process.env.BENCH_RUNS ?? 1000);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1000);
/** `fairness` or `tracing`: only that measurement. */
const ONLY = process.env.BENCH_ONLY;
/** The CPU priority (nice) of the flooding client's process. */
const FLOOD_NICE = Number(process.env.BENCH_FLOOD_NICE ?? 19);

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
  for (const sampleRatio of ONLY === 'fairness' ? [] : [1, 0.1]) {
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

  // 2. Fairness under a flood: B sends dashboard queries at a steady rate, A at 20 times that rate, both open loop
  //    (a query every 1/rate seconds whatever the answers' latency, as users of dashboards do). B runs throughout
  //    while A alternates between flooding and silence (PERIOD_MS, half each), so that B's latencies alone and under
  //    the flood interleave: a machine whose speed drifts (shared, noisy) affects both alike, where measuring one
  //    after the other would put the drift into the ratio. B's queries sent within SETTLE_MS after A starts or stops
  //    count for neither. The gateway-wide slots default to the cores (CPU-bound queries).
  const slots = Number(process.env.BENCH_SLOTS ?? availableParallelism());
  const gateway = await launch('fairness', {
    limits: { concurrentQueries: slots, queuedQueries: 64 },
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
  const PERIOD_MS = 4000;
  const SETTLE_MS = 250;
  /**
   * A client in its own process, as it would come from another machine: in B's process, a client sending hundreds
   * of queries a second would delay B's client itself (one event loop), which is not the gateway's doing. On a
   * machine of a few cores that process also takes CPU from the gateway, which a client on another machine would
   * not: the flood runs at the lowest priority (BENCH_FLOOD_NICE, default 19; 0 to compete as an equal), so that it
   * uses the cores the gateway leaves idle.
   */
  const client = async (options: PacedOptions, nice: number): Promise<PacedResult> => {
    // Started under nice(1), so that every thread of the process has the priority from the start.
    const child = spawn(
      'nice',
      [
        '-n',
        String(nice),
        process.execPath,
        '--import',
        'tsx',
        join(import.meta.dirname, 'clients', 'paced.ts'),
        JSON.stringify(options),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`a client process exited with ${code}`);
    return JSON.parse(out) as PacedResult;
  };
  // B's rate from light to heavy: where A's traffic leaves the cores some room, and where it saturates them.
  const bRates = ONLY === 'tracing' ? [] : (process.env.BENCH_B_RATES ?? '5,10,20').split(',').map(Number);
  for (const bRate of bRates) {
    const common = { url: gateway.url, sql: dashboard, seconds: 2 * SECONDS };
    await paced({ ...common, key: 'tenant-b-key', rate: bRate, seconds: 1, inFlight: 8 }); // warm-up
    // Both start on one clock, after the flooding process has had time to load.
    const startAt = Date.now() + 3000;
    const [b, a] = await Promise.all([
      paced({ ...common, key: 'tenant-b-key', rate: bRate, inFlight: 64, startAt }),
      client(
        {
          ...common,
          key: 'tenant-a-key',
          rate: 20 * bRate,
          inFlight: 256,
          startAt,
          pattern: { periodMs: PERIOD_MS, onMs: PERIOD_MS / 2 },
        },
        FLOOD_NICE,
      ),
    ]);
    if (a.lateMs > 0 || b.lateMs > 0) throw new Error(`a client started ${Math.max(a.lateMs, b.lateMs)} ms late`);
    const alone: number[] = [];
    const flooded: number[] = [];
    b.latencies.forEach((latency, i) => {
      const phase = (b.sentAt[i] as number) % PERIOD_MS;
      const half = PERIOD_MS / 2;
      if (phase % half < SETTLE_MS) return;
      (phase < half ? flooded : alone).push(latency);
    });
    const aloneS = summarise(alone);
    const floodedS = summarise(flooded);
    const fmt = (statuses: Record<string, number>) =>
      Object.entries(statuses)
        .map(([s, n]) => `${s}: ${n}`)
        .join(', ');
    report(
      `observability: fairness, B at ${bRate} queries/s, A flooding at ${20 * bRate}/s (20x) half of the time (${PERIOD_MS / 2000} s on, ${PERIOD_MS / 2000} s off, ${2 * SECONDS} s), open loop, ${slots} query slots, at most 2 per tenant, flood client at nice ${FLOOD_NICE}`,
      [
        ['B alone: p50 / p99', `${ms(aloneS.median)} / ${ms(aloneS.p99)} (${alone.length} answers)`],
        [
          'B while A floods: p50 / p99',
          `${ms(floodedS.median)} / ${ms(floodedS.p99)} (${flooded.length} answers; p99 ${(floodedS.p99 / aloneS.p99).toFixed(2)}x alone; goal: at most 2x)`,
        ],
        ['B answers', fmt(b.statuses)],
        ['A answers', `${fmt(a.statuses)}${a.notSent > 0 ? `; ${a.notSent} not sent (256 unanswered)` : ''}`],
      ],
    );
  }
} finally {
  for (const gateway of processes) await gateway.kill('SIGTERM');
  await rm(root, { recursive: true, force: true });
}
