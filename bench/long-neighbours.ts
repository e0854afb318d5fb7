/**
 * A tenant's short queries while four other tenants each run a long one, through one gateway process: tenant `a`
 * sends a 10 ms-class aggregate (`SELECT count(*) FROM events WHERE status = 500` over 2M rows) one after another;
 * tenants `b`..`e` each keep a long GROUP BY over 8M rows running. Blocks of BLOCK queries alternate between the
 * long queries running and not (they are cancelled between blocks), so that both sides share the machine's drift;
 * p50 and p99 (nearest rank) of `a`'s latency over BENCH_BLOCKS blocks each (default 20 x 30 = 600 samples). The
 * long queries have run before the first block, so the engine knows them as long (`engines.duckdb.longQueryMs`).
 *
 *   npm run bench -w @lakegate/bench -- long-neighbours
 */
import { link, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/harness/services.js';
import { writeParquet } from '../test/support/duckdb-data.js';
import { startGatewayProcess } from '../test/support/gateway-process.js';
import { ms, report, summarise } from './support.js';

const BLOCKS = Number(process.env.BENCH_BLOCKS ?? 20);
const BLOCK = 30;
const SHORT = 'SELECT count(*) FROM events WHERE status = 500';
const LONG = 'SELECT id % 100000 AS k, count(*), sum(ms), avg(ms) FROM events GROUP BY 1 ORDER BY 3 DESC LIMIT 10';
const NEIGHBOURS = ['b', 'c', 'd', 'e'];
const data = join(import.meta.dirname, '.data', 'long-neighbours');

const write = async (path: string, rows: number) => {
  if (await stat(path).catch(() => undefined)) return;
  await mkdir(join(path, '..'), { recursive: true });
  await writeParquet(
    path,
    `SELECT i AS id, (CASE WHEN i % 97 = 0 THEN 500 ELSE 200 END)::INTEGER AS status, (i * 7919) % 1000 AS ms
     FROM range(${rows}) t(i)`,
  );
};
await write(join(data, 'short.parquet'), 2_000_000);
await write(join(data, 'long.parquet'), 8_000_000);

const root = await mkdtemp(join(tmpdir(), 'lakegate-bench-neighbours-'));
try {
  // Each tenant its own folder; the long tenants' files are links to one file.
  const tenants: Record<string, unknown> = {};
  for (const tenant of ['a', ...NEIGHBOURS]) {
    await mkdir(join(root, tenant));
    await link(join(data, tenant === 'a' ? 'short.parquet' : 'long.parquet'), join(root, tenant, 'p.parquet'));
    tenants[tenant] = {
      apiKeys: [`${tenant}-neighbours-key`],
      datasets: { events: { location: `file:${join(root, tenant)}/`, format: 'parquet' } },
    };
  }
  const port = await freePort();
  const gateway = await startGatewayProcess(
    join(root, 'config.json'),
    {
      server: { port, postgres: { enabled: false } },
      storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
      tenants,
    },
    port,
  );
  const query = async (tenant: string, sql: string, signal?: AbortSignal): Promise<void> => {
    const response = await fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${tenant}-neighbours-key` },
      body: JSON.stringify({ sql }),
      signal: signal ?? null,
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${tenant}: ${response.status} ${text}`);
  };
  // Every tenant's engine opens, and runs its long query (a dashboard's queries repeat) twice before anything is
  // timed: the steady state, where the engine knows the long queries as long. A long query seen for the first time
  // runs beside the others until `longQueryMs` has passed, then takes a long-query slot.
  for (const tenant of NEIGHBOURS) for (let i = 0; i < 2; i++) await query(tenant, LONG);
  let longRuns = 0;
  const timeShort = async (into: number[]) => {
    for (let i = 0; i < BLOCK; i++) {
      const sent = performance.now();
      await query('a', SHORT);
      into.push(performance.now() - sent);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  for (let i = 0; i < 10; i++) await query('a', SHORT);
  const alone: number[] = [];
  const loaded: number[] = [];
  for (let block = 0; block < BLOCKS; block++) {
    await timeShort(alone);
    const stop = new AbortController();
    const neighbours = NEIGHBOURS.map(async (tenant) => {
      while (!stop.signal.aborted) {
        await query(tenant, LONG, stop.signal).then(
          () => longRuns++,
          () => undefined,
        );
      }
    });
    // The long queries are under way before the block's short queries start.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await timeShort(loaded);
    stop.abort();
    await Promise.all(neighbours);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  const a = summarise(alone);
  const l = summarise(loaded);
  report(`long-neighbours: tenant a's short query, alone and beside 4 tenants' long queries (${BLOCKS} blocks each)`, [
    ['alone: p50 / p99 (baseline)', `${ms(a.median)} / ${ms(a.p99)} (${a.runs} samples)`],
    ['beside 4 long queries: p50 / p99', `${ms(l.median)} / ${ms(l.p99)} (${l.runs} samples)`],
    ['p99 beside / alone', `${(l.p99 / a.p99).toFixed(2)}x`],
    ['p50 beside / alone', `${(l.median / a.median).toFixed(2)}x`],
    ['long queries finished meanwhile', String(longRuns)],
  ]);
  await gateway.kill('SIGTERM');
} finally {
  await rm(root, { recursive: true, force: true });
}
