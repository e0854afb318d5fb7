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
import { connect } from 'node:net';
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

/** An idle connection of one kind, and how to close it. */
interface Idle {
  readonly ok: boolean;
  close(): void;
}

/** One logged-in Postgres connection, left idle. */
const postgresConnection = (pgPort: number) => async (): Promise<Idle> => {
  const client = await WireClient.login(pgPort, 'acme', KEY);
  return { ok: !client.closed, close: () => client.close() };
};

/** One HTTP/1.1 keep-alive connection that has served an authenticated request, left idle. */
const httpConnection = (port: number) => () =>
  new Promise<Idle>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('error', reject);
    socket.once('data', (chunk: Buffer) =>
      resolve({ ok: /^HTTP\/1\.1 200/.test(chunk.toString()), close: () => socket.destroy() }),
    );
    socket.write(`GET /v1/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n\r\n`);
  });

/**
 * Starts a fresh gateway process, opens IDLE connections of one kind to it and measures its memory before and
 * with them (a process keeps memory it freed, so each kind gets its own process).
 */
async function measure(
  root: string,
  open: (ports: { port: number; pgPort: number }) => () => Promise<Idle>,
): Promise<{ before: number; after: number; ok: number; seconds: number }> {
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
  try {
    const pid = gateway.child.pid as number;
    const before = await settledRss(pid);
    const started = performance.now();
    const idle = await openMany(IDLE, open({ port, pgPort }));
    const seconds = (performance.now() - started) / 1000;
    const after = await settledRss(pid);
    for (const connection of idle) connection.close();
    return { before, after, ok: idle.filter((c) => c.ok).length, seconds };
  } finally {
    await gateway.kill('SIGTERM');
  }
}

const root = await mkdtemp(join(tmpdir(), 'lakegate-bench-idle-'));
try {
  await mkdir(join(root, 'events'));
  await writeParquet(join(root, 'events', 'p.parquet'), 'SELECT i FROM range(10) t(i)');
  const postgres = await measure(root, ({ pgPort }) => postgresConnection(pgPort));
  const http = await measure(root, ({ port }) => httpConnection(port));
  const per = (m: { before: number; after: number }) => (m.after - m.before) / IDLE;
  const mib = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  report(`postgres-idle: ${IDLE} idle connections, gateway process RSS (a fresh process for each kind)`, [
    [
      `Postgres, logged in with SCRAM and idle (${postgres.ok} open)`,
      `${mib(postgres.before)} -> ${mib(postgres.after)}`,
    ],
    ['Postgres: per connection', kib(per(postgres))],
    ['Postgres: SCRAM logins per second', (IDLE / postgres.seconds).toFixed(0)],
    [
      `HTTP keep-alive, idle after one request (baseline; ${http.ok} answered)`,
      `${mib(http.before)} -> ${mib(http.after)}`,
    ],
    ['HTTP keep-alive: per connection (baseline)', kib(per(http))],
    ['ratio Postgres / HTTP per connection', `${(per(postgres) / per(http)).toFixed(2)}x`],
  ]);
} finally {
  await rm(root, { recursive: true, force: true });
}
