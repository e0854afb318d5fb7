/**
 * Many connections: BENCH_CONNECTIONS (default 16,000) concurrent keep-alive HTTP connections to one gateway
 * process on loopback, each sending a cached dashboard query every 2 to 5 s (uniformly at random) for
 * BENCH_SECONDS (default 60; 600 for the long run), as a wall of dashboards does. Reports errors, p50/p99 (nearest
 * rank), connections held and the gateway's RSS over time; the baseline, in the same run, is the same query rate
 * from 64 connections. Last, the gateway's capacity: 64 connections sending as soon as they are answered, with the
 * gateway's CPU time per query. It raises its own descriptor limit (re-running itself under `ulimit -n`), stays on
 * loopback, and stops by itself.
 *
 *   npm run bench -w @lakegate/bench -- connections
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/harness/services.js';
import { writeParquet } from '../test/support/duckdb-data.js';
import { startGatewayProcess } from '../test/support/gateway-process.js';
import { KeepAliveConnection, queryRequest } from './clients/keep-alive.js';
import { cpuMs, ms, report, summarise } from './support.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const BASELINE_CONNECTIONS = 64;
const KEY = 'bench-connections-key';
/** Descriptors this process and the gateway each need: one per connection, and some to spare. */
const WANTED = CONNECTIONS + 4096;
const LEAST = CONNECTIONS + 512;
const RAISED = 'LAKEGATE_BENCH_DESCRIPTORS_RAISED';

const ulimit = (flag: string): number =>
  Number(
    spawnSync('sh', ['-c', `ulimit ${flag}`], { encoding: 'utf8' })
      .stdout.trim()
      .replace('unlimited', 'Infinity'),
  );
const soft = ulimit('-n');
if (soft < LEAST) {
  // Node cannot raise its own limit: run again under a shell that does, up to the hard limit (the gateway inherits it).
  const target = Math.min(WANTED, ulimit('-Hn'));
  if (process.env[RAISED] || target < LEAST) {
    throw new Error(
      `${CONNECTIONS} connections need ${LEAST} descriptors; the limit is ${soft} (hard ${ulimit('-Hn')})`,
    );
  }
  const rerun = spawnSync(
    'sh',
    ['-c', `ulimit -n ${target} && exec "$0" "$@"`, process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, [RAISED]: '1' } },
  );
  process.exit(rerun.status ?? 1);
}

const CAPACITY_SECONDS = 10;

/** The kernel's TCP counters (TcpExt in /proc/net/netstat): a listen queue that overflows shows here. */
function tcpCounters(): Map<string, number> {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  const out = new Map<string, number>();
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = (lines[i] as string).split(/\s+/);
    const values = (lines[i + 1] as string).split(/\s+/);
    if (names[0] !== 'TcpExt:') continue;
    for (const [j, name] of names.entries()) out.set(name, Number(values[j]));
  }
  return out;
}
const TCP_COUNTERS = ['ListenOverflows', 'SyncookiesSent', 'SyncookiesFailed'];

/**
 * Packets the kernel dropped because a CPU's input queue was full (the second column of /proc/net/softnet_stat,
 * summed over CPUs): on loopback, bursts past `net.core.netdev_max_backlog` are lost and then sent again after
 * TCP's retransmission timeouts (a second and more for a handshake).
 */
function backlogDrops(): number {
  try {
    return readFileSync('/proc/net/softnet_stat', 'utf8')
      .trim()
      .split('\n')
      .reduce((sum, line) => sum + Number.parseInt(line.split(/\s+/)[1] ?? '0', 16), 0);
  } catch {
    return 0;
  }
}
/** A setting of the kernel's network core (`/proc/sys/net/core/<name>`). */
const netCore = (name: string): string => {
  try {
    return readFileSync(`/proc/sys/net/core/${name}`, 'utf8').trim();
  } catch {
    return 'unknown';
  }
};

interface Phase {
  readonly latencies: number[];
  /** Seconds from the phase's start at which each answered query was sent, in the order of `latencies`. */
  readonly sentAt: number[];
  /** Seconds from the phase's start at which each query that failed was sent. */
  readonly failedAt: number[];
  /** How many queries of each client failed. */
  readonly failuresByClient: number[];
  readonly outcomes: Map<string, number>;
  readonly seconds: number;
}

/**
 * `connections` connections, each sending the query, then waiting `gapMs()` from its send, for `seconds`. Returns
 * the latencies of the answers and the outcomes by status (or error kind). Each client holds a connection of its
 * own (a shared pool would hand an idle client's connection to another, and far fewer would be open), through a
 * light client of its own making, so that the CPU goes to the gateway rather than to the load.
 */
async function run(port: number, connections: number, seconds: number, gapMs: () => number): Promise<Phase> {
  const request = queryRequest('127.0.0.1', port, KEY, 'SELECT k, count(*), sum(i) FROM events GROUP BY k ORDER BY k');
  const latencies: number[] = [];
  const sentAt: number[] = [];
  const failedAt: number[] = [];
  const outcomes = new Map<string, number>();
  const failuresByClient: number[] = [];
  const started = performance.now();
  const until = started + seconds * 1000;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const clients: KeepAliveConnection[] = [];
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const client = new KeepAliveConnection('127.0.0.1', port);
      clients.push(client);
      // Spread the first queries over a first gap, as dashboards opened over time would.
      await sleep(Math.random() * gapMs());
      let failures = 0;
      while (performance.now() < until) {
        const sent = performance.now();
        const outcome = await client.send(request);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        if (outcome === '200') {
          latencies.push(performance.now() - sent);
          sentAt.push((sent - started) / 1000);
        } else {
          failedAt.push((sent - started) / 1000);
          failures++;
        }
        const wait = sent + gapMs() - performance.now();
        if (wait > 0) await sleep(Math.min(wait, until - performance.now()));
      }
      failuresByClient.push(failures);
    }),
  );
  for (const client of clients) client.close();
  return { latencies, sentAt, failedAt, failuresByClient, outcomes, seconds: (performance.now() - started) / 1000 };
}

const root = await mkdtemp(join(tmpdir(), 'lakegate-bench-connections-'));
try {
  await mkdir(join(root, 'events'));
  await writeParquet(join(root, 'events', 'p.parquet'), 'SELECT i, i % 20 AS k FROM range(200000) t(i)');
  const port = await freePort();
  const gateway = await startGatewayProcess(
    join(root, 'config.json'),
    {
      server: { port, postgres: { enabled: false } },
      storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
      tenants: {
        acme: {
          apiKeys: [KEY],
          datasets: { events: { location: `file:${join(root, 'events')}/`, format: 'parquet' } },
          resultCache: { enabled: true },
          limits: { queriesPerSecond: 100_000, concurrentQueries: 256, queuedQueries: 20_000 },
        },
      },
    },
    port,
    // The gateway logs each query: to a file, so that this client is not also the reader its writes wait for.
    { logFile: join(root, 'gateway.log') },
  );
  const pid = gateway.child.pid ?? 0;
  const rssMiB = (): number =>
    Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  let peakRss = 0;
  const rssByMinute: number[] = [];
  const startedAt = Date.now();
  // Descriptors the gateway holds: its connections, and a few dozen files of its own.
  let peakDescriptors = 0;
  let ticks = 0;
  const sampler = setInterval(() => {
    if (ticks++ % 4 === 0) peakDescriptors = Math.max(peakDescriptors, readdirSync(`/proc/${pid}/fd`).length);
    const rss = rssMiB();
    peakRss = Math.max(peakRss, rss);
    const minute = Math.floor((Date.now() - startedAt) / 60_000);
    rssByMinute[minute] = Math.max(rssByMinute[minute] ?? 0, rss);
  }, 250);
  const describe = (phase: Phase): [string, string][] => {
    const latency = summarise(phase.latencies);
    const errors = [...phase.outcomes].filter(([outcome]) => outcome !== '200');
    return [
      ['answers', [...phase.outcomes].map(([outcome, n]) => `${outcome}: ${n}`).join(', ')],
      ['errors', String(errors.reduce((n, [, count]) => n + count, 0))],
      ['queries/s', (phase.latencies.length / phase.seconds).toFixed(0)],
      ['latency p50 / p99', `${ms(latency.median)} / ${ms(latency.p99)}`],
      // When the slow answers were sent: while the connections open (the first gap), or later.
      ['p99 by 10 s of sending', byWindow(phase, 10).join(', ')],
      ['errors by 10 s of sending', countByWindow(phase.failedAt, 10).join(', ')],
      // Whether errors strike the same clients again (after a timeout a client opens a new connection).
      ['clients with 1, 2, ... failed queries', countByWindow(phase.failuresByClient, 1).slice(1).join(', ')],
    ];
  };
  const countByWindow = (at: readonly number[], seconds: number): number[] => {
    const counts: number[] = [];
    for (const t of at) counts[Math.floor(t / seconds)] = (counts[Math.floor(t / seconds)] ?? 0) + 1;
    return [...counts].map((n) => n ?? 0);
  };
  const byWindow = (phase: Phase, seconds: number): string[] => {
    const windows: number[][] = [];
    phase.latencies.forEach((latency, i) => {
      const window = Math.floor((phase.sentAt[i] ?? 0) / seconds);
      const into = windows[window] ?? [];
      into.push(latency);
      windows[window] = into;
    });
    return [...windows].map(
      (latencies, w) => `${w * seconds}-${(w + 1) * seconds} s ${ms(summarise(latencies ?? []).p99)}`,
    );
  };
  // Each connection: one query every 2 to 5 s. The baseline sends the same rate from 64 connections.
  const gap = () => 2000 + Math.random() * 3000;
  const countersBefore = tcpCounters();
  const dropsBefore = backlogDrops();
  // Every 10 s of the run: the gateway's share of a core, and how late its event loop ran its timers at most (read
  // from its /metrics, which reports the window since the previous read): a gateway behind its clients shows here.
  const gatewayWindows: string[] = [];
  let cpuAtWindow = cpuMs(pid);
  await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  const windowSampler = setInterval(() => {
    const cpu = cpuMs(pid);
    const share = (cpu - cpuAtWindow) / 10_000;
    cpuAtWindow = cpu;
    void fetch(`http://127.0.0.1:${port}/metrics`)
      .then((r) => r.text())
      .then((text) => {
        const delay = /lakegate_event_loop_delay_seconds\{quantile="1"\} (\S+)/.exec(text)?.[1];
        gatewayWindows.push(`${(share * 100).toFixed(0)}% / ${ms(Number(delay ?? Number.NaN) * 1000)}`);
      })
      .catch(() => gatewayWindows.push(`${(share * 100).toFixed(0)}% / no answer`));
  }, 10_000);
  const many = await run(port, CONNECTIONS, SECONDS, gap);
  clearInterval(windowSampler);
  const countersAfter = tcpCounters();
  const dropsAfter = backlogDrops();
  const rssAfterMany = rssMiB();
  const scale = CONNECTIONS / BASELINE_CONNECTIONS;
  const few = await run(port, BASELINE_CONNECTIONS, Math.min(SECONDS, 30), () => gap() / scale);
  // Capacity: 64 connections sending as fast as answers come, and the gateway's CPU time (user and system, all its
  // threads) per answer.
  const cpuBefore = cpuMs(pid);
  const flat = await run(port, BASELINE_CONNECTIONS, CAPACITY_SECONDS, () => 0);
  const cpuPerQuery = (cpuMs(pid) - cpuBefore) / Math.max(1, flat.latencies.length);
  clearInterval(sampler);
  report(`connections: ${CONNECTIONS} keep-alive connections, a cached query every 2-5 s each, ${SECONDS} s`, [
    ...describe(many),
    ['gateway CPU (share of a core) / event loop delay at most, by 10 s', gatewayWindows.join(', ')],
    ['gateway open descriptors at most (connections and its files)', String(peakDescriptors)],
    ['gateway peak RSS', `${peakRss.toFixed(0)} MiB (after the run ${rssAfterMany.toFixed(0)} MiB)`],
    ['gateway RSS, peak per minute', rssByMinute.map((r) => r.toFixed(0)).join(', ')],
    // Connections the kernel could not queue for the gateway to accept (its backlog is capped at somaxconn): a client
    // whose handshake ended in a SYN cookie that then failed sees ECONNRESET.
    [
      `kernel: ${TCP_COUNTERS.join(', ')} (somaxconn ${netCore('somaxconn')})`,
      TCP_COUNTERS.map((name) => (countersAfter.get(name) ?? 0) - (countersBefore.get(name) ?? 0)).join(', '),
    ],
    [
      `kernel: packets dropped by full input queues (netdev_max_backlog ${netCore('netdev_max_backlog')})`,
      String(dropsAfter - dropsBefore),
    ],
  ]);
  report(`baseline: the same query rate from ${BASELINE_CONNECTIONS} connections, ${Math.min(SECONDS, 30)} s`, [
    ...describe(few),
    [
      'p99 with many connections / baseline p99',
      `${(summarise(many.latencies).p99 / summarise(few.latencies).p99).toFixed(2)}x`,
    ],
    ['gateway still alive', String(gateway.child.exitCode === null)],
  ]);
  report(
    `capacity: ${BASELINE_CONNECTIONS} connections, each sending as soon as it is answered, ${CAPACITY_SECONDS} s`,
    [...describe(flat), ['gateway CPU per answered query', `${(cpuPerQuery * 1000).toFixed(0)} us`]],
  );
  await gateway.kill('SIGTERM');
} finally {
  await rm(root, { recursive: true, force: true });
}
