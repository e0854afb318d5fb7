/**
 * What a rollup's age costs the scheduler: one tenant's 5-minute rollup started BENCH_DAYS (default 1, 7 and 30)
 * days back, over a source of hourly files, its ledger in memory and its passes done by a stand-in computer that
 * answers at once, so that only the scheduler's own work is timed. For each age: the time to fill the whole
 * backlog (per interval), and an idle tick once every interval is done (the median of BENCH_TICKS, default 15),
 * which every tick pays for every context. The baseline, in the same run, is the youngest age: each figure is also
 * given as a ratio to it, and the idle tick as the time a tick would take for 7,000 such contexts.
 *
 * The same ages for a rollup of a PostgreSQL table (a source in memory whose intervals have no rows, late rows
 * within 15 minutes): a replica's first idle tick, which reads the whole history, beside its next idle ticks (the
 * median of BENCH_TICKS), which read what changed and the intervals late rows may still change.
 *
 * Then many of them: BENCH_CONTEXTS (default 2,000) tenants' rollups, each BENCH_CONTEXT_DAYS (default 1) days old
 * with every interval done (the ledger filled directly): the first idle tick, which reads each context's whole
 * history, and the heap it holds when it reads its last context (after a full collection, beside the heap before
 * the tick); the next idle tick, which reads only what changed, and the heap kept between the two; a metrics scrape
 * of every rollup's lag before and after the first (a scrape waits 2 s at most, and leaves out the rollups it has not
 * read by then).
 *
 *   npm run bench -w @lakegate/bench -- rollup-history
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MemoryRollupLedger, Rollups } from '@lakegate/rollups';
import {
  countingAuditEngine,
  countingWholeReads,
  directEngine,
  EmptyTable,
  FakeComputer,
  FixedSources,
  MemorySink,
  MINUTE,
  recordingLogger,
  rollupsOverTable,
  snapshotOf,
  TEST_SETTINGS,
  tableRollup,
  trafficRollup,
} from '@lakegate/rollups/test-support';
import { ms, report, summarise } from './support.js';

const DAYS = (process.env.BENCH_DAYS ?? '1,7,30').split(',').map(Number);
const TICKS = Number(process.env.BENCH_TICKS ?? 15);
const MANY = Number(process.env.BENCH_CONTEXTS ?? 2000);
const MANY_DAYS = Number(process.env.BENCH_CONTEXT_DAYS ?? 1);
const CONTEXTS = 7000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

interface Age {
  readonly days: number;
  readonly intervals: number;
  readonly fillMs: number;
  readonly idleTickMs: number;
}

const NOW = Date.UTC(2026, 5, 1, 0, 1);

/**
 * Rollups of `tenants` over sources of hourly files `days` long, on `ledger`; `acquired` is called at each lease
 * of a source, with how many there were.
 */
function rollupsOver(
  tenants: readonly string[],
  days: number,
  ledger: MemoryRollupLedger,
  acquired = (_: number) => {},
) {
  const startAt = NOW - days * DAY - MINUTE;
  // Hourly files from just before the first interval to the last.
  const spans: Record<string, { minMs: number; maxMs: number }> = {};
  for (let hour = 0; hour <= days * 24; hour++) {
    const from = startAt - MINUTE + hour * HOUR;
    spans[`/data/traffic/${hour}.csv`] = { minMs: from, maxMs: from + HOUR - 1 };
  }
  let leases = 0;
  const sources = new FixedSources(tenants.map((tenant) => snapshotOf(tenant, 'traffic', Object.keys(spans))));
  const acquire = sources.acquire.bind(sources);
  sources.acquire = (tenant, dataset) => {
    acquired(++leases);
    return acquire(tenant, dataset);
  };
  const computer = new FakeComputer(spans, () => 5);
  const rollups = new Rollups({
    tenants: Object.fromEntries(tenants.map((tenant) => [tenant, [trafficRollup({ startAtMs: startAt })]])),
    // Every hole in one tick, so that the fill is one tick's work.
    settings: { ...TEST_SETTINGS, backfillPerTick: Number.MAX_SAFE_INTEGER },
    ledger,
    sources,
    sink: new MemorySink(),
    computeEngine: directEngine(computer),
    auditEngine: countingAuditEngine(() => 5),
    logger: recordingLogger(),
    replicaId: () => 'bench',
    clock: () => NOW,
  });
  return { rollups, computer };
}

async function measure(days: number): Promise<Age> {
  const { rollups, computer } = rollupsOver(['acme'], days, new MemoryRollupLedger(() => NOW));
  try {
    const filling = performance.now();
    await rollups.tick();
    const fillMs = performance.now() - filling;
    const ticks: number[] = [];
    for (let i = 0; i < TICKS; i++) {
      const ticking = performance.now();
      await rollups.tick();
      ticks.push(performance.now() - ticking);
    }
    if (computer.computed.length !== days * 288) throw new Error(`computed ${computer.computed.length} intervals`);
    return { days, intervals: computer.computed.length, fillMs, idleTickMs: summarise(ticks).median };
  } finally {
    await rollups.close();
  }
}

const ages: Age[] = [];
for (const days of DAYS) ages.push(await measure(days));
const [youngest] = ages;
if (!youngest) throw new Error('BENCH_DAYS names no age');
const rows: [string, string][] = [];
for (const age of ages) {
  const perInterval = age.fillMs / age.intervals;
  rows.push(
    [
      `${age.days} days (${age.intervals} intervals): backlog filled in`,
      `${ms(age.fillMs)}, ${ms(perInterval)} per interval (${(perInterval / (youngest.fillMs / youngest.intervals)).toFixed(2)}x the ${youngest.days}-day one)`,
    ],
    [
      `${age.days} days: an idle tick, p50`,
      `${ms(age.idleTickMs)} (${(age.idleTickMs / youngest.idleTickMs).toFixed(2)}x); for ${CONTEXTS} such contexts ${(
        (age.idleTickMs * CONTEXTS) / 1000
      ).toFixed(1)} s`,
    ],
  );
}
report(`rollup-history: the scheduler's work by a rollup's age, one context, ${TICKS} idle ticks each`, rows);

/** A table source's rollup `days` old: a second replica's first idle tick and its next ones, after the fill. */
async function measureTable(days: number): Promise<{ firstMs: number; nextMs: number }> {
  const memory = new MemoryRollupLedger(() => NOW);
  const { ledger, reads } = countingWholeReads(memory);
  const table = new EmptyTable();
  const replica = (replicaId: string) =>
    rollupsOverTable(table, tableRollup(15 * MINUTE, { startAtMs: NOW - days * DAY - MINUTE }), {
      ledger,
      clock: () => NOW,
      replicaId,
      settings: { ...TEST_SETTINGS, backfillPerTick: Number.MAX_SAFE_INTEGER },
    });
  const filler = replica('filler');
  await filler.tick();
  await filler.close();
  if (table.dumped.length !== days * 288) throw new Error(`dumped ${table.dumped.length} intervals`);
  const idle = replica('bench');
  try {
    const first = performance.now();
    await idle.tick();
    const firstMs = performance.now() - first;
    const ticks: number[] = [];
    for (let i = 0; i < TICKS; i++) {
      const ticking = performance.now();
      await idle.tick();
      ticks.push(performance.now() - ticking);
    }
    if (table.dumped.length !== days * 288) throw new Error(`dumped ${table.dumped.length - days * 288} again`);
    if (reads.whole !== 2) throw new Error(`${reads.whole} whole reads, not one per replica`);
    return { firstMs, nextMs: summarise(ticks).median };
  } finally {
    await idle.close();
  }
}

const tableRows: [string, string][] = [];
for (const days of DAYS) {
  const { firstMs, nextMs } = await measureTable(days);
  tableRows.push([
    `${days} days: the first idle tick (whole read) / the next, p50`,
    `${ms(firstMs)} / ${ms(nextMs)} (${(firstMs / nextMs).toFixed(0)}x less); for ${CONTEXTS} such contexts ${(
      (nextMs * CONTEXTS) / 1000
    ).toFixed(1)} s`,
  ]);
}
report(`rollup-history: a PostgreSQL table's rollup by its age, one context, ${TICKS} idle ticks each`, tableRows);

// Many contexts a day old: one tenant's filled ledger is copied to every other tenant, as each would have it.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
const tenants = Array.from({ length: MANY }, (_, i) => `t${i}`);
const ledger = new MemoryRollupLedger(() => NOW);
const first = rollupsOver([tenants[0] as string], MANY_DAYS, ledger);
await first.rollups.tick();
await first.rollups.close();
const filled = await ledger.rollupIntervals(`${tenants[0]}/traffic_5m`);
for (const tenant of tenants.slice(1))
  for (const [start, record] of filled) await ledger.putRollupInterval(`${tenant}/traffic_5m`, start, record);
let heldAtLast = 0;
const many = rollupsOver(tenants, MANY_DAYS, ledger, (leases) => {
  if (leases !== MANY || heldAtLast > 0) return;
  collect();
  heldAtLast = process.memoryUsage().heapUsed;
});
try {
  /** A scrape's time, and the rollups it gave (those not read within its budget are left out). */
  const scrape = async (): Promise<string> => {
    const scraping = performance.now();
    const lags = await many.rollups.admin.lags();
    return `${ms(performance.now() - scraping)} (${lags.length} rollups)`;
  };
  const beforeTick = await scrape();
  collect();
  const before = process.memoryUsage().heapUsed;
  const ticking = performance.now();
  await many.rollups.tick();
  const tickMs = performance.now() - ticking;
  if (many.computer.computed.length !== 0) throw new Error(`computed ${many.computer.computed.length} intervals`);
  const afterTick = await scrape();
  collect();
  const kept = process.memoryUsage().heapUsed;
  const ticks: number[] = [];
  for (let i = 0; i < 5; i++) {
    const next = performance.now();
    await many.rollups.tick();
    ticks.push(performance.now() - next);
  }
  const nextMs = summarise(ticks).median;
  if (many.computer.computed.length !== 0) throw new Error(`computed ${many.computer.computed.length} intervals`);
  const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  report(`rollup-history: ${MANY} contexts ${MANY_DAYS} day(s) old, every interval done`, [
    ['the first idle tick (each history read whole)', `${ms(tickMs)}, ${ms(tickMs / MANY)} per context`],
    ['heap before the tick / at its last context', `${mib(before)} / ${mib(heldAtLast)}`],
    [
      'the next idle ticks, p50 of 5 (what changed read)',
      `${ms(nextMs)}, ${ms(nextMs / MANY)} per context (${(tickMs / nextMs).toFixed(0)}x less than the first)`,
    ],
    ['heap kept between ticks', mib(kept)],
    ['a scrape of every lag, before any tick / after one', `${beforeTick} / ${afterTick}`],
  ]);
} finally {
  await many.rollups.close();
}
