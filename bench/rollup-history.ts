/**
 * What a rollup's age costs the scheduler: one tenant's 5-minute rollup started BENCH_DAYS (default 1, 7 and 30)
 * days back, over a source of hourly files, its ledger in memory and its passes done by a stand-in computer that
 * answers at once, so that only the scheduler's own work is timed. For each age: the time to fill the whole
 * backlog (per interval), and an idle tick once every interval is done (the median of BENCH_TICKS, default 15),
 * which every tick pays for every context. The baseline, in the same run, is the youngest age: each figure is also
 * given as a ratio to it, and the idle tick as the time a tick would take for 7,000 such contexts.
 *
 *   npm run bench -w @lakegate/bench -- rollup-history
 */
import { MemoryRollupLedger, Rollups } from '@lakegate/rollups';
import {
  countingAuditEngine,
  directEngine,
  FakeComputer,
  FixedSources,
  MemorySink,
  MINUTE,
  recordingLogger,
  snapshotOf,
  TEST_SETTINGS,
  trafficRollup,
} from '@lakegate/rollups/test-support';
import { ms, report, summarise } from './support.js';

const DAYS = (process.env.BENCH_DAYS ?? '1,7,30').split(',').map(Number);
const TICKS = Number(process.env.BENCH_TICKS ?? 15);
const CONTEXTS = 7000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

interface Age {
  readonly days: number;
  readonly intervals: number;
  readonly fillMs: number;
  readonly idleTickMs: number;
}

async function measure(days: number): Promise<Age> {
  const now = Date.UTC(2026, 5, 1, 0, 1);
  const startAt = now - days * DAY - MINUTE;
  // Hourly files from just before the first interval to the last.
  const spans: Record<string, { minMs: number; maxMs: number }> = {};
  for (let hour = 0; hour <= days * 24; hour++) {
    const from = startAt - MINUTE + hour * HOUR;
    spans[`/data/traffic/${hour}.csv`] = { minMs: from, maxMs: from + HOUR - 1 };
  }
  const computer = new FakeComputer(spans, () => 5);
  const rollups = new Rollups({
    tenants: { acme: [trafficRollup({ startAtMs: startAt })] },
    // Every hole in one tick, so that the fill is one tick's work.
    settings: { ...TEST_SETTINGS, backfillPerTick: Number.MAX_SAFE_INTEGER },
    ledger: new MemoryRollupLedger(() => now),
    sources: new FixedSources([snapshotOf('acme', 'traffic', Object.keys(spans))]),
    sink: new MemorySink(),
    computeEngine: directEngine(computer),
    auditEngine: countingAuditEngine(() => 5),
    logger: recordingLogger(),
    replicaId: () => 'bench',
    clock: () => now,
  });
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
      ).toFixed(0)} s`,
    ],
  );
}
report(`rollup-history: the scheduler's work by a rollup's age, one context, ${TICKS} idle ticks each`, rows);
