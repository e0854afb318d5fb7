/**
 * A rollup from and to PostgreSQL at the source's scale: 1.5M raw facts in one 5-minute interval (5,000 a second),
 * dumped from a real PostgreSQL 15 (`COPY ... TO STDOUT (FORMAT binary)`), aggregated by local-agg in one pass
 * (count, sum, min, max, avg and exact p50/p95/p99 by organization and API proxy) and loaded back into a table in
 * one transaction, through one gateway in this process. Baseline, interleaved in the same run: PostgreSQL computing
 * the same aggregates itself with one GROUP BY (`percentile_cont`). Goal: at most 0.5x of PostgreSQL's time. The
 * source's own pipeline took 34 s for such an interval on Spark. Last, a tick's look for late rows over the same
 * rows: the query the rollups send, beside the expression it replaced and a bare count of the rows.
 *
 *   npm run bench -w @lakegate/bench -- rollups-postgres
 *   BENCH_ROWS=300000 BENCH_RUNS=3 npm run bench -w @lakegate/bench -- rollups-postgres
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, parseConfig, startGateway } from '@lakegate/gateway';
import { intervalFingerprintsSql } from '@lakegate/rollups';
import { startPostgres } from '../test/harness/postgres.js';
import { cpuMs, ms, parentPid, report, serverCpuMs, summarise } from './support.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_500_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ORGS = 200;
const PROXIES = 20;
const FIVE_MINUTES = 300_000;
const KEY = 'bench-postgres-rollups-key';

const root = await mkdtemp(join(tmpdir(), 'lakegate-bench-pg-rollups-'));
const pg = await startPostgres();
try {
  // The newest complete interval, filled evenly.
  const start = Math.floor(Date.now() / FIVE_MINUTES) * FIVE_MINUTES - FIVE_MINUTES;
  const loading = performance.now();
  await pg.sql`CREATE TABLE api_facts (ts timestamptz NOT NULL, org text NOT NULL, proxy text NOT NULL,
    status int NOT NULL, ms double precision NOT NULL, bytes bigint NOT NULL)`;
  await pg.sql.unsafe(`
    INSERT INTO api_facts
    SELECT to_timestamp(${start / 1000}) + (i * interval '1 microsecond') * (${FIVE_MINUTES * 1000} / ${ROWS}),
           'org-' || ((i * 7919) % ${ORGS}), 'proxy-' || ((i / ${ORGS} * 104729) % ${PROXIES}),
           CASE WHEN i % 53 = 0 THEN 500 ELSE 200 END, ((i * 2654435761) % 100000) / 100.0, (i * 31) % 65536
    FROM generate_series(0::bigint, ${ROWS - 1}) i`);
  await pg.sql`CREATE INDEX ON api_facts (ts)`;
  await pg.sql`VACUUM ANALYZE api_facts`;
  console.log(`data: ${ROWS} facts in PostgreSQL in ${ms(performance.now() - loading)}`);

  const done: { at: number; durationMs: number }[] = [];
  const phases: { readMs: number; passMs: number; storeMs: number }[] = [];
  const logger = createLogger({
    write: (line) => {
      // Failures are shown: a bench that waits for an interval that fails should say why.
      if (line.includes('"level":"warn"') || line.includes('"level":"error"')) console.error(line);
      if (!line.includes('"rollups.interval_done"')) return;
      const event = JSON.parse(line) as {
        interval: string;
        durationMs: number;
        readMs: number;
        passMs: number;
        storeMs: number;
      };
      if (Date.parse(event.interval) !== start) return;
      done.push({ at: Date.now(), durationMs: event.durationMs });
      phases.push(event);
    },
  });
  const measures = {
    calls: 'count(*)',
    total_ms: 'sum(ms)',
    min_ms: 'min(ms)',
    max_ms: 'max(ms)',
    avg_ms: 'avg(ms)',
    p50_ms: 'quantile_cont(ms, 0.5)',
    p95_ms: 'quantile_cont(ms, 0.95)',
    p99_ms: 'quantile_cont(ms, 0.99)',
  };
  const config = parseConfig(
    {
      server: { port: 0, postgres: { enabled: false } },
      storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
      rollups: { location: `file:${join(root, 'rollups')}/`, tickSeconds: 0.2 },
      tenants: {
        acme: {
          apiKeys: [KEY],
          rollups: {
            api_5m: {
              source: { postgres: { url: pg.url, table: 'api_facts', timeColumn: 'ts', scopeColumn: 'org' } },
              sink: { postgres: { url: pg.url, table: 'api_rollup' } },
              dimensions: ['proxy'],
              measures,
              startAt: new Date(start).toISOString(),
              delaySeconds: 0,
              lateRowsSeconds: 0,
            },
          },
        },
      },
    },
    { baseDir: root },
  );
  const gateway = await startGateway({ config, logger });
  const waitForRun = async (count: number): Promise<{ at: number; durationMs: number }> => {
    const deadline = Date.now() + 600_000;
    while (done.length < count) {
      if (Date.now() > deadline) throw new Error('the interval was not computed within 10 minutes');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return done[count - 1] as { at: number; durationMs: number };
  };
  const recompute = async (): Promise<number> => {
    const before = done.length;
    const sent = performance.now();
    const response = await fetch(`${gateway.url}/v1/rollups/api_5m/backfill`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ from: new Date(start).toISOString(), to: new Date(start + FIVE_MINUTES).toISOString() }),
    });
    if (response.status !== 202) throw new Error(`backfill: ${response.status} ${await response.text()}`);
    const { at } = await waitForRun(before + 1);
    const elapsed = performance.now() - sent;
    // The interval's audit counts the rows on the server after it is done: waited for, so that it runs in no other
    // side's time, and its CPU counts in this side's.
    await waitForAudit(at);
    return elapsed;
  };
  const waitForAudit = async (doneAt: number): Promise<void> => {
    const deadline = Date.now() + 600_000;
    for (;;) {
      const response = await fetch(`${gateway.url}/v1/rollups/api_5m/audit`, {
        headers: { authorization: `Bearer ${KEY}` },
      });
      const { audits } = (await response.json()) as { audits: { intervalStart: string; at: string; ok: boolean }[] };
      const audit = audits.find((a) => Date.parse(a.intervalStart) === start);
      // (The audit's time is in whole ms, the done time too: one ms of slack.)
      if (audit && Date.parse(audit.at) >= doneAt - 1) {
        if (!audit.ok) throw new Error(`the audit found a mismatch: ${JSON.stringify(audit)}`);
        return;
      }
      if (Date.now() > deadline) throw new Error('the interval was not audited within 10 minutes');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const postgresGroupBy = async (): Promise<number> => {
    const started = performance.now();
    await pg.sql.unsafe(`
      SELECT org, proxy, count(*), sum(ms), min(ms), max(ms), avg(ms),
             percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.95) WITHIN GROUP (ORDER BY ms),
             percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)
      FROM api_facts WHERE ts >= to_timestamp(${start / 1000}) AND ts < to_timestamp(${(start + FIVE_MINUTES) / 1000})
      GROUP BY org, proxy`);
    return performance.now() - started;
  };

  // CPU time of each side: the server's processes (the postmaster and its backends), and this process (the gateway
  // and its worker threads; the bench itself only waits meanwhile). The backfill's includes its audit's count.
  const [backend] = await pg.sql`SELECT pg_backend_pid() AS pid`;
  const postmaster = parentPid(Number(backend?.pid));
  const withCpu = async (work: () => Promise<number>, into: { server: number[]; gateway: number[] }) => {
    const server = serverCpuMs(postmaster);
    const gateway = cpuMs(process.pid);
    const elapsed = await work();
    into.server.push(serverCpuMs(postmaster) - server);
    into.gateway.push(cpuMs(process.pid) - gateway);
    return elapsed;
  };
  const lakegateCpu = { server: [] as number[], gateway: [] as number[] };
  const postgresCpu = { server: [] as number[], gateway: [] as number[] };

  // The first computation (the gateway's own schedule) warms both sides; then they alternate.
  await waitForAudit((await waitForRun(1)).at);
  await postgresGroupBy();
  const lakegate: number[] = [];
  const passes: number[] = [];
  const postgres: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    if (run % 2 === 0) {
      lakegate.push(await withCpu(recompute, lakegateCpu));
      postgres.push(await withCpu(postgresGroupBy, postgresCpu));
    } else {
      postgres.push(await withCpu(postgresGroupBy, postgresCpu));
      lakegate.push(await withCpu(recompute, lakegateCpu));
    }
    passes.push(done[done.length - 1]?.durationMs ?? 0);
  }
  const [loaded] = await pg.sql`SELECT count(*)::int AS groups, sum(_rows)::bigint AS rows FROM api_rollup`;
  await gateway.close();

  // A tick's look for late rows, over the same rows (as over an interval within lateRowsSeconds): the query the
  // rollups send, beside the expression it replaced (numeric since PostgreSQL 14) and a bare count of the rows.
  const where = `ts >= to_timestamp(${start / 1000}) AND ts < to_timestamp(${(start + FIVE_MINUTES) / 1000})`;
  const spec = { table: 'api_facts', timeColumn: 'ts' };
  const checks: [string, string][] = [
    ['date_bin (PostgreSQL 14 and later)', intervalFingerprintsSql(spec, FIVE_MINUTES, where, true)],
    ['date_part (before 14)', intervalFingerprintsSql(spec, FIVE_MINUTES, where, false)],
    [
      'extract(epoch ...), as before',
      `SELECT floor(extract(epoch FROM ts) * 1000 / ${FIVE_MINUTES})::bigint * ${FIVE_MINUTES} AS start, count(*) AS n,
         sum(xmin::text::bigint) AS x FROM api_facts WHERE ${where} GROUP BY 1`,
    ],
    ['count(*) of the same rows (baseline)', `SELECT count(*) FROM api_facts WHERE ${where}`],
  ];
  const checkTimes = checks.map(() => [] as number[]);
  for (let run = 0; run < RUNS; run++) {
    for (const [i, [, text]] of checks.entries()) {
      const started = performance.now();
      await pg.sql.unsafe(text);
      checkTimes[i]?.push(performance.now() - started);
    }
  }
  const countMedian = summarise(checkTimes[checks.length - 1] ?? []).median;
  const l = summarise(lakegate);
  const p = summarise(postgres);
  const c = summarise(passes);
  report(`rollups-postgres: ${ROWS} facts in one 5-minute interval, ${ORGS} orgs x ${PROXIES} proxies, ${RUNS} runs`, [
    ['PostgreSQL GROUP BY with percentile_cont, median (baseline)', ms(p.median)],
    ['dump + aggregate + load, backfill to done, median', ms(l.median)],
    ['  of which the interval (dump, pass, files, load), median', ms(c.median)],
    [
      '  dump / pass / store (NDJSON file and PostgreSQL load), medians',
      (['readMs', 'passMs', 'storeMs'] as const)
        .map((k) => ms(summarise(phases.slice(1).map((p) => p[k])).median))
        .join(' / '),
    ],
    ['Lakegate / PostgreSQL', `${(l.median / p.median).toFixed(2)}x (goal: at most 0.5x)`],
    [
      'CPU of the backfill and its audit: PostgreSQL / gateway, medians',
      `${ms(summarise(lakegateCpu.server).median)} / ${ms(summarise(lakegateCpu.gateway).median)}`,
    ],
    ["CPU of PostgreSQL's GROUP BY, median", ms(summarise(postgresCpu.server).median)],
    [
      `the backfill's CPU spread over the ${availableParallelism()} cores / the GROUP BY's time`,
      `${((summarise(lakegateCpu.server).median + summarise(lakegateCpu.gateway).median) / availableParallelism() / p.median).toFixed(2)}x (the least this machine allows)`,
    ],
    ['the source on Spark', '34 s'],
    ['rows loaded into api_rollup', `${loaded?.groups} groups holding ${loaded?.rows} facts`],
    ['process peak RSS', `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`],
    ["a tick's late-row check of the interval, medians (ratio to the count):", ''],
    ...checks.map(([name], i): [string, string] => {
      const median = summarise(checkTimes[i] ?? []).median;
      return [`  ${name}`, `${ms(median)} (${(median / countMedian).toFixed(2)}x)`];
    }),
  ]);
} finally {
  await pg.stop();
  await rm(root, { recursive: true, force: true });
}
