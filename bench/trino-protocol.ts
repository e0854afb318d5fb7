/**
 * Reading a 100k-row result over Trino's client protocol (the real trino-client, page by page) beside the same
 * result from POST /v1/query as NDJSON, in the same run.
 *
 *   npm run bench -w @lakegate/bench -- trino-protocol
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, silentLogger, startGateway } from '@lakegate/gateway';
import { BasicAuth, Trino } from 'trino-client';
import { writeParquet } from '../test/support/duckdb-data.js';
import { ms, report, summarise, timePaired } from './support.js';

const KEY = 'bench-trino-key';
const ROWS = 100_000;
const SQL = 'SELECT id, name, score FROM events';

const root = await mkdtemp(join(tmpdir(), 'lakegate-bench-trino-'));
try {
  await mkdir(join(root, 'events'));
  await writeParquet(
    join(root, 'events', 'p.parquet'),
    `SELECT i AS id, 'name-' || i AS name, i * 0.5 AS score FROM range(${ROWS}) t(i)`,
  );
  const config = parseConfig(
    {
      server: { port: 0 },
      storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
      query: { maxMaxRows: ROWS },
      tenants: { acme: { apiKeys: [KEY], datasets: { events: { location: 'file:./events/', format: 'parquet' } } } },
    },
    { baseDir: root },
  );
  const gateway = await startGateway({ config, logger: silentLogger });
  const trino = Trino.create({
    server: gateway.url,
    catalog: 'lakegate',
    schema: 'acme',
    auth: new BasicAuth('acme', KEY),
  });
  let pages = 0;
  const viaTrino = async () => {
    let rows = 0;
    pages = 0;
    for await (const page of await trino.query(SQL)) {
      rows += page.data?.length ?? 0;
      pages++;
    }
    if (rows !== ROWS) throw new Error(`trino returned ${rows} rows`);
  };
  const viaNdjson = async () => {
    const response = await fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}`, Accept: 'application/x-ndjson' },
      body: JSON.stringify({ sql: SQL, maxRows: ROWS }),
    });
    const text = await response.text();
    if (text.split('\n').length < ROWS) throw new Error('short NDJSON result');
  };
  const [t, n] = await timePaired(viaTrino, viaNdjson, 8, 2);
  const ts = summarise(t);
  const ns = summarise(n);
  report(`trino-protocol: ${ROWS} rows x 3 columns`, [
    [
      'trino-client, all pages, median',
      `${ms(ts.median)} (${pages} pages, ${((ROWS / ts.median) * 1000).toFixed(0)} rows/s)`,
    ],
    ['POST /v1/query NDJSON, median (baseline)', `${ms(ns.median)} (${((ROWS / ns.median) * 1000).toFixed(0)} rows/s)`],
    ['ratio', `${(ts.median / ns.median).toFixed(2)}x`],
  ]);
  await gateway.close();
} finally {
  await rm(root, { recursive: true, force: true });
}
