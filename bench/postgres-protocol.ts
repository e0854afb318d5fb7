/**
 * Reading a 1M-row, 5-column result over the Postgres wire protocol (node `pg`, rows streamed as arrays) beside
 * the same result from POST /v1/query as NDJSON, in the same run; and the latency of a new connection's login
 * (SCRAM-SHA-256) plus one query, beside the same query over HTTP. Idle connections' memory: postgres-idle.
 *
 *   npm run bench -w @lakegate/bench -- postgres-protocol
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, silentLogger, startGateway } from '@lakegate/gateway';
import pg from 'pg';
import { writeParquet } from '../test/support/duckdb-data.js';
import { ms, report, summarise, time, timePaired } from './support.js';

const KEY = 'bench-postgres-key';
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const SQL = 'SELECT id, name, score, day, even FROM events';

const root = await mkdtemp(join(tmpdir(), 'lakegate-bench-postgres-'));
try {
  await mkdir(join(root, 'events'));
  await writeParquet(
    join(root, 'events', 'p.parquet'),
    `SELECT i AS id, 'name-' || i AS name, i * 0.5 AS score, DATE '2024-01-01' + (i % 365)::INTEGER AS day,
            i % 2 = 0 AS even FROM range(${ROWS}) t(i)`,
  );
  const config = parseConfig(
    {
      server: { port: 0, postgres: { port: 0, maxConnectionsPerTenant: 100_000 } },
      storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
      query: { maxMaxRows: ROWS },
      tenants: { acme: { apiKeys: [KEY], datasets: { events: { location: 'file:./events/', format: 'parquet' } } } },
    },
    { baseDir: root },
  );
  const gateway = await startGateway({ config, logger: silentLogger });
  const connection = {
    host: '127.0.0.1',
    port: gateway.postgresPort,
    user: 'acme',
    password: KEY,
    database: 'lakegate',
  };
  const client = new pg.Client(connection);
  await client.connect();

  const viaPostgres = () =>
    new Promise<void>((resolve, reject) => {
      let rows = 0;
      // A row listener and no callback: pg hands each row over without keeping the result.
      const query = new pg.Query({ text: SQL, rowMode: 'array' } as pg.QueryConfig);
      query.on('row', () => {
        rows++;
      });
      query.on('error', reject);
      query.on('end', () => (rows === ROWS ? resolve() : reject(new Error(`pg returned ${rows} rows`))));
      client.query(query);
    });
  const viaNdjson = async () => {
    const response = await fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, Accept: 'application/x-ndjson' },
      body: JSON.stringify({ sql: SQL, maxRows: ROWS }),
    });
    let lines = 0;
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      for (const byte of chunk) if (byte === 10) lines++;
    }
    if (lines < ROWS) throw new Error(`short NDJSON result: ${lines} lines`);
  };
  const [p, n] = await timePaired(viaPostgres, viaNdjson, Number(process.env.BENCH_RUNS ?? 6), 1);
  const ps = summarise(p);
  const ns = summarise(n);

  const login = await time(async () => {
    const fresh = new pg.Client(connection);
    await fresh.connect();
    await fresh.query('SELECT 1');
    await fresh.end();
  }, 50);
  const queryOnly = await time(() => client.query('SELECT id FROM events WHERE id = $1', [42]), 50);
  const overHttp = await time(
    () =>
      fetch(`${gateway.url}/v1/query`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${KEY}` },
        body: JSON.stringify({ sql: 'SELECT id FROM events WHERE id = 42' }),
      }).then((r) => r.text()),
    50,
  );
  report(`postgres-protocol: ${ROWS} rows x 5 columns`, [
    ['pg (simple query, text rows), median', `${ms(ps.median)} (${((ROWS / ps.median) * 1000).toFixed(0)} rows/s)`],
    ['POST /v1/query NDJSON, median (baseline)', `${ms(ns.median)} (${((ROWS / ns.median) * 1000).toFixed(0)} rows/s)`],
    ['ratio (goal <= 1.2x)', `${(ps.median / ns.median).toFixed(2)}x`],
    ['new connection: SCRAM login + SELECT 1 + close, p50', ms(summarise(login).median)],
    ['open connection: parameterised point query, p50', ms(summarise(queryOnly).median)],
    ['POST /v1/query point query, p50 (baseline)', ms(summarise(overHttp).median)],
  ]);
  await client.end();
  await gateway.close();
} finally {
  await rm(root, { recursive: true, force: true });
}
