/**
 * What idle connections cost a gateway process: BENCH_IDLE (default 10,000) Postgres protocol connections, each
 * logged in with SCRAM-SHA-256 and then left idle, beside the same number of idle HTTP keep-alive connections that
 * have each served one request (the baseline), on the same gateway in the same run. The gateway runs as its own
 * process, so its resident memory (VmRSS) is measured alone. Needs `ulimit -n` above the connection count (each
 * of the two processes holds one descriptor per connection). Bounded: it opens the connections, measures, closes.
 *
 *   npm run build && npm run bench -w @lakegate/bench -- postgres-idle
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/harness/services.js';
import { writeParquet } from '../test/support/duckdb-data.js';
import { startGatewayProcess } from '../test/support/gateway-process.js';
import { WireClient } from '../test/support/postgres-wire.js';
import { report } from './support.js';

const IDLE = Number(process.env.BENCH_IDLE ?? 10_000);
const KEY = 'bench-idle-key-0123';

const limit = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim());
if (Number.isFinite(limit) && limit < IDLE + 1000) {
  throw new Error(
    `ulimit -n is ${limit}: raise it above ${IDLE + 1000} (e.g. ulimit -n 20000) for ${IDLE} connections`,
  );
}

/** The gateway's resident memory, settled: the lowest of a few readings a moment apart (after its GC ran). */
async function settledRss(pid: number): Promise<number> {
  let lowest = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 10; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    lowest = Math.min(lowest, Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024);
  }
  return lowest;
}

/** Opens `count` connections with `open`, a few hundred at a time. */
async function openMany<T>(count: number, open: () => Promise<T>): Promise<T[]> {
  const all: T[] = [];
  for (let done = 0; done < count; ) {
    const batch = Math.min(200, count - done);
    all.push(...(await Promise.all(Array.from({ length: batch }, open))));
    done += batch;
  }
  return all;
}

const root = await mkdtemp(join(tmpdir(), 'lakegate-bench-idle-'));
try {
  await mkdir(join(root, 'events'));
  await writeParquet(join(root, 'events', 'p.parquet'), 'SELECT i FROM range(10) t(i)');
  const port = await freePort();
  const pgPort = await freePort();
  const gateway = await startGatewayProcess(
    join(root, 'config.json'),
    {
      server: { port, postgres: { port: pgPort, maxConnections: IDLE + 100, maxConnectionsPerTenant: IDLE + 100 } },
      storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
      tenants: {
        acme: {
          apiKeys: [KEY],
          datasets: { events: { location: `file:${join(root, 'events')}/`, format: 'parquet' } },
        },
      },
    },
    port,
  );
  const pid = gateway.child.pid as number;
  try {
    const start = await settledRss(pid);
    const started = performance.now();
    const idle = await openMany(IDLE, () => WireClient.login(pgPort, 'acme', KEY));
    const loginSeconds = (performance.now() - started) / 1000;
    const withPostgres = await settledRss(pid);
    const alive = idle.filter((c) => !c.closed).length;
    for (const connection of idle) connection.close();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const afterPostgres = await settledRss(pid);

    // The baseline: idle HTTP keep-alive connections, each having served one authenticated request.
    const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
    const once = () =>
      new Promise<number>((resolve) => {
        const req = request(
          { host: '127.0.0.1', port, path: '/v1/datasets', agent, headers: { Authorization: `Bearer ${KEY}` } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', () => resolve(-1));
        req.end();
      });
    const statuses = await openMany(IDLE, once);
    const withHttp = await settledRss(pid);
    const kept = Object.values(agent.freeSockets).reduce((n, list) => n + (list?.length ?? 0), 0);
    agent.destroy();

    const perPostgres = (withPostgres - start) / IDLE;
    const perHttp = (withHttp - afterPostgres) / IDLE;
    const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
    report(`postgres-idle: ${IDLE} idle connections, gateway process RSS`, [
      ['gateway RSS before', `${(start / 1048576).toFixed(0)} MiB`],
      [`Postgres: logged in and idle (${alive} open)`, `${(withPostgres / 1048576).toFixed(0)} MiB`],
      ['Postgres: per connection', kib(perPostgres)],
      ['Postgres: SCRAM logins per second', (IDLE / loginSeconds).toFixed(0)],
      [
        `HTTP keep-alive, idle after one request (baseline; ${statuses.filter((s) => s === 200).length} answered, ${kept} kept)`,
        `${(withHttp / 1048576).toFixed(0)} MiB`,
      ],
      ['HTTP keep-alive: per connection (baseline)', kib(perHttp)],
      ['ratio Postgres / HTTP per connection', `${(perPostgres / perHttp).toFixed(2)}x`],
    ]);
  } finally {
    await gateway.kill('SIGTERM');
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
