import { ContextStates, isUnaudited } from './context-states.js';
import type { ComputeEngine, IntervalSource, RollupLogger, RollupSources } from './dependencies.js';
import {
  byRecentTraffic,
  type ContextState,
  dueIntervals,
  type HoleCandidate,
  holeCandidates,
  holesDue,
} from './due-intervals.js';
import { eachAtOnce } from './each-at-once.js';
import type { IntervalComputation } from './interval-computation.js';
import type { IntervalLedger } from './interval-ledger.js';
import type { RecentTraffic } from './recent-traffic.js';
import { firstLate, lastEnd, type RollupContext } from './rollup-context.js';
import type { SourceHealth } from './source-health.js';
import type { SourceIndex } from './source-index.js';

export interface RollupSchedulerOptions {
  readonly contexts: readonly RollupContext[];
  readonly ledger: IntervalLedger;
  readonly sources: RollupSources;
  readonly engine: ComputeEngine;
  readonly index: SourceIndex;
  readonly computation: IntervalComputation;
  readonly traffic: RecentTraffic;
  readonly logger: RollupLogger;
  readonly clock: () => number;
  readonly tickMs: number;
  /** Holes filled per context and tick, after the fresh intervals. */
  readonly backfillPerTick: number;
  /** Contexts worked on at once. */
  readonly concurrency: number;
  /** The time limit of the engine's work to index a source's new files. */
  readonly timeoutMs: number;
  /** Stops the ticks when the rollups close. */
  readonly signal: AbortSignal;
  /** Reads the contexts whose source is a PostgreSQL table. */
  readonly intervalSource?: IntervalSource | undefined;
  /** Where a source that cannot be read is reported (the rollup's status shows it). */
  readonly health: SourceHealth;
}

/** Intervals left without an audit that a context audits per tick, at most. */
const AUDITS_LEFT_PER_TICK = 4;

interface TickState extends ContextState {
  readonly handled: Set<number>;
}

/**
 * What a tick keeps of a context from its fresh intervals to its holes: a few interval starts and their
 * fingerprints, not its history. Thousands of contexts wait for the holes pass at once, and a context's records
 * and fingerprints hold hundreds of bytes per interval of its history.
 */
interface TickPlan {
  /** Intervals this tick has computed or tried. */
  readonly handled: Set<number>;
  /** The holes the holes pass may fill, newest first: it takes those due when it comes to the context. */
  readonly holes: readonly HoleCandidate[];
  /** Intervals recorded done whose audit never came, a few. */
  readonly unaudited: readonly number[];
  /** The fingerprint of each candidate hole's source files. */
  readonly inputs: ReadonlyMap<number, string>;
}

/**
 * The rollups' schedule. Every tick, per context, tenants that queried most recently first: the newest complete
 * intervals of every context, then holes (missed intervals) newest first, a few per context, so that fresh data
 * never waits behind a backfill. The holes stop when a new interval is complete, and the next tick starts with it.
 */
export class RollupScheduler {
  readonly #options: RollupSchedulerOptions;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  /** Rollup datasets (tenant and rollup) waiting to be listed again, and the listings under way. */
  readonly #refreshes = new Set<string>();
  /** Per context, the last interval whose late audit a tick tried: the next tick goes on after it. */
  readonly #auditedUpTo = new WeakMap<RollupContext, number>();
  #refreshing = 0;
  readonly #states: ContextStates;

  constructor(options: RollupSchedulerOptions) {
    this.#options = options;
    this.#states = new ContextStates(options.ledger, options.clock);
  }

  /** Starts the schedule: one tick now, then one every `tickMs`. */
  start(): void {
    const tick = (): void => {
      void this.tick().catch((error: unknown) =>
        this.#options.logger.warn('rollups.tick_failed', { error: (error as Error).message }),
      );
    };
    this.#timer = setInterval(tick, this.#options.tickMs);
    this.#timer.unref();
    tick();
  }

  /** One round of scheduling; concurrent calls share the round under way. */
  tick(): Promise<void> {
    this.#ticking ??= this.#tick().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  /** Stops the timer and waits for the round under way (which the closing signal cuts short). */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#ticking?.catch(() => undefined);
  }

  async #tick(): Promise<void> {
    const { contexts, traffic, concurrency, clock } = this.#options;
    const order = byRecentTraffic(contexts, (tenant) => traffic.last(tenant));
    // A backlog of thousands of contexts takes many minutes: the holes give way as soon as a new interval of any
    // context is complete, so that the next tick computes it first.
    const began = clock();
    let freshAgainAt = Number.POSITIVE_INFINITY;
    for (const context of contexts) {
      freshAgainAt = Math.min(freshAgainAt, lastEnd(context, began) + context.intervalMs + context.delayMs);
    }
    // Each context's state is read once per tick, and its fresh intervals computed as soon as it is: thousands of
    // contexts do not wait for every state to be read. Fresh intervals of every context first, then the holes, a
    // few contexts at once, in the order of their tenants' recent traffic.
    const plans = new Map<RollupContext, TickPlan>();
    await eachAtOnce(order, concurrency, async (context) => {
      const state = await this.#stateOf(context);
      if (!state) return;
      await this.#run(context, dueIntervals(context, 'fresh', state, this.#policy()), state);
      plans.set(context, this.#plan(context, state));
    });
    const ready = order.filter((context) => plans.has(context));
    await eachAtOnce(ready, concurrency, (context) => {
      const plan = plans.get(context) as TickPlan;
      return this.#run(context, holesDue(plan.holes, clock(), this.#options.backfillPerTick), plan, freshAgainAt);
    });
    await eachAtOnce(ready, concurrency, (context) => this.#auditLeft(context, plans.get(context) as TickPlan));
    // New interval files become visible in the rollups' own datasets: one listing per rollup and tick, in the
    // background and a few at once (thousands started together would hold up the next tick's reads behind them,
    // and a slow store must not hold up the ticks).
    for (const context of ready) {
      if ((plans.get(context)?.handled.size ?? 0) === 0) continue;
      for (const rollup of context.rollups) this.#refreshes.add(`${context.tenant}\0${rollup.name}`);
    }
    this.#drainRefreshes();
  }

  /** Lists the rollups' datasets waiting to be listed, `concurrency` at once, each once however often asked. */
  #drainRefreshes(): void {
    const { sources, concurrency } = this.#options;
    while (this.#refreshing < concurrency && this.#refreshes.size > 0) {
      const key = this.#refreshes.values().next().value as string;
      this.#refreshes.delete(key);
      const [tenant = '', rollup = ''] = key.split('\0');
      this.#refreshing++;
      void sources
        .refresh(tenant, rollup)
        .catch(() => undefined)
        .finally(() => {
          this.#refreshing--;
          this.#drainRefreshes();
        });
    }
  }

  /** What a tick needs to know of a context: interval records and the fingerprints of each interval's files. */
  async #stateOf(context: RollupContext): Promise<TickState | undefined> {
    const { sources, engine, index, logger, signal, timeoutMs, clock } = this.#options;
    if (signal.aborted) return undefined;
    const now = clock();
    const end = lastEnd(context, now);
    try {
      const postgres = context.rollups[0].postgres;
      const intervalSource = this.#options.intervalSource;
      if (postgres && intervalSource) {
        // Intervals late rows may still change are fingerprinted on the server each tick; older ones are final,
        // and the fingerprint they were computed with stands.
        const lateFrom = firstLate(context, postgres.lateRowsMs, now);
        const state = await this.#states.readTable(context, end, lateFrom, (from, to) =>
          intervalSource.fingerprints(context, from, to, signal),
        );
        this.#options.health.succeeded(context.tenant, context.source);
        return { ...state, handled: new Set() };
      }
      const lease = await sources.acquire(context.tenant, context.source, signal);
      try {
        const timeColumn = context.rollups[0].timeColumn;
        const spans = await index.spans(engine, lease.snapshot, timeColumn, { signal, timeoutMs });
        const state = await this.#states.read(context, lease.snapshot, spans, end);
        this.#options.health.succeeded(context.tenant, context.source);
        return { ...state, handled: new Set() };
      } finally {
        lease.release();
      }
    } catch (error) {
      if (!signal.aborted) {
        const message = (error as Error).message;
        this.#options.health.failed(context.tenant, context.source, message, clock());
        logger.warn('rollups.schedule_failed', { tenant: context.tenant, source: context.source, error: message });
      }
      return undefined;
    }
  }

  /**
   * Audits intervals recorded done whose audit never came (the process stopped between the two), a few per tick.
   * Every interval this process computed in the tick was audited with it, and the tick has waited for those.
   */
  async #auditLeft(context: RollupContext, plan: TickPlan): Promise<void> {
    const { computation, signal } = this.#options;
    for (const start of plan.unaudited) {
      if (signal.aborted) return;
      // A hole computed this tick was audited with it.
      if (!plan.handled.has(start)) await computation.auditLeft(context, start);
    }
  }

  /** The policy of what is due now. */
  #policy(): { now: number; tickMs: number; backfillPerTick: number } {
    const { clock, tickMs, backfillPerTick } = this.#options;
    return { now: clock(), tickMs, backfillPerTick };
  }

  /**
   * What the rest of the tick needs of a context once its fresh intervals are done: its holes, and a few intervals
   * whose audit never came, with their fingerprints.
   */
  #plan(context: RollupContext, state: TickState): TickPlan {
    const holes = holeCandidates(context, state, this.#policy());
    // In turn from where the last tick stopped, so that intervals whose audit keeps failing (its engine away) do
    // not hold back every other one.
    const after = this.#auditedUpTo.get(context) ?? Number.NEGATIVE_INFINITY;
    const later: number[] = [];
    const earlier: number[] = [];
    for (const [start, record] of state.records[0] ?? []) {
      if (isUnaudited(record) && !state.handled.has(start)) (start > after ? later : earlier).push(start);
    }
    const byStart = (a: number, b: number): number => a - b;
    const unaudited = [...later.sort(byStart), ...earlier.sort(byStart)].slice(0, AUDITS_LEFT_PER_TICK);
    const last = unaudited.at(-1);
    if (last !== undefined) this.#auditedUpTo.set(context, last);
    const inputs = new Map(holes.map(({ start }) => [start, state.inputs.get(start) ?? '']));
    return { handled: state.handled, holes, unaudited, inputs };
  }

  /** Computes the given intervals of the context in order, until `until` (the clock's time) has come. */
  async #run(
    context: RollupContext,
    due: readonly number[],
    known: Pick<TickPlan, 'handled' | 'inputs'>,
    until = Number.POSITIVE_INFINITY,
  ): Promise<void> {
    const { computation, signal, clock } = this.#options;
    for (const start of due) {
      if (signal.aborted || clock() >= until) return;
      if (await computation.run(context, start, known.inputs.get(start) ?? '')) known.handled.add(start);
    }
  }
}
