import { describe, expect, it } from 'vitest';
import {
  backingOff,
  byRecentTraffic,
  type ContextState,
  dueIntervals,
  FRESH_INTERVALS,
  holeCandidates,
  holesDue,
} from './due-intervals.js';
import type { IntervalRecord } from './interval-record.js';
import { definitionOf, groupContexts, lastEnd, type RollupContext } from './rollup-context.js';
import { MINUTE, T0, trafficRollup } from './test-support.js';

const FIVE = 5 * MINUTE;
const TICK = 15_000;
const rollup = trafficRollup();
const [context] = groupContexts({ acme: [rollup] }, T0) as [RollupContext];

/** A context state at `now` with `records` for the one rollup, every interval's inputs `files`. */
function stateAt(now: number, records: IntervalRecord[] = [], handled: number[] = []): ContextState {
  const end = lastEnd(context, now);
  const inputs = new Map<number, string>();
  for (let start = context.startMs; start < end; start += FIVE) inputs.set(start, 'files');
  return { lastEnd: end, records: [new Map(records.map((r) => [r.start, r]))], inputs, handled: new Set(handled) };
}
const done = (start: number, overrides: Partial<IntervalRecord> = {}): IntervalRecord => ({
  start,
  state: 'done',
  attempts: 1,
  definition: definitionOf(rollup),
  inputs: 'files',
  ...overrides,
});
const at = (minutes: number): number => T0 + minutes * MINUTE;
const policy = (now: number, backfillPerTick = 3) => ({ now, tickMs: TICK, backfillPerTick });

describe('which intervals are due', () => {
  it('counts an interval complete once it has ended and its delay has passed', () => {
    expect(lastEnd(context, at(12))).toBe(at(10));
    const late = groupContexts({ acme: [trafficRollup({ delayMs: 3 * MINUTE })] }, T0)[0] as RollupContext;
    expect(lastEnd(late, at(12))).toBe(at(5));
    expect(lastEnd(late, at(13))).toBe(at(10));
  });

  it('takes the newest complete intervals first, at most FRESH_INTERVALS, never before the start', () => {
    expect(FRESH_INTERVALS).toBe(2);
    expect(dueIntervals(context, 'fresh', stateAt(at(61)), policy(at(61)))).toEqual([at(55), at(50)]);
    expect(dueIntervals(context, 'fresh', stateAt(at(6)), policy(at(6)))).toEqual([at(0)]);
    expect(dueIntervals(context, 'fresh', stateAt(at(4)), policy(at(4)))).toEqual([]);
  });

  it('fills holes newest first, backfillPerTick at a time, back to the start and no further', () => {
    const now = at(61);
    const state = stateAt(now, [done(at(45)), done(at(35))], [at(55), at(50)]);
    expect(dueIntervals(context, 'holes', state, policy(now, 3))).toEqual([at(40), at(30), at(25)]);
    const all = dueIntervals(context, 'holes', state, policy(now, 100));
    expect(all.at(-1)).toBe(at(0));
    expect(all).toHaveLength(12 - 2 - 2);
    expect(dueIntervals(context, 'holes', state, policy(now, 0))).toEqual([]);
  });

  it('computes again an interval done with another definition or other files', () => {
    const now = at(11);
    const records = [done(at(5), { definition: 'older' }), done(at(0), { inputs: 'fewer files' })];
    expect(dueIntervals(context, 'fresh', stateAt(now, records), policy(now))).toEqual([at(5), at(0)]);
    expect(dueIntervals(context, 'fresh', stateAt(now, [done(at(5)), done(at(0))]), policy(now))).toEqual([]);
  });

  it('waits before retrying a failed interval, twice as long after each failure, at most 15 minutes', () => {
    const failed = (attempts: number, finishedAt: number): ContextState['records'] => [
      new Map([[at(0), { start: at(0), state: 'failed', attempts, finishedAt }]]),
    ];
    const now = at(100);
    expect(backingOff(failed(1, now - TICK + 1), at(0), now, TICK)).toBe(true);
    expect(backingOff(failed(1, now - TICK), at(0), now, TICK)).toBe(false);
    expect(backingOff(failed(3, now - 3 * TICK), at(0), now, TICK)).toBe(true);
    expect(backingOff(failed(3, now - 4 * TICK), at(0), now, TICK)).toBe(false);
    expect(backingOff(failed(30, now - 15 * MINUTE + 1), at(0), now, TICK)).toBe(true);
    expect(backingOff(failed(30, now - 15 * MINUTE), at(0), now, TICK)).toBe(false);
    const state = { ...stateAt(at(6)), records: failed(2, at(6) - TICK) };
    expect(dueIntervals(context, 'fresh', state, policy(at(6)))).toEqual([]);
    expect(dueIntervals(context, 'fresh', state, policy(at(6) + TICK))).toEqual([at(0)]);
  });

  it('keeps enough candidate holes for a later pass to take what it would take then', () => {
    // An hour of intervals: some done, some failed at different times (each waits out a backoff), the rest missing.
    const now = at(61);
    const failed = (minutes: number, attempts: number, ago: number): IntervalRecord => ({
      start: at(minutes),
      state: 'failed',
      attempts,
      finishedAt: now - ago,
    });
    const records = [
      done(at(50)),
      failed(45, 1, TICK / 3),
      failed(40, 2, TICK),
      done(at(35)),
      failed(30, 1, TICK / 2),
      failed(20, 3, TICK),
      failed(10, 1, 0),
    ];
    const state = stateAt(now, records, [at(55)]);
    for (const perTick of [0, 1, 2, 3, 5, 20]) {
      const candidates = holeCandidates(context, state, policy(now, perTick));
      // Taken now, they are what dueIntervals takes now; taken later, what it takes then, as backoffs end.
      for (const later of [0, TICK / 3, TICK / 2, TICK, 2 * TICK, 4 * TICK, 15 * MINUTE])
        expect(holesDue(candidates, now + later, perTick), `${perTick} per tick, ${later} ms later`).toEqual(
          dueIntervals(context, 'holes', state, policy(now + later, perTick)),
        );
    }
    // The candidates hold the holes waiting out a backoff only up to the last that may be needed.
    expect(holeCandidates(context, state, policy(now, 1)).map((c) => c.start)).toEqual([
      at(45),
      at(40),
      at(30),
      at(25),
    ]);
  });

  it('puts the tenants that queried most recently first, the others in their order', () => {
    const contexts = groupContexts(
      {
        acme: [trafficRollup()],
        globex: [trafficRollup()],
        initech: [trafficRollup(), trafficRollup({ name: 'traffic_1h', intervalMs: 60 * MINUTE })],
      },
      T0,
    );
    const last = new Map([
      ['initech', at(3)],
      ['globex', at(7)],
    ]);
    expect(byRecentTraffic(contexts, (t) => last.get(t)).map((c) => `${c.tenant}@${c.intervalMs / MINUTE}`)).toEqual([
      'globex@5',
      'initech@5',
      'initech@60',
      'acme@5',
    ]);
  });

  it('groups the rollups of one source and interval into one context starting at the earliest', () => {
    const contexts = groupContexts(
      {
        acme: [
          trafficRollup({ startAtMs: at(7), delayMs: 30_000 }),
          trafficRollup({ name: 'by_org', startAtMs: undefined, delayMs: 60_000 }),
          trafficRollup({ name: 'hourly', intervalMs: 60 * MINUTE }),
        ],
      },
      at(-20),
    );
    expect(contexts.map((c) => [c.rollups.map((r) => r.name), c.startMs, c.delayMs])).toEqual([
      [['traffic_5m', 'by_org'], at(-20), 60_000],
      [['hourly'], T0, 0],
    ]);
  });
});
