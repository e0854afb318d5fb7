import type { IntervalRecord } from './interval-record.js';
import { definitionOf, type RollupContext } from './rollup-context.js';

/** Complete intervals, newest first, that every tick computes before it fills any hole. */
export const FRESH_INTERVALS = 2;

/** The longest wait of a failed interval before its next attempt. */
const MAX_BACKOFF_MS = 900_000;

/** What a tick knows of a context: read once, then used for its fresh intervals and for its holes. */
export interface ContextState {
  /** The end of the newest complete interval. */
  readonly lastEnd: number;
  /** Interval records of each rollup of the context, in its order. */
  readonly records: readonly ReadonlyMap<number, IntervalRecord>[];
  /** For each interval start, the fingerprint of the source files that overlap it. */
  readonly inputs: ReadonlyMap<number, string>;
  /** Intervals this tick has computed or tried: the holes pass does not take them again. */
  readonly handled: ReadonlySet<number>;
  /**
   * When set, the only intervals that may be due, newest first: every other interval of the context up to `lastEnd`
   * is done and audited, and `records` and `inputs` hold these only.
   */
  readonly open?: readonly number[];
}

export interface DuePolicy {
  readonly now: number;
  /** The tick period, which is also a failed interval's first wait. */
  readonly tickMs: number;
  /** Holes filled per context and tick, after the fresh intervals. */
  readonly backfillPerTick: number;
}

/** The contexts of the tenants that queried most recently first; the others keep their order. */
export function byRecentTraffic(
  contexts: readonly RollupContext[],
  lastQuery: (tenant: string) => number | undefined,
): RollupContext[] {
  return [...contexts].sort((a, b) => (lastQuery(b.tenant) ?? 0) - (lastQuery(a.tenant) ?? 0));
}

/** Whether every rollup of the context has the interval done, with its current definition and inputs. */
export function isDone(
  context: RollupContext,
  records: readonly ReadonlyMap<number, IntervalRecord>[],
  start: number,
  inputs: string,
): boolean {
  return context.rollups.every((rollup, i) => {
    const record = records[i]?.get(start);
    return record?.state === 'done' && record.definition === definitionOf(rollup) && record.inputs === inputs;
  });
}

/**
 * When a failed interval may be tried again (0 for any other): it waits twice as long after each failure, at most
 * 15 minutes.
 */
function retryAt(records: readonly ReadonlyMap<number, IntervalRecord>[], start: number, tickMs: number): number {
  const record = records[0]?.get(start);
  if (record?.state !== 'failed') return 0;
  const wait = Math.min(MAX_BACKOFF_MS, tickMs * 2 ** Math.min(10, record.attempts - 1));
  return (record.finishedAt ?? record.startedAt ?? 0) + wait;
}

/** Whether a failed interval is still waiting out its backoff at `now`. */
export function backingOff(
  records: readonly ReadonlyMap<number, IntervalRecord>[],
  start: number,
  now: number,
  tickMs: number,
): boolean {
  return now < retryAt(records, start, tickMs);
}

/** Intervals of a context that are neither done nor handled this tick, newest first, down to `stop`. */
function* undone(context: RollupContext, state: ContextState, stop: number): Generator<number> {
  const { lastEnd, records, inputs, handled, open } = state;
  for (const start of open ?? starts(context, lastEnd)) {
    if (start < stop) return;
    if (!handled.has(start) && !isDone(context, records, start, inputs.get(start) ?? '')) yield start;
  }
}

/** Every interval start of a context before `end`, newest first. */
export function* starts(context: RollupContext, end: number): Generator<number> {
  for (let start = end - context.intervalMs; start >= context.startMs; start -= context.intervalMs) yield start;
}

/** A hole, and when it may be tried (the end of its backoff, or 0). */
export interface HoleCandidate {
  readonly start: number;
  readonly retryAt: number;
}

/**
 * The holes a later pass of the tick may take, newest first: every hole up to the `backfillPerTick`-th that may be
 * tried at `policy.now`, those still backing off included with the end of their wait. Backoffs only end as time
 * passes, so {@link holesDue} over these, at any later time, takes the holes {@link dueIntervals} would take then,
 * without the records of the context's whole history.
 */
export function holeCandidates(context: RollupContext, state: ContextState, policy: DuePolicy): HoleCandidate[] {
  const candidates: HoleCandidate[] = [];
  let ready = 0;
  for (const start of undone(context, state, context.startMs)) {
    if (ready === policy.backfillPerTick) break;
    const at = retryAt(state.records, start, policy.tickMs);
    candidates.push({ start, retryAt: at });
    if (policy.now >= at) ready++;
  }
  return candidates;
}

/** The holes of {@link holeCandidates} due at `now`: those not waiting, at most `backfillPerTick`. */
export function holesDue(candidates: readonly HoleCandidate[], now: number, backfillPerTick: number): number[] {
  return candidates
    .filter((c) => now >= c.retryAt)
    .slice(0, backfillPerTick)
    .map((c) => c.start);
}

/**
 * The intervals of a context to compute now, newest first. `fresh` looks only at the newest
 * {@link FRESH_INTERVALS} complete intervals, so new data never waits behind a backlog; `holes` looks back to the
 * context's start and takes at most `backfillPerTick`. Intervals done with the current definition and inputs,
 * handled already this tick, or failed and waiting out their backoff are not due.
 */
export function dueIntervals(
  context: RollupContext,
  kind: 'fresh' | 'holes',
  state: ContextState,
  policy: DuePolicy,
): number[] {
  const limit = kind === 'fresh' ? FRESH_INTERVALS : policy.backfillPerTick;
  const newest = state.lastEnd - context.intervalMs;
  const stop =
    kind === 'fresh' ? Math.max(context.startMs, newest - (FRESH_INTERVALS - 1) * context.intervalMs) : context.startMs;
  const due: number[] = [];
  for (const start of undone(context, state, stop)) {
    if (due.length === limit) break;
    if (!backingOff(state.records, start, policy.now, policy.tickMs)) due.push(start);
  }
  return due;
}
