/**
 * Many connections: holds BENCH_CONNECTIONS (default 16,000) concurrent keep-alive HTTP connections to one gateway
 * process on loopback, each sending cached dashboard queries for BENCH_SECONDS (default 10), and reports
 * throughput, p50/p99, errors by kind and the gateway's peak memory. Raises the file-descriptor limit for itself
 * (set `ulimit -n` above the connection count first). Bounded in time; stops by itself.
 *
 *   npm run bench -w @lakegate/bench -- connections
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/harness/services.js';
import { writeParquet } from '../test/support/duckdb-data.js';
import { startGatewayProcess } from '../test/support/gateway-process.js';
import { ms, report, summarise } from './support.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const KEY = 'bench-connections-key';

// Node cannot change its descriptor limit: the shell running the benchmark sets it (`ulimit -n`), here and for
// the gateway it starts. Each of the two processes needs one descriptor per connection.
const limit = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim());
if (Number.isFinite(limit) && limit < CONNECTIONS + 1000) {
  throw new Error(
    `ulimit -n is ${limit}: raise it above ${CONNECTIONS + 1000} (e.g. ulimit -n 20000) for ${CONNECTIONS} connections`,
  );
}
{
  const root = await mkdtemp(join(tmpdir(), 'lakegate-bench-connections-'));
  try {
    await mkdir(join(root, 'events'));
    await writeParquet(join(root, 'events', 'p.parquet'), 'SELECT i, i % 20 AS k FROM range(200000) t(i)');
    const port = await freePort();
    const gateway = await startGatewayProcess(
      join(root, 'config.json'),
      {
        server: { port },
        storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
        limits: { concurrentQueries: 64, queuedQueries: 2048 },
        tenants: {
          acme: {
            apiKeys: [KEY],
            datasets: { events: { location: `file:${join(root, 'events')}/`, format: 'parquet' } },
            resultCache: { enabled: true },
          },
        },
      },
      port,
    );
    const pid = gateway.child.pid ?? 0;
    let peakRss = 0;
    const sampler = setInterval(() => {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      peakRss = Math.max(peakRss, Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024);
    }, 100);
    const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
    // Connections open at once, counted as the client's sockets connect and close.
    let open = 0;
    let peakOpen = 0;
    let opened = 0;
    const onConnect = (socket: Socket) => {
      socket.once('connect', () => {
        open++;
        opened++;
        peakOpen = Math.max(peakOpen, open);
        socket.once('close', () => open--);
      });
    };
    const body = JSON.stringify({ sql: 'SELECT k, count(*), sum(i) FROM events GROUP BY k ORDER BY k' });
    const once = () =>
      new Promise<number>((resolve) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            path: '/v1/query',
            method: 'POST',
            agent,
            headers: { Authorization: `Bearer ${KEY}` },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('socket', (socket) => {
          if (socket.connecting) onConnect(socket);
        });
        req.on('error', () => resolve(-1));
        req.setTimeout(30_000, () => req.destroy());
        req.end(body);
      });
    await once();
    const latencies: number[] = [];
    const outcomes = new Map<number, number>();
    const until = performance.now() + SECONDS * 1000;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (performance.now() < until) {
          const t = performance.now();
          const status = await once();
          outcomes.set(status, (outcomes.get(status) ?? 0) + 1);
          if (status === 200) latencies.push(performance.now() - t);
          else if (status === 429) await new Promise((resolve) => setTimeout(resolve, 200));
          else if (status < 0) break;
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    clearInterval(sampler);
    const ok = outcomes.get(200) ?? 0;
    const latency = summarise(latencies);
    const sockets =
      Object.values(agent.sockets).reduce((n, list) => n + (list?.length ?? 0), 0) +
      Object.values(agent.freeSockets).reduce((n, list) => n + (list?.length ?? 0), 0);
    report(`connections: ${CONNECTIONS} keep-alive connections, cached dashboard query, ${SECONDS} s`, [
      ['answers', [...outcomes].map(([s, n]) => `${s < 0 ? 'connection error' : s}: ${n}`).join(', ')],
      ['throughput (200s)', `${(ok / elapsed).toFixed(0)} queries/s`],
      ['latency of 200s: p50 / p99', `${ms(latency.median)} / ${ms(latency.p99)}`],
      ['connections open at once, at most', `${peakOpen} (${opened} opened in all)`],
      ['sockets open at the end', String(sockets)],
      ['gateway peak RSS', `${(peakRss / 1024 / 1024).toFixed(0)} MiB`],
      ['gateway still alive', String(gateway.child.exitCode === null)],
    ]);
    agent.destroy();
    await gateway.kill('SIGTERM');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
