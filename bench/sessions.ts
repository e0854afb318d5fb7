/**
 * The session API under load: statements per second on trivial queries with N concurrent sessions (each
 * submitting and polling until available, as Livy clients do), and the latency a session statement adds over a
 * one-shot POST /v1/query of the same SQL, measured in the same run. Uses a real redis-server when one is
 * installed (as deployments do), else the in-memory state.
 *
 *   npm run bench -w @lakegate/bench -- sessions
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, silentLogger, startGateway } from '@lakegate/gateway';
import { findRedisServer, type RedisHandle, startRedis } from '../test/harness/services.js';
import { writeParquet } from '../test/support/duckdb-data.js';
import { ms, report, summarise, timePaired } from './support.js';

const KEY = 'bench-sessions-key';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const SQL = 'SELECT count(*) FROM events';
/** How often the client polls a statement, as a tight Livy client does. */
const POLL_MS = 2;
const PAIRED_RUNS = Number(process.env.BENCH_RUNS ?? 200);

const root = await mkdtemp(join(tmpdir(), 'lakegate-bench-sessions-'));
let redis: RedisHandle | undefined;
try {
  await mkdir(join(root, 'events'));
  await writeParquet(join(root, 'events', 'p.parquet'), 'SELECT i AS id FROM range(1000) t(i)');
  if (findRedisServer()) redis = await startRedis();
  const config = parseConfig(
    {
      server: { port: 0 },
      state: { ...(redis ? { redisUrl: redis.url } : {}), resultsLocation: `file:${join(root, 'results')}/` },
      storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
      sessions: { maxSessionsPerTenant: 100, maxConcurrentStatementsPerTenant: 64 },
      tenants: { acme: { apiKeys: [KEY], datasets: { events: { location: 'file:./events/', format: 'parquet' } } } },
    },
    { baseDir: root },
  );
  const gateway = await startGateway({ config, logger: silentLogger });
  /** Commands Redis has processed so far (0 without Redis). */
  const redisCommands = (): number => {
    if (!redis) return 0;
    const info = execFileSync('redis-cli', ['-u', redis.url, 'INFO', 'stats'], { encoding: 'utf8' });
    return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0);
  };
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${gateway.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${KEY}` },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    // biome-ignore lint/suspicious/noExplicitAny: benchmark reads only what it needs
    return (await response.json()) as any;
  };
  /** Submit, then poll every POLL_MS until available (unless the submission answered it ended), as Livy clients do. */
  const statement = async (session: number): Promise<void> => {
    let { id, state, output } = await call('POST', `/sessions/${session}/statements`, { code: SQL });
    for (;;) {
      if (state === 'available') return;
      if (state === 'error' || state === 'cancelled') throw new Error(`statement ${state}: ${JSON.stringify(output)}`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      ({ state, output } = await call('GET', `/sessions/${session}/statements/${id}`));
    }
  };
  const oneShot = async (): Promise<void> => {
    await call('POST', '/v1/query', { sql: SQL });
  };

  const rows: [string, string][] = [];
  for (const n of [1, 4, 16]) {
    const sessions = await Promise.all(
      Array.from({ length: n }, async () => (await call('POST', '/sessions', { kind: 'sql' })).id as number),
    );
    let done = 0;
    const until = performance.now() + SECONDS * 1000;
    await Promise.all(
      sessions.map(async (session) => {
        while (performance.now() < until) {
          await statement(session);
          done++;
        }
      }),
    );
    rows.push([`statements/s with ${n} concurrent session(s)`, (done / SECONDS).toFixed(0)]);
    for (const session of sessions) await call('DELETE', `/sessions/${session}`);
  }
  const session = (await call('POST', '/sessions', { kind: 'sql' })).id as number;
  const before = redisCommands();
  await statement(session);
  const perStatement = redisCommands() - before;
  const [viaSession, viaQuery] = await timePaired(() => statement(session), oneShot, PAIRED_RUNS, 5);
  const s = summarise(viaSession);
  const q = summarise(viaQuery);
  rows.push(['session statement, submit to available, p50 / p99', `${ms(s.median)} / ${ms(s.p99)}`]);
  rows.push(['one-shot POST /v1/query, p50 / p99 (baseline)', `${ms(q.median)} / ${ms(q.p99)}`]);
  rows.push([
    'added latency of a session statement (p50)',
    `${ms(s.median - q.median)} (${(s.median / q.median).toFixed(2)}x)`,
  ]);
  if (redis) rows.push(['Redis commands for one statement, polls included', String(perStatement)]);
  rows.push(['process peak RSS', `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`]);
  report(`sessions: trivial statements, ${redis ? 'Redis' : 'in-memory'} state, ${SECONDS} s per point`, rows);
  await gateway.close();
} finally {
  await redis?.stop();
  await rm(root, { recursive: true, force: true });
}
