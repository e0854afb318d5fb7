import { describe, expect, it } from 'vitest';
import type { ComputeEngine } from './dependencies.js';
import type { IntervalRecord } from './interval-record.js';
import { MemoryRollupLedger } from './memory-rollup-ledger.js';
import type { RollupLedger } from './rollup-ledger.js';
import { Rollups, type RollupsOptions } from './rollups.js';
import {
  countingAuditEngine,
  countingWholeReads,
  directEngine,
  EmptyTable,
  FakeComputer,
  FixedSources,
  intervalText,
  ledgerWith,
  MemorySink,
  MINUTE,
  recordingLogger,
  rollupsOverTable,
  snapshotOf,
  T0,
  TEST_SETTINGS,
  tableRollup,
  trafficRollup,
} from './test-support.js';

const at = (minutes: number): number => T0 + minutes * MINUTE;
/** Raw rows of an interval: different for each, so a file read for the wrong interval shows. */
const rowsOf = (start: number): number => 10 + (start - T0) / MINUTE;
/** Two files: one with the first half hour, one with the second. */
const SPANS = {
  '/data/a.csv': { minMs: at(0), maxMs: at(29) },
  '/data/b.csv': { minMs: at(30), maxMs: at(59) },
};

/** An audit engine that counts `rawRows(start)` raw rows in the interval the audit's SQL names. */
const auditing = (rawRows: (start: number) => number) =>
  countingAuditEngine((request) => {
    const from = /ts" >= TIMESTAMP '([^']+)'/.exec(request.sql)?.[1] ?? '';
    return rawRows(Date.parse(`${from.replace(' ', 'T')}Z`));
  });

interface Replica {
  readonly rollups: Rollups;
  readonly computer: FakeComputer;
  readonly logger: ReturnType<typeof recordingLogger>;
  readonly audit: ReturnType<typeof countingAuditEngine>;
  readonly sources: FixedSources;
}

/** A replica's rollups over the shared `ledger` and `sink`, its clock reading `clock()`. */
function replica(
  name: string,
  shared: { ledger: RollupLedger; sink: MemorySink; clock: () => number },
  options: {
    passMs?: number;
    rawRows?: (start: number) => number;
    settings?: Partial<RollupsOptions['settings']>;
  } = {},
): Replica {
  const computer = new FakeComputer(SPANS, rowsOf, options.passMs ?? 0);
  const logger = recordingLogger();
  const audit = auditing(options.rawRows ?? rowsOf);
  const sources = new FixedSources([snapshotOf('acme', 'traffic', Object.keys(SPANS))]);
  const rollups = new Rollups({
    tenants: { acme: [trafficRollup()] },
    settings: { ...TEST_SETTINGS, ...options.settings },
    ledger: shared.ledger,
    sources,
    sink: shared.sink,
    computeEngine: directEngine(computer),
    auditEngine: audit,
    logger,
    replicaId: () => name,
    clock: shared.clock,
  });
  return { rollups, computer, logger, audit, sources };
}

const iso = (ms: number): string => new Date(ms).toISOString();

async function records(ledger: RollupLedger): Promise<Map<number, IntervalRecord>> {
  const raw = await ledger.rollupIntervals('acme/traffic_5m');
  return new Map([...raw].map(([start, text]) => [start, JSON.parse(text) as IntervalRecord]));
}

/** A replica at 10:11 after its first tick, whose audit finds three raw rows more than 10:05's rollup holds. */
async function mismatchedReplica() {
  const clock = { now: at(11) };
  const ledger = new MemoryRollupLedger(() => clock.now);
  const sink = new MemorySink();
  const rawRows = (start: number) => (start === at(5) ? rowsOf(start) + 3 : rowsOf(start));
  const a = replica('replica-a', { ledger, sink, clock: () => clock.now }, { rawRows });
  await a.rollups.tick();
  return { clock, ledger, sink, a };
}

/** One replica over a fresh ledger and sink, its clock at 11:01 (twelve intervals due), after its first tick. */
async function tickedReplica(): Promise<{ ledger: MemoryRollupLedger; sink: MemorySink; a: Replica }> {
  const now = at(61);
  const ledger = new MemoryRollupLedger(() => now);
  const sink = new MemorySink();
  const a = replica('replica-a', { ledger, sink, clock: () => now });
  await a.rollups.tick();
  return { ledger, sink, a };
}

describe('rollups over a memory ledger', () => {
  it('computes every due interval once, writes its file, records and audits it', async () => {
    const { ledger, sink, a } = await tickedReplica();
    const state = await records(ledger);
    expect([...state.keys()].sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => at(i * 5)));
    for (const [start, record] of state) {
      expect(record).toMatchObject({ state: 'done', attempts: 1, rows: rowsOf(start), audit: { ok: true } });
      expect(record.audit?.rawRows).toBe(rowsOf(start));
    }
    expect(sink.files.get('acme/traffic_5m/2026-01-05T100500Z.ndjson')).toBe(intervalText(rowsOf(at(5))));
    // Fresh intervals first, then the holes newest first.
    expect(a.computer.computed.slice(0, 3)).toEqual([at(55), at(50), at(45)]);
    expect(a.sources.leased).toBe(0);
    expect(a.sources.refreshed).toContain('acme/traffic_5m');
    // The audit counts only the file that overlaps the interval.
    const first = a.audit.requests.find((r) => r.sql.includes("'2026-01-05 10:00:00'"));
    expect(first?.tables[0]?.snapshot).toMatchObject({ files: [{ path: '/data/a.csv' }] });

    // Every interval of the span is done: 12 of them within the last 10 minutes of the clock.
    const [described] = await a.rollups.admin.describe('acme');
    expect(described?.backfill).toEqual({
      done: 12,
      total: 12,
      remaining: 0,
      percent: 100,
      intervalsPerMinute: 1.2,
      etaSeconds: 0,
    });

    // Nothing is due on the next tick.
    await a.rollups.tick();
    expect(a.computer.computed).toHaveLength(12);
    await a.rollups.close();
  });

  it("reads a rollup's whole history once per tick, and each computation only its own interval's record", async () => {
    const now = at(61);
    const memory = new MemoryRollupLedger(() => now);
    const reads = { whole: 0, one: 0 };
    const ledger = ledgerWith(memory, {
      rollupIntervals: (rollup) => {
        reads.whole++;
        return memory.rollupIntervals(rollup);
      },
      rollupIntervalsAt: (rollup, starts) => {
        reads.one++;
        return memory.rollupIntervalsAt(rollup, starts);
      },
    });
    const a = replica('replica-a', { ledger, sink: new MemorySink(), clock: () => now });
    await a.rollups.tick();
    expect(a.computer.computed).toHaveLength(12);
    // The tick's state: one read of the history. Each of the twelve computations reads its record under its claim,
    // and its audit reads it again before writing onto it.
    expect(reads).toEqual({ whole: 1, one: 24 });
    await a.rollups.close();
  });

  it("reads a rollup's whole history at its first tick only, then what any replica put since", async () => {
    let now = at(61);
    const memory = new MemoryRollupLedger(() => now);
    const { ledger, reads } = countingWholeReads(memory);
    const sink = new MemorySink();
    const a = replica('replica-a', { ledger, sink, clock: () => now });
    await a.rollups.tick();
    expect(a.computer.computed).toHaveLength(12);
    expect(reads.whole).toBe(1);
    // Its own puts since are all that changed: the next ticks read only those, and the new interval once complete.
    await a.rollups.tick();
    now = at(66);
    await a.rollups.tick();
    expect(a.computer.computed.slice(12)).toEqual([at(60)]);
    expect(reads.whole).toBe(1);
    // Past five minutes since the whole read, the metrics still come from what the ticks read since.
    now = at(72);
    await a.rollups.tick();
    expect(await a.rollups.admin.lags()).toEqual([
      { tenant: 'acme', rollup: 'traffic_5m', seconds: 120, auditMismatches: 0 },
    ]);
    expect(reads.whole).toBe(1);

    // Another replica marks an interval for a backfill: the next tick reads it as a change, and computes it.
    const record = JSON.parse((await memory.rollupIntervalsAt('acme/traffic_5m', [at(10)])).get(at(10)) ?? '{}');
    await memory.putRollupInterval('acme/traffic_5m', at(10), JSON.stringify({ ...record, state: 'pending' }));
    await a.rollups.tick();
    expect(a.computer.computed.slice(14)).toEqual([at(10)]);
    await a.rollups.tick();
    expect(reads.whole).toBe(1);
    expect(a.computer.computed).toHaveLength(15);
    await a.rollups.close();
  });

  it("reads a table source's history whole at its first tick only, and computes again what late rows changed", async () => {
    let now = at(61);
    const { ledger, reads } = countingWholeReads(new MemoryRollupLedger(() => now));
    const table = new EmptyTable();
    const rollups = rollupsOverTable(table, tableRollup(15 * MINUTE), {
      ledger,
      clock: () => now,
      replicaId: 'replica-a',
    });
    await rollups.tick();
    expect(table.dumped).toHaveLength(12);
    expect(reads.whole).toBe(1);
    // Idle ticks: the server fingerprints the three intervals late rows may still change, and nothing is read whole.
    const fingerprinted = table.fingerprinted;
    await rollups.tick();
    await rollups.tick();
    expect(table.fingerprinted - fingerprinted).toBe(6);
    expect(table.dumped).toHaveLength(12);
    // Late rows in an interval within 15 minutes are dumped again; those in an older one, final, are not.
    table.prints.set(at(50), 'rows-1');
    table.prints.set(at(20), 'rows-1');
    await rollups.tick();
    expect(table.dumped.slice(12)).toEqual([at(50)]);
    // Time passes: the new interval is dumped, and the history is still not read whole.
    now = at(66);
    await rollups.tick();
    expect(table.dumped.slice(13)).toEqual([at(60)]);
    expect(reads.whole).toBe(1);
    await rollups.close();
  });

  it("puts off a table's audit while rows changed since its dump may still be computed again", async () => {
    let now = at(61);
    const ledger = new MemoryRollupLedger(() => now);
    const table = new EmptyTable();
    // Rows came into 10:55 and 10:00 between their dump and their audit's count.
    table.countedPrints.set(at(55), 'rows-1');
    table.countedPrints.set(at(0), 'rows-1');
    const rollups = rollupsOverTable(table, tableRollup(15 * MINUTE), { ledger, clock: () => now, replicaId: 'a' });
    await rollups.tick();
    const audited = async (start: number) => (await records(ledger)).get(start)?.audit;
    // Not audited: the count is not of the rows computed. The others are.
    expect(await audited(at(55))).toBeUndefined();
    expect(await audited(at(50))).toMatchObject({ ok: true });
    // 10:00 is past the late rows' 15 minutes: no tick computes it again, so catching up its audit records it.
    expect(await audited(at(0))).toBeUndefined();
    // A tick catches up 10:00's audit; 10:55's stays put off while a tick may still compute it again.
    await rollups.tick();
    expect(await audited(at(0))).toMatchObject({ ok: true });
    expect(await audited(at(55))).toBeUndefined();
    // The tick's look for late rows sees them: 10:55 is computed again, and audited.
    table.prints.set(at(55), 'rows-1');
    await rollups.tick();
    expect(table.dumped.filter((start) => start === at(55))).toHaveLength(2);
    expect(await audited(at(55))).toMatchObject({ ok: true });
    // Asked for, an audit is of the rows as they are now, whatever the record's fingerprint.
    table.countedPrints.set(at(50), 'rows-2');
    const before = (await audited(at(50)))?.at;
    now += 1000;
    const asked = await rollups.admin.audit('acme', 'traffic_5m', iso(at(50)), iso(at(55)));
    expect(asked).toEqual([expect.objectContaining({ ok: true })]);
    expect((await audited(at(50)))?.at).not.toBe(before);
    await rollups.close();
  });

  it("gives the metrics each rollup's lag and mismatches from its last read and writes, not by reading it again", async () => {
    let now = at(61);
    const memory = new MemoryRollupLedger(() => now);
    const { ledger, reads } = countingWholeReads(memory);
    const a = replica('replica-a', { ledger, sink: new MemorySink(), clock: () => now });
    await a.rollups.tick();
    const before = reads.whole;
    // The newest interval, 10:55-11:00, was done in the tick: a minute since its end.
    expect(await a.rollups.admin.lags()).toEqual([
      { tenant: 'acme', rollup: 'traffic_5m', seconds: 60, auditMismatches: 0 },
    ]);
    expect(reads.whole).toBe(before);

    // Another replica's audit finds a mismatch: it shows once this replica reads the records again, at its next
    // tick or after five minutes.
    const record = JSON.parse(
      (await memory.rollupIntervalsAt('acme/traffic_5m', [at(10)])).get(at(10)) ?? '{}',
    ) as IntervalRecord;
    const audit = { ...record.audit, rawRows: 1, ok: false };
    await memory.putRollupInterval('acme/traffic_5m', at(10), JSON.stringify({ ...record, audit }));
    expect((await a.rollups.admin.lags())[0]?.auditMismatches).toBe(0);
    now += 299_000;
    expect((await a.rollups.admin.lags())[0]?.auditMismatches).toBe(0);
    now += 1000;
    expect(await a.rollups.admin.lags()).toEqual([
      { tenant: 'acme', rollup: 'traffic_5m', seconds: 360, auditMismatches: 1 },
    ]);
    expect(reads.whole).toBe(before + 1);
    await a.rollups.close();
  });

  it('answers a scrape within its budget while a rollup is still being read, and reads each rollup once', async () => {
    const now = at(61);
    const memory = new MemoryRollupLedger(() => now);
    const reads = new Map<string, number>();
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const ledger = ledgerWith(memory, {
      rollupIntervals: async (rollup) => {
        reads.set(rollup, (reads.get(rollup) ?? 0) + 1);
        if (rollup === 'acme/traffic_total') await held;
        return memory.rollupIntervals(rollup);
      },
    });
    const rollups = new Rollups({
      tenants: { acme: [trafficRollup(), trafficRollup({ name: 'traffic_total', dimensions: [] })] },
      settings: TEST_SETTINGS,
      ledger,
      sources: new FixedSources([snapshotOf('acme', 'traffic', Object.keys(SPANS))]),
      sink: new MemorySink(),
      computeEngine: directEngine(new FakeComputer(SPANS, rowsOf)),
      auditEngine: auditing(rowsOf),
      logger: recordingLogger(),
      replicaId: () => 'replica-a',
      clock: () => now,
    });
    // Nothing computed yet: the lag runs from the rollup's start.
    const lag = { tenant: 'acme', seconds: 3660, auditMismatches: 0 };
    const first = await rollups.admin.lags(50);
    expect(first).toEqual([{ ...lag, rollup: 'traffic_5m' }]);
    expect(await rollups.admin.lags(50)).toEqual(first);
    expect(reads).toEqual(
      new Map([
        ['acme/traffic_5m', 1],
        ['acme/traffic_total', 1],
      ]),
    );
    release();
    await expect
      .poll(() => rollups.admin.lags(50))
      .toEqual([
        { ...lag, rollup: 'traffic_5m' },
        { ...lag, rollup: 'traffic_total' },
      ]);
    expect(reads.get('acme/traffic_total')).toBe(1);
    await rollups.close();
  });

  it('audits an interval recorded done whose audit never came, once no replica holds its claim', async () => {
    const { ledger, a } = await tickedReplica();
    // The process stopped between the done record and its audit: the record has no audit.
    const { audit: _lost, ...unaudited } = (await records(ledger)).get(at(20)) as IntervalRecord;
    await ledger.putRollupInterval('acme/traffic_5m', at(20), JSON.stringify(unaudited));
    // Another replica holds the interval's claim (it is computing or auditing it): nothing is audited under it.
    const claimKey = `acme/traffic@${5 * MINUTE}`;
    expect(await ledger.claimRollupInterval(claimKey, at(20), 'replica-b', 60_000)).toBe(true);
    await a.rollups.tick();
    expect((await records(ledger)).get(at(20))?.audit).toBeUndefined();
    await ledger.releaseRollupInterval(claimKey, at(20), 'replica-b');

    const audits = a.audit.requests.length;
    await a.rollups.tick();
    const record = (await records(ledger)).get(at(20));
    expect(record).toMatchObject({ state: 'done', audit: { ok: true, rawRows: rowsOf(at(20)) } });
    expect(a.audit.requests.length).toBe(audits + 1);
    // Over the file that overlaps the interval only, as the audit that came with the computation.
    expect(a.audit.requests.at(-1)?.tables[0]?.snapshot).toMatchObject({ files: [{ path: '/data/a.csv' }] });
    // Nothing computed again, and no other interval audited again.
    expect(a.computer.computed).toHaveLength(12);
    await a.rollups.tick();
    expect(a.audit.requests.length).toBe(audits + 1);
    expect(a.logger.events.map((e) => e.event)).toContain('rollups.audit_caught_up');
    await a.rollups.close();
  });

  it('audits the intervals whose audit never came in turn, past those whose audit keeps failing', async () => {
    const now = at(61);
    const ledger = new MemoryRollupLedger(() => now);
    const failing = new Set<number>();
    const rawRows = (start: number) => {
      if (failing.has(start)) throw new Error('the audit engine is away');
      return rowsOf(start);
    };
    const a = replica('replica-a', { ledger, sink: new MemorySink(), clock: () => now }, { rawRows });
    await a.rollups.tick();
    // Six intervals lost their audit; the audits of the newest four (a tick's worth) keep failing.
    const starts = [0, 5, 10, 15, 20, 25].map(at);
    for (const start of starts) {
      const { audit: _lost, ...unaudited } = (await records(ledger)).get(start) as IntervalRecord;
      await ledger.putRollupInterval('acme/traffic_5m', start, JSON.stringify(unaudited));
    }
    for (const start of starts.slice(2)) failing.add(start);
    await a.rollups.tick();
    await a.rollups.tick();
    const state = await records(ledger);
    expect(starts.map((start) => state.get(start)?.audit?.ok)).toEqual([
      true,
      true,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    await a.rollups.close();
  });

  it('computes every context’s fresh intervals before any hole, several contexts at once', async () => {
    const now = at(61);
    const tenants = Array.from({ length: 12 }, (_, i) => `t${i}`);
    const computer = new FakeComputer(SPANS, rowsOf, 5);
    // The engine's work under way at once, at most.
    const direct = directEngine(computer);
    let running = 0;
    let most = 0;
    const engine: ComputeEngine = {
      id: direct.id,
      async run(work, limits) {
        most = Math.max(most, ++running);
        try {
          return await direct.run(work, limits);
        } finally {
          running--;
        }
      },
    };
    const rollups = new Rollups({
      tenants: Object.fromEntries(tenants.map((t) => [t, [trafficRollup()]])),
      settings: { ...TEST_SETTINGS, concurrency: 3 },
      ledger: new MemoryRollupLedger(() => now),
      sources: new FixedSources(tenants.map((t) => snapshotOf(t, 'traffic', Object.keys(SPANS)))),
      sink: new MemorySink(),
      computeEngine: engine,
      auditEngine: countingAuditEngine(() => 0),
      logger: recordingLogger(),
      replicaId: () => 'replica-a',
      clock: () => now,
    });
    await rollups.tick();
    // Twelve contexts of twelve intervals each; the two newest of every context come first.
    expect(computer.computed).toHaveLength(12 * 12);
    const fresh = computer.computed.slice(0, 12 * 2);
    expect(new Set(fresh)).toEqual(new Set([at(55), at(50)]));
    expect(computer.computed.slice(12 * 2)).not.toContain(at(55));
    expect(most).toBe(3);
    await rollups.close();
  });

  it('stops filling holes once a new interval is complete, and computes that one first on the next tick', async () => {
    let now = at(61);
    const tenants = ['t0', 't1', 't2'];
    // Every pass takes half a minute of the clock: the holes of three contexts would take a quarter of an hour.
    const computer = new FakeComputer(SPANS, rowsOf);
    const direct = directEngine(computer);
    const engine: ComputeEngine = {
      id: direct.id,
      async run(work, limits) {
        now += MINUTE / 2;
        return direct.run(work, limits);
      },
    };
    const rollups = new Rollups({
      tenants: Object.fromEntries(tenants.map((t) => [t, [trafficRollup()]])),
      settings: { ...TEST_SETTINGS, concurrency: 1 },
      ledger: new MemoryRollupLedger(() => now),
      sources: new FixedSources(tenants.map((t) => snapshotOf(t, 'traffic', Object.keys(SPANS)))),
      sink: new MemorySink(),
      computeEngine: engine,
      auditEngine: auditing(rowsOf),
      logger: recordingLogger(),
      replicaId: () => 'replica-a',
      clock: () => now,
    });
    await rollups.tick();
    // The fresh intervals (6 passes, to 01:04), then holes until the interval 01:00-01:05 is complete.
    expect(computer.computed.slice(0, 6)).toEqual([at(55), at(50), at(55), at(50), at(55), at(50)]);
    expect(computer.computed.length).toBeLessThan(6 + 3);
    expect(now).toBeLessThanOrEqual(at(66));
    const first = computer.computed.length;
    await rollups.tick();
    // The next tick starts with the new interval of every context.
    expect(computer.computed.slice(first, first + 3)).toEqual([at(60), at(60), at(60)]);
    await rollups.close();
  });

  it('lists the rollups’ datasets in the background: a store that never answers holds up no tick', async () => {
    let now = at(11);
    const ledger = new MemoryRollupLedger(() => now);
    const a = replica('replica-a', { ledger, sink: new MemorySink(), clock: () => now });
    let asked = 0;
    a.sources.refresh = () => {
      asked++;
      return new Promise(() => undefined);
    };
    await a.rollups.tick();
    now = at(16);
    await a.rollups.tick();
    expect(a.computer.computed).toEqual([at(5), at(0), at(10)]);
    // One listing per tick that computed something, though the one before never ended.
    expect(asked).toBe(2);
    await a.rollups.close();
  });

  it('never lets two replicas compute the same interval', async () => {
    const now = at(61);
    const ledger = new MemoryRollupLedger(() => now);
    const sink = new MemorySink();
    const a = replica('replica-a', { ledger, sink, clock: () => now }, { passMs: 5 });
    const b = replica('replica-b', { ledger, sink, clock: () => now }, { passMs: 5 });
    await Promise.all([a.rollups.tick(), b.rollups.tick()]);
    const computed = [...a.computer.computed, ...b.computer.computed].sort((x, y) => x - y);
    expect(computed).toEqual(Array.from({ length: 12 }, (_, i) => at(i * 5)));
    expect(a.computer.computed.length).toBeGreaterThan(0);
    expect(b.computer.computed.length).toBeGreaterThan(0);
    const attempts = new Set([...(await records(ledger)).values()].map((r) => r.attempts));
    expect(attempts).toEqual(new Set([1]));
    await Promise.all([a.rollups.close(), b.rollups.close()]);
  });

  it('takes over an interval whose claim lapsed when its replica died, and only then', async () => {
    let now = at(11);
    const ledger = new MemoryRollupLedger(() => now);
    const sink = new MemorySink();
    // A replica claimed 10:05 and recorded it running, then died.
    expect(await ledger.claimRollupInterval('acme/traffic@300000', at(5), 'dead-replica', 60_000)).toBe(true);
    await ledger.putRollupInterval(
      'acme/traffic_5m',
      at(5),
      JSON.stringify({ start: at(5), state: 'running', attempts: 1, owner: 'dead-replica' }),
    );
    const b = replica('replica-b', { ledger, sink, clock: () => now });
    await b.rollups.tick();
    expect(b.computer.computed).toEqual([at(0)]);
    expect((await records(ledger)).get(at(5))?.state).toBe('running');

    now += 30_000;
    await b.rollups.tick();
    expect(b.computer.computed).toEqual([at(0)]);

    now += 31_000;
    await b.rollups.tick();
    expect(b.computer.computed).toEqual([at(0), at(5)]);
    expect((await records(ledger)).get(at(5))).toMatchObject({ state: 'done', attempts: 2, rows: rowsOf(at(5)) });
    await b.rollups.close();
  });

  it('records an audit that finds other raw rows than the rollup holds, logs it and computes it again once', async () => {
    const { clock, ledger, sink, a } = await mismatchedReplica();
    const state = await records(ledger);
    expect(state.get(at(0))?.audit).toMatchObject({ ok: true });
    expect(state.get(at(5))?.audit).toMatchObject({ ok: false, rawRows: rowsOf(at(5)) + 3, rollupRows: rowsOf(at(5)) });
    expect(a.logger.events.filter((e) => e.event === 'rollups.audit_mismatch')).toEqual([
      {
        event: 'rollups.audit_mismatch',
        fields: expect.objectContaining({ rollup: 'traffic_5m', rawRows: rowsOf(at(5)) + 3 }),
      },
    ]);
    // Computed again on a later tick; the same mismatch then stays, recorded.
    expect(state.get(at(5))).toMatchObject({ state: 'failed', auditRecomputes: 1 });
    expect(state.get(at(5))?.error).toContain('computing it again');
    clock.now += TEST_SETTINGS.tickSeconds * 1000;
    await a.rollups.tick();
    const again = await records(ledger);
    expect(again.get(at(5))).toMatchObject({ state: 'done', auditRecomputes: 1, audit: { ok: false } });
    expect(a.computer.computed.filter((s) => s === at(5))).toHaveLength(2);
    const [listed] = await a.rollups.admin.describe('acme');
    expect(listed).toMatchObject({ auditMismatches: 1, intervals: { done: 2 }, sourceError: null });
    expect(await a.rollups.admin.lags()).toEqual([
      { tenant: 'acme', rollup: 'traffic_5m', seconds: expect.any(Number), auditMismatches: 1 },
    ]);

    // An audit on demand reads the stored file again: a damaged one is a mismatch of -1 rows.
    sink.files.set('acme/traffic_5m/2026-01-05T100000Z.ndjson', '{"_rows": 10, "_state": "damaged"}\n');
    const audits = await a.rollups.admin.audit('acme', 'traffic_5m', undefined, undefined);
    expect(audits.map((x) => [x.ok, x.rollupRows])).toEqual([
      [false, -1],
      [false, rowsOf(at(5))],
    ]);
    await a.rollups.close();
  });

  it('computes a mismatched interval again once, even when that recomputation fails on its first try', async () => {
    const { clock, ledger, a } = await mismatchedReplica();
    expect((await records(ledger)).get(at(5))).toMatchObject({ state: 'failed', auditRecomputes: 1 });

    // The recomputation the audit asked for fails (the source is away): its failure keeps the count.
    const compute = a.computer.computeRollupInterval.bind(a.computer);
    a.computer.computeRollupInterval = async () => {
      a.computer.computeRollupInterval = compute;
      throw new Error('the source is away');
    };
    clock.now += TEST_SETTINGS.tickSeconds * 1000;
    await a.rollups.tick();
    expect((await records(ledger)).get(at(5))).toMatchObject({
      state: 'failed',
      error: 'the source is away',
      auditRecomputes: 1,
    });

    // Its retry finds the same mismatch, which then stays: never a third computation.
    for (let i = 0; i < 4; i++) {
      clock.now += 600_000;
      await a.rollups.tick();
    }
    expect((await records(ledger)).get(at(5))).toMatchObject({
      state: 'done',
      auditRecomputes: 1,
      audit: { ok: false },
    });
    // Its first computation and the retry: the failed try never reached the computer.
    expect(a.computer.computed.filter((s) => s === at(5))).toHaveLength(2);
    await a.rollups.close();
  });

  it('goes on with the tick past an interval whose claim the ledger could not take', async () => {
    const now = at(61);
    const memory = new MemoryRollupLedger(() => now);
    // The ledger fails once, on the claim of 10:55 (the first interval the tick takes).
    let failed = false;
    const ledger = ledgerWith(memory, {
      claimRollupInterval: async (rollup, start, owner, ttlMs) => {
        if (start === at(55) && !failed) {
          failed = true;
          throw new Error('the ledger is away');
        }
        return memory.claimRollupInterval(rollup, start, owner, ttlMs);
      },
    });
    const a = replica('replica-a', { ledger, sink: new MemorySink(), clock: () => now });
    await a.rollups.tick();
    expect(failed).toBe(true);
    // The tick went on: every interval of the hour was computed in it, 10:55 too, taken again with the holes.
    expect([...a.computer.computed].sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => at(i * 5)));
    expect(a.logger.events.map((e) => e.event)).toContain('rollups.claim_failed');
    await a.rollups.close();
  });

  it('stops an interval whose claim another replica took, and writes nothing of it', async () => {
    let now = at(5) + 1000;
    const ledger = new MemoryRollupLedger(() => now);
    const sink = new MemorySink();
    // A claim of 0.3 s, renewed every 0.1 s, and a pass of 0.6 s.
    const a = replica(
      'replica-a',
      { ledger, sink, clock: () => now },
      { passMs: 600, settings: { claimTtlSeconds: 0.3 } },
    );
    const ticking = a.rollups.tick();
    await new Promise((resolve) => setTimeout(resolve, 150));
    // The ledger's clock passes the claim's end (replica A stalled, or the ledger was away), and B takes it.
    now += 1000;
    expect(await ledger.claimRollupInterval('acme/traffic@300000', at(0), 'replica-b', 60_000)).toBe(true);
    await ticking;
    expect(a.computer.computed).toEqual([at(0)]);
    // A's pass ran to its end, but neither its file nor a record of it was written: the interval is B's now.
    expect(sink.files.has('acme/traffic_5m/2026-01-05T100000Z.ndjson')).toBe(false);
    expect((await records(ledger)).get(at(0))).toMatchObject({ state: 'running', owner: 'replica-a' });
    expect(a.logger.events.map((e) => e.event)).toContain('rollups.claim_lost');
    expect(a.logger.events.map((e) => e.event)).not.toContain('rollups.interval_failed');
    await a.rollups.close();
  });

  it('backfills a range within the rollup and refuses bad ones', async () => {
    const now = at(31);
    const ledger = new MemoryRollupLedger(() => now);
    const sink = new MemorySink();
    const a = replica('replica-a', { ledger, sink, clock: () => now });
    await a.rollups.tick();
    const admin = a.rollups.admin;
    // Before the rollup's start and past its last complete interval are left out.
    const marked = await admin.backfill(
      'acme',
      'traffic_5m',
      new Date(at(-60)).toISOString(),
      new Date(at(99)).toISOString(),
    );
    expect(marked).toBe(6);
    // Marked pending, they are to do again; none finished since, so there is no pace to tell the time left by.
    const [pending] = await admin.describe('acme', 'traffic_5m');
    expect(pending?.backfill).toEqual({
      done: 0,
      total: 6,
      remaining: 6,
      percent: 0,
      intervalsPerMinute: 0,
      etaSeconds: null,
    });
    await admin.backfill('acme', 'traffic_5m', new Date(at(12)).toISOString(), new Date(at(20)).toISOString());
    await a.rollups.tick();
    expect((await records(ledger)).get(at(10))).toMatchObject({ state: 'done', attempts: 2 });
    // Every interval that begins in the range: 10:10 and 10:15, and 10:20, which 10:22 cuts.
    expect(
      await admin.backfill('acme', 'traffic_5m', new Date(at(12)).toISOString(), new Date(at(22)).toISOString()),
    ).toBe(3);
    await expect(admin.backfill('acme', 'traffic_5m', 'yesterday', undefined)).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    });
    await expect(
      admin.backfill('acme', 'traffic_5m', new Date(at(20)).toISOString(), new Date(at(10)).toISOString()),
    ).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    await expect(admin.backfill('acme', 'nope', undefined, undefined)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await a.rollups.close();
  });

  it('refuses a backfill of more intervals than it may mark at once', async () => {
    const now = at(31);
    const ledger = new MemoryRollupLedger(() => now);
    const a = replica('replica-a', { ledger, sink: new MemorySink(), clock: () => now });
    const wide = replica('replica-a', { ledger, sink: new MemorySink(), clock: () => at(5 * 100_001) });
    await expect(wide.rollups.admin.backfill('acme', 'traffic_5m', undefined, undefined)).rejects.toThrow(
      /more than 100000 intervals/,
    );
    expect(await a.rollups.admin.backfill('acme', 'traffic_5m', undefined, undefined)).toBe(6);
  });
});
