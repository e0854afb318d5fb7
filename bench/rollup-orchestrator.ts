/**
 * The rollup orchestrator at the source's scale: BENCH_SCOPES (default 7,000) tenants, each with a 5-minute rollup
 * of its own API traffic, Zipf-distributed rates (most scopes small; BENCH_ROWS_PER_SECOND, default 500, in all),
 * each starting two hours back, through one gateway (in this process, state in memory, local-agg computing and
 * auditing). It reports how fast the two-hour backlog fills (intervals per minute, the time to fill it, or the
 * projection when the run ends first), and for every 5-minute boundary passed during the run how long until every
 * scope had that fresh interval (percentiles over scopes, and the worst). Runs BENCH_SECONDS (default 600).
 *
 *   npm run bench -w @lakegate/bench -- rollup-orchestrator
 *   BENCH_SCOPES=500 BENCH_SECONDS=120 npm run bench -w @lakegate/bench -- rollup-orchestrator
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createLogger, parseConfig, startGateway } from '@lakegate/gateway';
import { trafficRollup, writeTrafficFiles } from '../test/support/traffic-csv.js';
import { ms, report, summarise } from './support.js';

const SCOPES = Number(process.env.BENCH_SCOPES ?? 7000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 600);
const ROWS_PER_SECOND = Number(process.env.BENCH_ROWS_PER_SECOND ?? 500);
const INTERVAL_MS = 5 * 60_000;
const BACKLOG_MS = 2 * 3_600_000;
const FILE_MS = 30 * 60_000;

const now = Date.now();
const startAt = Math.floor(now / INTERVAL_MS) * INTERVAL_MS - BACKLOG_MS;
/** Complete intervals of each scope at the start: the backlog. */
const backlogIntervals = Math.floor((now - startAt) / INTERVAL_MS);
const dataEnd = now + (SECONDS + 600) * 1000;

/** The tenant id of the scope of rank `i`. */
const scopeId = (i: number): string => `s${String(i).padStart(5, '0')}`;

// Zipf (s = 1.1) shares of the total rate, by scope rank.
const weights = Array.from({ length: SCOPES }, (_, i) => 1 / (i + 1) ** 1.1);
const total = weights.reduce((a, b) => a + b, 0);

const root = await mkdtemp(join(tmpdir(), 'lakegate-bench-orchestrator-'));
try {
  const generating = performance.now();
  const tenants: Record<string, unknown> = {};
  let rows = 0;
  for (let i = 0; i < SCOPES; i++) {
    const tenant = scopeId(i);
    const dir = join(root, 'data', tenant);
    await mkdir(dir, { recursive: true });
    const perFile = Math.max(1, Math.round(((ROWS_PER_SECOND * (weights[i] ?? 0)) / total) * (FILE_MS / 1000)));
    rows += perFile * Math.ceil((dataEnd - startAt) / FILE_MS);
    await writeTrafficFiles(dir, startAt, dataEnd, FILE_MS, perFile);
    tenants[tenant] = {
      apiKeys: [`${tenant}-orchestrator-key`],
      datasets: { traffic: { location: `file:${dir}/`, format: 'csv' } },
      rollups: { traffic_5m: trafficRollup(startAt) },
    };
  }
  console.log(`data: ${SCOPES} scopes, ${rows} rows, in ${ms(performance.now() - generating)}`);

  // When each scope's interval was done, from the gateway's own log lines.
  const done = new Map<string, number>();
  const logger = createLogger({
    write: (line) => {
      if (!line.includes('"rollups.interval_done"')) return;
      const { tenant, interval } = JSON.parse(line) as { tenant: string; interval: string };
      const key = `${tenant} ${Date.parse(interval)}`;
      if (!done.has(key)) done.set(key, Date.now());
    },
  });
  const config = parseConfig(
    {
      server: { port: 0, postgres: { enabled: false } },
      storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
      rollups: { location: `file:${join(root, 'rollups')}/`, tickSeconds: 5, auditEngine: 'local-agg' },
      tenants,
    },
    { baseDir: root },
  );
  const started = Date.now();
  const gateway = await startGateway({ config, logger });
  console.log(`gateway up in ${ms(Date.now() - started)}`);
  const backlogTotal = SCOPES * backlogIntervals;
  /** Backlog intervals done so far: those that ended before the run began. */
  const backlogEnd = startAt + backlogIntervals * INTERVAL_MS;
  const countBacklogDone = (): number => {
    let count = 0;
    for (const key of done.keys()) if (Number(key.slice(key.indexOf(' ') + 1)) < backlogEnd) count++;
    return count;
  };
  let filledAt = 0;
  const minuteCounts: number[] = [];
  let peakRss = 0;
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
  const memory = () => {
    const m = process.memoryUsage();
    return `rss ${mib(m.rss)}, heap ${mib(m.heapUsed)} of ${mib(m.heapTotal)}, external ${mib(m.external)}, array buffers ${mib(m.arrayBuffers)}`;
  };
  const memoryByMinute: string[] = [];
  // What the heap holds alive, once a minute: a full collection first, so that garbage not yet collected (the heap
  // grows lazily up to its limit) is not taken for a leak.
  setFlagsFromString('--expose-gc');
  const collect = runInNewContext('gc') as () => void;
  const liveHeapByMinute: string[] = [];
  while (Date.now() - started < SECONDS * 1000) {
    await new Promise((resolve) => setTimeout(resolve, 5000));
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    const backlogDone = countBacklogDone();
    const minute = Math.floor((Date.now() - started) / 60_000);
    minuteCounts[minute] = backlogDone;
    memoryByMinute[minute] = memory();
    if (liveHeapByMinute[minute] === undefined) {
      collect();
      liveHeapByMinute[minute] = mib(process.memoryUsage().heapUsed);
    }
    if (!filledAt && backlogDone >= backlogTotal) filledAt = Date.now();
  }
  await gateway.close();

  const backlogDone = countBacklogDone();
  const elapsedMin = (Date.now() - started) / 60_000;
  const perMinute = backlogDone / elapsedMin;
  // Fresh intervals: those that ended during the run; how long after its end each scope had it.
  const boundaries: string[] = [];
  const cycleRows: [string, string][] = [];
  // Fresh intervals that ended at least 5 minutes before the end of the run: each had its 5 minutes to be done.
  for (let end = startAt + (backlogIntervals + 1) * INTERVAL_MS; end + INTERVAL_MS <= Date.now(); end += INTERVAL_MS) {
    const start = end - INTERVAL_MS;
    const late: number[] = [];
    let missing = 0;
    for (let i = 0; i < SCOPES; i++) {
      const at = done.get(`${scopeId(i)} ${start}`);
      if (at === undefined) missing++;
      else late.push(at - end);
    }
    const s = summarise(late);
    boundaries.push(new Date(end).toISOString());
    cycleRows.push([
      `interval ending ${new Date(end).toISOString().slice(11, 16)}`,
      `p50 ${ms(s.median)}, p99 ${ms(s.p99)}, worst ${ms(Math.max(...late, 0))} after its end; ${missing} of ${SCOPES} scopes without it at the end of the run`,
    ]);
  }
  report(`rollup-orchestrator: ${SCOPES} scopes, 5-minute intervals, ${backlogIntervals} intervals of backlog each`, [
    [
      'backlog intervals done',
      `${backlogDone} of ${backlogTotal} in ${elapsedMin.toFixed(1)} min (${perMinute.toFixed(0)}/min)`,
    ],
    [
      'backlog filled in',
      filledAt
        ? `${((filledAt - started) / 60_000).toFixed(1)} min (goal: < 48 min)`
        : `not within the run; at this pace ${(backlogTotal / perMinute).toFixed(0)} min (goal: < 48 min)`,
    ],
    ['backlog done by minute', minuteCounts.map((n) => String(n ?? '')).join(', ')],
    ...memoryByMinute.map((m, i): [string, string] => [`memory at minute ${i}`, m]),
    ['live heap (after a full collection) by minute', liveHeapByMinute.join(', ')],
    ...cycleRows,
    ['process peak RSS (the gateway and this client)', `${(peakRss / 1024 / 1024).toFixed(0)} MiB`],
    ['memory at the end', memory()],
  ]);
} finally {
  await rm(root, { recursive: true, force: true });
}
