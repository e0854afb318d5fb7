/**
 * Reading a result over Trino's client protocol (the real trino-client, page by page) beside the same result from
 * POST /v1/query as NDJSON, interleaved in the same run: 200k and 1M rows of 5 columns (BIGINT, VARCHAR, DOUBLE,
 * TIMESTAMP, INTEGER). BENCH_RUNS (default 6) paired runs per size. A third pair reads the Trino pages with fetch,
 * following nextUri without parsing the rows, beside the NDJSON read alike: the gateway's own cost per protocol,
 * without trino-client's JSON parsing.
 *
 * The gateway runs as its own process, as it is deployed: in the client's process, its work and the client's
 * parsing would take turns on one JavaScript thread, and each side's time would include the other's. Its peak RSS
 * is reported apart from the client's.
 *
 *   npm run build && npm run bench -w @lakegate/bench -- trino-protocol
 */

import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BasicAuth, Trino } from 'trino-client';
import { freePort } from '../test/harness/services.js';
import { writeParquet } from '../test/support/duckdb-data.js';
import { startGatewayProcess } from '../test/support/gateway-process.js';
import { ms, report, summarise, timePaired } from './support.js';

const KEY = 'bench-trino-key';
const SIZES = [200_000, 1_000_000];
const RUNS = Number(process.env.BENCH_RUNS ?? 6);

const root = await mkdtemp(join(tmpdir(), 'lakegate-bench-trino-'));
try {
  await mkdir(join(root, 'events'));
  await writeParquet(
    join(root, 'events', 'p.parquet'),
    `SELECT i AS id, 'name-' || i AS name, i * 0.5 AS score, TIMESTAMP '2026-01-01' + INTERVAL (i) SECOND AS ts,
            (i % 600)::INTEGER AS status
     FROM range(${Math.max(...SIZES)}) t(i)`,
  );
  const port = await freePort();
  const gateway = await startGatewayProcess(
    join(root, 'config.json'),
    {
      server: { port, postgres: { enabled: false } },
      storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
      query: { maxMaxRows: Math.max(...SIZES) },
      tenants: { acme: { apiKeys: [KEY], datasets: { events: { location: 'file:./events/', format: 'parquet' } } } },
    },
    port,
    { logFile: join(root, 'gateway.log') },
  );
  const peakRss = (): number =>
    Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${gateway.child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  const trino = Trino.create({
    server: gateway.url,
    catalog: 'lakegate',
    schema: 'acme',
    auth: new BasicAuth('acme', KEY),
  });
  for (const rows of SIZES) {
    const sql = `SELECT id, name, score, ts, status FROM events LIMIT ${rows}`;
    let pages = 0;
    const viaTrino = async () => {
      let read = 0;
      pages = 0;
      for await (const page of await trino.query(sql)) {
        if (page.error) throw new Error(page.error.message);
        read += page.data?.length ?? 0;
        pages++;
      }
      if (read !== rows) throw new Error(`trino returned ${read} rows`);
    };
    const viaNdjson = async () => {
      const response = await fetch(`${gateway.url}/v1/query`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${KEY}`, Accept: 'application/x-ndjson' },
        body: JSON.stringify({ sql, maxRows: rows }),
      });
      const text = await response.text();
      if (text.split('\n').length < rows) throw new Error('short NDJSON result');
    };
    // What a client does to use NDJSON rows: parse each line, as trino-client parses its pages.
    const viaNdjsonParsed = async () => {
      const response = await fetch(`${gateway.url}/v1/query`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${KEY}`, Accept: 'application/x-ndjson' },
        body: JSON.stringify({ sql, maxRows: rows }),
      });
      let parsed = 0;
      for (const line of (await response.text()).split('\n'))
        if (line.startsWith('[')) parsed += JSON.parse(line).length > 0 ? 1 : 0;
      if (parsed < rows) throw new Error('short NDJSON result');
    };
    // The pages as bytes: nextUri is in each page's head, before its data; rows are counted by their separators.
    const basic = `Basic ${Buffer.from(`acme:${KEY}`).toString('base64')}`;
    const viaTrinoPages = async () => {
      let response = await fetch(`${gateway.url}/v1/statement`, {
        method: 'POST',
        headers: { Authorization: basic, 'X-Trino-User': 'acme', 'X-Trino-Schema': 'acme' },
        body: sql,
      });
      let read = 0;
      for (;;) {
        const text = await response.text();
        const data = text.indexOf('"data":[[');
        if (data >= 0) for (let at = data; at >= 0; at = text.indexOf('],[', at + 3)) read++;
        const next = /"nextUri":"([^"]+)"/.exec(text.slice(0, data >= 0 ? data : undefined));
        if (!next?.[1]) break;
        response = await fetch(next[1], { headers: { Authorization: basic, 'X-Trino-User': 'acme' } });
      }
      if (read !== rows) throw new Error(`the Trino pages held ${read} rows`);
    };
    const [t, n] = await timePaired(viaTrino, viaNdjson, RUNS, 1);
    const [t2, p] = await timePaired(viaTrino, viaNdjsonParsed, RUNS, 0);
    const [t3, n3] = await timePaired(viaTrinoPages, viaNdjson, RUNS, 1);
    const ts = summarise(t);
    const ns = summarise(n);
    const ts2 = summarise(t2);
    const ps = summarise(p);
    const ts3 = summarise(t3);
    const ns3 = summarise(n3);
    report(`trino-protocol: ${rows} rows x 5 columns, ${RUNS} paired runs`, [
      [
        'trino-client, all pages, median',
        `${ms(ts.median)} (${pages} pages, ${((rows / ts.median) * 1000).toFixed(0)} rows/s)`,
      ],
      [
        'POST /v1/query NDJSON, median (baseline)',
        `${ms(ns.median)} (${((rows / ns.median) * 1000).toFixed(0)} rows/s)`,
      ],
      ['ratio', `${(ts.median / ns.median).toFixed(2)}x`],
      ['trino-client, second series, median', ms(ts2.median)],
      ['NDJSON with each line parsed, median (baseline)', ms(ps.median)],
      ['ratio to parsed NDJSON', `${(ts2.median / ps.median).toFixed(2)}x`],
      ['Trino pages by fetch, rows not parsed, median', ms(ts3.median)],
      ['NDJSON, third series, median (baseline)', ms(ns3.median)],
      ['ratio, the gateway alone', `${(ts3.median / ns3.median).toFixed(2)}x`],
      ['gateway peak RSS', `${peakRss().toFixed(0)} MiB`],
      ['client peak RSS', `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`],
    ]);
  }
  await gateway.kill('SIGTERM');
} finally {
  await rm(root, { recursive: true, force: true });
}
