import { type DatasetSnapshot, LakegateError } from '@lakegate/engine-api';
import {
  type IntervalGroups,
  type RollupAnswer,
  type RollupComputer,
  type RollupResult,
  readRollupInterval,
} from '@lakegate/engine-local-agg';
import { BoundedCache } from './bounded-cache.js';
import type { ComputeEngine, RollupLogger, RollupSink } from './dependencies.js';
import { eachAtOnce } from './each-at-once.js';
import type { IntervalLedger } from './interval-ledger.js';
import type { IntervalRecord } from './interval-record.js';
import type { RecentTraffic } from './recent-traffic.js';
import {
  definitionOf,
  fileKey,
  intervalStarts,
  lastEnd,
  type RollupContext,
  type RollupSpec,
} from './rollup-context.js';

export interface RollupAnswererOptions {
  readonly contexts: readonly RollupContext[];
  readonly ledger: IntervalLedger;
  readonly sink: RollupSink;
  /** The engine that computed the intervals: it plans answers and merges their groups. */
  readonly engine: ComputeEngine;
  readonly traffic: RecentTraffic;
  readonly logger: RollupLogger;
  readonly clock: () => number;
  /** The time limit of one answer (planning, reading the intervals, merging them). */
  readonly timeoutMs: number;
  /** Aborts answers under way when the rollups close. */
  readonly signal: AbortSignal;
}

export interface RollupAnswerResult {
  /** The rollup that answered. */
  readonly rollup: string;
  readonly result: RollupResult;
}

/** Parsed interval files kept in memory: answers over long ranges read the same intervals again and again. */
const CACHE_ENTRIES = 10_000;
/** Interval files one answer reads at once. */
const READS_AT_ONCE = 16;

/**
 * Aggregate awareness: answers an aggregation of a rollup's source from the rollup when its dimensions, aggregates
 * and time range fit (as the compute engine decides) and every interval of the range is done with the rollup's
 * current definition and no failed audit. Otherwise the query goes to the engines on the raw data.
 */
export class RollupAnswerer {
  readonly #options: RollupAnswererOptions;
  readonly #intervals = new BoundedCache<string, IntervalGroups>(CACHE_ENTRIES);

  constructor(options: RollupAnswererOptions) {
    this.#options = options;
  }

  /** The engine that computes and answers from the rollups, as answers from them are labelled. */
  get engineId(): string {
    return this.#options.engine.id;
  }

  /** A tenant ran a query: its rollups go before dormant tenants' in the next ticks. */
  noteQuery(tenant: string): void {
    this.#options.traffic.note(tenant);
  }

  /** The answer from the first rollup of the tenant that fits, or `undefined` to run the query on the raw data. */
  async tryAnswer(
    tenant: string,
    sql: string,
    snapshot: DatasetSnapshot,
    maxRows: number,
  ): Promise<RollupAnswerResult | undefined> {
    const candidates = this.#options.contexts.filter((c) => c.tenant === tenant && c.source === snapshot.dataset);
    if (candidates.length === 0) return undefined;
    const { engine, signal, timeoutMs } = this.#options;
    try {
      return await engine.run((computer) => this.#answer(computer, candidates, { tenant, sql, snapshot, maxRows }), {
        signal,
        timeoutMs,
      });
    } catch (error) {
      // The raw data can still answer: a rollup that cannot be read (state unreachable, file missing) steps aside.
      this.#options.logger.warn('rollups.answer_failed', { tenant, error: (error as Error).message });
      return undefined;
    }
  }

  async #answer(
    computer: RollupComputer,
    candidates: readonly RollupContext[],
    query: { tenant: string; sql: string; snapshot: DatasetSnapshot; maxRows: number },
  ): Promise<RollupAnswerResult | undefined> {
    const rollups = candidates.flatMap((context) => context.rollups.map((rollup) => ({ context, rollup })));
    const plans = await computer.planRollupAnswers(
      query.sql,
      query.snapshot,
      rollups.map((r) => r.rollup),
    );
    for (const [i, { context, rollup }] of rollups.entries()) {
      const plan = plans[i];
      if (!plan || 'reason' in plan) continue;
      const intervals = await this.#intervalsFor(context, rollup, plan);
      if (intervals) return { rollup: rollup.name, result: plan.finish(intervals, query.maxRows) };
    }
    return undefined;
  }

  /** The groups of every interval the plan needs, or `undefined` unless each one is usable. */
  async #intervalsFor(
    context: RollupContext,
    rollup: RollupSpec,
    plan: RollupAnswer,
  ): Promise<IntervalGroups[] | undefined> {
    if (plan.toMs > lastEnd(context, this.#options.clock()) || plan.fromMs < context.startMs) return undefined;
    // Only the records of the range asked for: a dashboard's day of a rollup months old.
    const starts = intervalStarts(context, plan.fromMs, plan.toMs);
    const records = await this.#options.ledger.recordsFor(context.tenant, rollup.name, starts);
    const definition = definitionOf(rollup);
    const usable: IntervalRecord[] = [];
    for (const start of starts) {
      const record = records.get(start);
      if (record?.state !== 'done' || record.definition !== definition || record.audit?.ok === false) return undefined;
      usable.push(record);
    }
    // The files not in memory are read several at a time: a month's range from an object store is thousands.
    const groups: IntervalGroups[] = new Array(usable.length);
    await eachAtOnce([...usable.entries()], READS_AT_ONCE, async ([i, record]) => {
      groups[i] = await this.#intervalGroups(context.tenant, rollup.name, record);
    });
    return groups;
  }

  async #intervalGroups(tenant: string, name: string, record: IntervalRecord): Promise<IntervalGroups> {
    const key = `${tenant}/${name}@${record.start}:${record.finishedAt}`;
    const cached = this.#intervals.get(key);
    if (cached) return cached;
    const text = await this.#options.sink.get(fileKey(tenant, name, record.start));
    if (text === undefined)
      throw new LakegateError('STORAGE_UNAVAILABLE', `Rollup "${name}" is missing an interval file; retry shortly.`, {
        retryAfterSeconds: 5,
      });
    return this.#intervals.set(key, readRollupInterval(text).groups);
  }
}
