/**
 * Rollup serving: the p50 of two dashboard queries over 24 hours of API traffic by organization and hour (requests,
 * errors and latency sums; then with the exact p95 latency) answered from 5-minute rollups, beside the same queries
 * answered by DuckDB over the raw CSV files, both through the same gateway in the same run. Also reports how long the
 * gateway took to fill the 24-hour backlog of intervals (288 per rollup) from an empty state.
 *
 * Then the rollup's files on an object store: a second gateway keeps them on s3rver (loopback), whose every request
 * is then delayed BENCH_S3_DELAY_MS (default 20, S3's first byte), and answers the first query cold (each interval
 * file read from the store) and again warm. The baseline, in the same run, is the same files read straight from the
 * store through the AWS SDK, one at a time and 16 at once.
 *
 *   npm run bench -w @lakegate/bench -- rollup-serving
 *   BENCH_ROWS=4000000 npm run bench -w @lakegate/bench -- rollup-serving
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { parseConfig, type RunningGateway, silentLogger, startGateway } from '@lakegate/gateway';
import { eachAtOnce } from '@lakegate/rollups/test-support';
import { startS3 } from '../test/harness/services.js';
import { createBucket, s3Client, s3Settings } from '../test/support/s3-fixtures.js';
import { trafficRollup } from '../test/support/traffic-csv.js';
import { writeApiTrafficCsv } from './data/api-traffic.js';
import { ms, report, summarise, time, timePaired } from './support.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const S3_DELAY_MS = Number(process.env.BENCH_S3_DELAY_MS ?? 20);
const HOUR = 3_600_000;
const KEY = 'bench-rollup-key';

const root = await mkdtemp(join(tmpdir(), 'lakegate-rollup-bench-'));
// The last 24 whole hours, one file per hour, so that each interval reads one file.
const start = Math.floor(Date.now() / HOUR) * HOUR - 24 * HOUR;
await mkdir(join(root, 'raw'));
for (let hour = 0; hour < 24; hour++) {
  await writeApiTrafficCsv(join(root, 'raw', `hour-${String(hour).padStart(2, '0')}.csv`), {
    rows: Math.round(ROWS / 24),
    seed: hour + 1,
    start: new Date(start + hour * HOUR),
    spanMs: HOUR,
  });
}
const text = (t: number) => new Date(t).toISOString().replace('T', ' ').slice(0, 19);

/**
 * A gateway over the raw files, its cache in `cache-<name>`, whose rollup files go to `location` (with `s3`, the
 * storage's S3 settings).
 */
const gatewayWith = (name: string, location: string, s3?: Record<string, unknown>): Promise<RunningGateway> =>
  startGateway({
    config: parseConfig(
      {
        server: { port: 0, postgres: { enabled: false } },
        storage: {
          cacheDir: join(root, `cache-${name}`),
          warming: { enabled: false },
          ...(s3 ? { s3 } : {}),
        },
        rollups: { location, tickSeconds: 0.2, backfillPerTick: 50 },
        tenants: {
          bench: {
            apiKeys: [KEY],
            datasets: { traffic: { location: `file:${join(root, 'raw')}/`, format: 'csv' } },
            rollups: {
              traffic_5m: trafficRollup(start),
            },
          },
        },
      },
      { baseDir: root },
    ),
    logger: silentLogger,
  });
const callOf = (gateway: RunningGateway) => async (path: string, body?: unknown) => {
  const response = await fetch(`${gateway.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await response.json()) as Record<string, unknown> & { rows: unknown[][]; stats: Record<string, unknown> };
};
/** Waits until every interval of the rollup is done; its time. */
async function backlogFilled(call: ReturnType<typeof callOf>): Promise<number> {
  const started = performance.now();
  for (;;) {
    const { rollups } = (await call('/v1/rollups')) as unknown as {
      rollups: { intervals: Record<string, number>; auditMismatches: number }[];
    };
    const counts = rollups[0]?.intervals ?? {};
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    if (total > 0 && counts.done === total) return performance.now() - started;
    if (performance.now() - started > 600_000) throw new Error(`backlog not filled: ${JSON.stringify(counts)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const gateway = await gatewayWith('files', `file:${join(root, 'rollups')}/`);
const call = callOf(gateway);

try {
  const backlogMs = await backlogFilled(call);

  const range = `ts >= TIMESTAMP '${text(start)}' AND ts < TIMESTAMP '${text(start + 24 * HOUR)}'`;
  const queries: [string, string][] = [
    [
      'requests, errors and mean latency by organization and hour',
      `SELECT organization, date_trunc('hour', ts) AS hour, count(*) AS requests,
         count(*) FILTER (WHERE status_code >= 500) AS errors, sum(total_response_ms) AS total_ms
       FROM traffic WHERE ${range} GROUP BY 1, 2 ORDER BY 1, 2`,
    ],
    [
      'the same with the exact p95 latency',
      `SELECT organization, date_trunc('hour', ts) AS hour, count(*) AS requests,
         quantile_cont(total_response_ms, 0.95) AS p95_ms, count(*) FILTER (WHERE status_code >= 500) AS errors
       FROM traffic WHERE ${range} GROUP BY 1, 2 ORDER BY 1, 2`,
    ],
  ];
  const rows: [string, string][] = [];
  for (const [label, sql] of queries) {
    const fromRollup = await call('/v1/query', { sql, maxRows: 100_000 });
    const fromRaw = await call('/v1/query', { sql, maxRows: 100_000, engine: 'duckdb' });
    if (fromRollup.stats.rollup !== 'traffic_5m')
      throw new Error(`not answered from the rollup: ${JSON.stringify(fromRollup.stats)}`);
    if (JSON.stringify(fromRollup.rows) !== JSON.stringify(fromRaw.rows))
      throw new Error('rollup and raw answers differ');
    const [rollup, raw] = await timePaired(
      () => call('/v1/query', { sql, maxRows: 100_000 }),
      () => call('/v1/query', { sql, maxRows: 100_000, engine: 'duckdb' }),
      RUNS,
    );
    const r = summarise(rollup);
    const d = summarise(raw);
    rows.push(
      [`${label}: from the rollup p50 (p99)`, `${ms(r.median)} (${ms(r.p99)})`],
      [`${label}: DuckDB on the raw files p50 (p99)`, `${ms(d.median)} (${ms(d.p99)})`],
      [`${label}: raw / rollup`, `${(d.median / r.median).toFixed(2)}x`],
    );
  }
  rows.push([
    'backlog: 288 intervals from empty',
    `${ms(backlogMs)} (${(backlogMs / 288).toFixed(0)} ms per interval, audits included)`,
  ]);
  report(`dashboard queries over 24 hours (${ROWS} raw rows in 24 CSV files, ${RUNS} paired runs)`, rows);
  // Its ticks would take the CPU from the next gateway's backlog.
  await gateway.close();

  // The rollup's files on an object store, first read cold.
  const s3 = await startS3();
  try {
    const client = s3Client(s3.endpoint);
    await createBucket(client, 'rollups');
    const onStore = await gatewayWith('store', 's3://rollups/', s3Settings(s3.endpoint, { requestTimeoutMs: 60_000 }));
    try {
      const callStore = callOf(onStore);
      await backlogFilled(callStore);
      const [, sql] = queries[0] as [string, string];
      const listed = await client.send(
        new ListObjectsV2Command({ Bucket: 'rollups', Prefix: 'bench/traffic_5m/', MaxKeys: 1000 }),
      );
      // The files of the query's 24 hours (the rollup goes on past them, to the clock).
      const stored = new Set((listed.Contents ?? []).map((object) => object.Key as string));
      const keys = Array.from({ length: 288 }, (_, i) => {
        const at = new Date(start + i * 5 * 60_000).toISOString().replaceAll(':', '').replace('.000Z', 'Z');
        return `bench/traffic_5m/${at}.ndjson`;
      });
      const absent = keys.filter((key) => !stored.has(key));
      if (absent.length > 0) throw new Error(`${absent.length} interval files not on the store, as ${absent[0]}`);
      await s3.setDelay(S3_DELAY_MS);
      const timed = async (work: () => Promise<unknown>): Promise<number> => (await time(work, 1, 0))[0] as number;
      let answer: Awaited<ReturnType<typeof callStore>> | undefined;
      const coldMs = await timed(async () => {
        answer = await callStore('/v1/query', { sql, maxRows: 100_000 });
      });
      if (answer?.stats.rollup !== 'traffic_5m')
        throw new Error(`not from the rollup: ${JSON.stringify(answer?.stats)}`);
      const warmMs = await timed(() => callStore('/v1/query', { sql, maxRows: 100_000 }));
      const get = async (key: string) => {
        const object = await client.send(new GetObjectCommand({ Bucket: 'rollups', Key: key }));
        await object.Body?.transformToString();
      };
      const oneAtATime = await timed(async () => {
        for (const key of keys) await get(key);
      });
      const sixteenAtOnce = await timed(() => eachAtOnce(keys, 16, get));
      report(`rollup files on an object store ${S3_DELAY_MS} ms away (s3rver on loopback, 288 interval files)`, [
        ['the first answer, every interval file read from the store', ms(coldMs)],
        ['the next answer, from memory', ms(warmMs)],
        ['the 288 files read straight from the store, one at a time (baseline)', ms(oneAtATime)],
        ['the same, 16 at once (baseline)', ms(sixteenAtOnce)],
        ['first answer / files one at a time', `${(coldMs / oneAtATime).toFixed(2)}x`],
      ]);
    } finally {
      await s3.setDelay(0);
      await onStore.close();
    }
  } finally {
    await s3.stop();
  }
} finally {
  await gateway.close();
  await rm(root, { recursive: true, force: true });
}
