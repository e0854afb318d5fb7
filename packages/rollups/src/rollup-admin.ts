import { LakegateError } from '@lakegate/engine-api';
import { type CountAudit, noFiles } from './count-audit.js';
import type { ComputeEngine, RollupSources } from './dependencies.js';
import { eachAtOnce } from './each-at-once.js';
import type { IntervalLedger, RollupSummary } from './interval-ledger.js';
import type { IntervalAudit, IntervalRecord, IntervalState } from './interval-record.js';
import { findRollup, intervalStarts, lastEnd, type RollupContext } from './rollup-context.js';
import type { SourceHealth } from './source-health.js';
import { SourceIndex } from './source-index.js';

export interface RollupAdminOptions {
  readonly contexts: readonly RollupContext[];
  readonly ledger: IntervalLedger;
  readonly sources: RollupSources;
  readonly engine: ComputeEngine;
  readonly index: SourceIndex;
  readonly audit: CountAudit;
  readonly clock: () => number;
  /** Sources that could not be read lately. */
  readonly health: SourceHealth;
  /** Asks for a tick soon, after a backfill marked intervals pending. */
  readonly poke: () => void;
  /** The time limit of the engine's work for an audit (the files' time spans). */
  readonly timeoutMs: number;
  /** Aborts work under way when the rollups close. */
  readonly signal: AbortSignal;
}

/** A rollup's lag (seconds between now and the end of its newest done interval) and failed audits. */
export interface RollupLag {
  readonly tenant: string;
  readonly rollup: string;
  readonly seconds: number;
  /** Intervals whose last audit found other rows than the source has. */
  readonly auditMismatches: number;
}

/**
 * How long a scrape waits for rollups' summaries to be read. Those not read by then are given as last kept, or left
 * out of that scrape, and their reads go on for the next: the first scrape after a start would otherwise read
 * every record of thousands of rollups, past any scraper's timeout.
 */
const SCRAPE_BUDGET_MS = 2000;
/** Rollups whose summary a scrape reads at once. */
const SCRAPE_READS = 8;
/** The longest a scrape's reads hold the event loop without letting anything else run. */
const SCRAPE_YIELD_MS = 10;

/** The window over which a backfill's pace is measured. */
const BACKFILL_PACE_WINDOW_MS = 10 * 60_000;

/** A range larger than this is refused: it would write as many records at once. */
export const MAX_BACKFILL_INTERVALS = 100_000;

/** What operators see and do: each rollup's intervals and lag, backfills and audits of a range. */
export class RollupAdmin {
  readonly #options: RollupAdminOptions;

  constructor(options: RollupAdminOptions) {
    this.#options = options;
  }

  /** The tenant's rollup names. */
  names(tenant: string): string[] {
    return this.#options.contexts.filter((c) => c.tenant === tenant).flatMap((c) => c.rollups.map((r) => r.name));
  }

  /**
   * Marks the complete intervals that begin in `[from, to)` pending, so the next ticks recompute them (newest
   * first, after fresh intervals); running ones are left alone. Returns how many intervals were marked.
   */
  async backfill(tenant: string, name: string, from: string | undefined, to: string | undefined): Promise<number> {
    const { context } = findRollup(this.#options.contexts, tenant, name);
    const [requestedFrom, toMs] = this.#range(context, from, to);
    const fromMs = Math.max(requestedFrom, context.startMs);
    // An interval that `to` cuts holds rows of the range: it is computed again too, as an audit takes it.
    const until = Math.min(
      Math.ceil(toMs / context.intervalMs) * context.intervalMs,
      lastEnd(context, this.#options.clock()),
    );
    if ((until - fromMs) / context.intervalMs > MAX_BACKFILL_INTERVALS)
      throw new LakegateError(
        'INVALID_REQUEST',
        `The range holds more than ${MAX_BACKFILL_INTERVALS} intervals; backfill it in smaller ranges.`,
      );
    const starts = intervalStarts(context, fromMs, until);
    const records = await this.#options.ledger.recordsFor(tenant, context.rollups[0].name, starts);
    let count = 0;
    for (const start of starts) {
      const previous = records.get(start);
      if (previous?.state === 'running') continue;
      await this.#options.ledger.putForContext(context, { start, state: 'pending', attempts: previous?.attempts ?? 0 });
      count++;
    }
    if (count > 0) this.#options.poke();
    return count;
  }

  /** Audits the done intervals of `[from, to)` now, over the source files that overlap each. */
  async audit(
    tenant: string,
    name: string,
    from: string | undefined,
    to: string | undefined,
  ): Promise<IntervalAudit[]> {
    const { contexts, ledger, sources, engine, index, signal, timeoutMs } = this.#options;
    const { context } = findRollup(contexts, tenant, name);
    const [fromMs, toMs] = this.#range(context, from, to);
    // The intervals of the rollup's span that begin in the range.
    const until = Math.min(
      Math.ceil(toMs / context.intervalMs) * context.intervalMs,
      lastEnd(context, this.#options.clock()),
    );
    const starts = intervalStarts(context, Math.max(fromMs, context.startMs), until);
    const records = await ledger.recordsFor(tenant, name, starts);
    const position = context.rollups.findIndex((r) => r.name === name);
    const due = [...records.values()].filter((r) => r.state === 'done');
    if (context.rollups[0].postgres) {
      // Counted on the server, scope by scope: no files to read.
      const audits: IntervalAudit[] = [];
      for (const record of due) {
        const results = await this.#options.audit.audit(context, record.start, record, noFiles(context));
        audits.push(results[position] as IntervalAudit);
      }
      return audits;
    }
    const lease = await sources.acquire(tenant, context.source, signal);
    try {
      const spans = await index.spans(engine, lease.snapshot, context.rollups[0].timeColumn, { signal, timeoutMs });
      const audits: IntervalAudit[] = [];
      for (const record of due) {
        const snapshot = SourceIndex.forAudit(lease.snapshot, spans, record.start, record.start + context.intervalMs);
        const results = await this.#options.audit.audit(context, record.start, record, snapshot);
        audits.push(results[position] as IntervalAudit);
      }
      return audits;
    } finally {
      lease.release();
    }
  }

  /** Every audited interval of the rollup, oldest first: what the last audit of each found. */
  async audits(tenant: string, name: string): Promise<(IntervalAudit & { intervalStart: string })[]> {
    findRollup(this.#options.contexts, tenant, name);
    const records = await this.#options.ledger.records(tenant, name);
    return [...records.values()]
      .filter((record) => record.audit !== undefined)
      .sort((a, b) => a.start - b.start)
      .map((record) => ({ intervalStart: new Date(record.start).toISOString(), ...(record.audit as IntervalAudit) }));
  }

  /**
   * Each rollup's lag, for the metrics, from summaries read within `budgetMs`; a rollup whose summary is not read by
   * then is given as last kept, or left out until a later scrape.
   */
  async lags(budgetMs = SCRAPE_BUDGET_MS): Promise<RollupLag[]> {
    const { contexts, ledger } = this.#options;
    const all = contexts.flatMap((context) => context.rollups.map((rollup) => ({ context, rollup })));
    const read = new Map<(typeof all)[number], RollupSummary>();
    let yielded = performance.now();
    const reading = eachAtOnce(all, SCRAPE_READS, async (item) => {
      // A ledger in memory answers at once: the budget's timer, and queries, get their turn every few ms.
      if (performance.now() - yielded > SCRAPE_YIELD_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        yielded = performance.now();
      }
      const summary = await ledger.summary(item.context.tenant, item.rollup.name).catch(() => undefined);
      if (summary) read.set(item, summary);
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      reading,
      new Promise((resolve) => {
        timer = setTimeout(resolve, budgetMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    const out: RollupLag[] = [];
    for (const item of all) {
      const { context, rollup } = item;
      const summary = read.get(item) ?? ledger.keptSummary(context.tenant, rollup.name);
      if (!summary) continue;
      out.push({
        tenant: context.tenant,
        rollup: rollup.name,
        seconds: this.#lag(context, summary.newestDone),
        auditMismatches: summary.mismatched.size,
      });
    }
    return out;
  }

  /**
   * The tenant's rollups (or the one named): definition, interval counts by state, holes, lag, last audit, and with
   * a name, every interval newest first.
   */
  async describe(tenant: string, name?: string): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for (const context of this.#options.contexts) {
      if (context.tenant !== tenant) continue;
      for (const rollup of context.rollups) {
        if (name !== undefined && rollup.name !== name) continue;
        const records = await this.#options.ledger.records(tenant, rollup.name);
        // Taken from the records just read.
        const summary = await this.#options.ledger.summary(tenant, rollup.name);
        const end = lastEnd(context, this.#options.clock());
        const counts: Record<IntervalState | 'missing', number> = {
          pending: 0,
          running: 0,
          done: 0,
          failed: 0,
          missing: 0,
        };
        const intervals: Record<string, unknown>[] = [];
        for (let start = context.startMs; start < end; start += context.intervalMs) {
          const record = records.get(start);
          counts[record?.state ?? 'missing']++;
          intervals.push({
            ...record,
            start: new Date(start).toISOString(),
            end: new Date(start + context.intervalMs).toISOString(),
            state: record?.state ?? 'missing',
          });
        }
        const audited = [...records.values()].filter((r) => r.audit).sort((a, b) => b.start - a.start);
        const total = counts.pending + counts.running + counts.done + counts.failed + counts.missing;
        out.push({
          name: rollup.name,
          source: rollup.source,
          interval: `${rollup.intervalMs / 1000}s`,
          timeColumn: rollup.timeColumn,
          dimensions: rollup.dimensions,
          measures: rollup.measures,
          from: new Date(context.startMs).toISOString(),
          to: new Date(end).toISOString(),
          lagSeconds: this.#lag(context, summary.newestDone),
          // Why intervals stay pending while the source cannot be read (its server down, say).
          sourceError: this.#options.health.failure(tenant, context.source) ?? null,
          intervals: counts,
          holes: counts.missing + counts.pending + counts.failed,
          backfill: this.#backfill(records, counts.done, total),
          auditMismatches: summary.mismatched.size,
          lastAudit: audited[0]?.audit
            ? { interval: new Date(audited[0].start).toISOString(), ...audited[0].audit }
            : null,
          ...(name !== undefined ? { detail: intervals.reverse() } : {}),
        });
      }
    }
    return out;
  }

  /**
   * How far the rollup is from holding every interval of its span: intervals done of all, the pace of the last 10
   * minutes (intervals finished per minute) and, at that pace, the seconds until the rest are done.
   */
  #backfill(records: ReadonlyMap<number, IntervalRecord>, done: number, total: number): Record<string, unknown> {
    const since = this.#options.clock() - BACKFILL_PACE_WINDOW_MS;
    let recent = 0;
    for (const record of records.values()) if (record.state === 'done' && (record.finishedAt ?? 0) >= since) recent++;
    const perMinute = recent / (BACKFILL_PACE_WINDOW_MS / 60_000);
    const remaining = total - done;
    return {
      done,
      total,
      remaining,
      percent: total === 0 ? 100 : Math.floor((done / total) * 1000) / 10,
      intervalsPerMinute: perMinute,
      etaSeconds: remaining === 0 ? 0 : perMinute > 0 ? Math.ceil((remaining / perMinute) * 60) : null,
    };
  }

  /** Seconds since the end of the newest interval done (or since the rollup's start, when none is). */
  #lag(context: RollupContext, newestDone: number | undefined): number {
    const newest = Math.max(context.startMs, (newestDone ?? Number.NEGATIVE_INFINITY) + context.intervalMs);
    return Math.max(0, (this.#options.clock() - newest) / 1000);
  }

  /** `[from, to)` of a request in milliseconds: from aligned down to an interval, defaults the rollup's whole span. */
  #range(context: RollupContext, from: string | undefined, to: string | undefined): [number, number] {
    const parse = (text: string | undefined, fallback: number, what: string): number => {
      if (text === undefined) return fallback;
      const value = Date.parse(text);
      if (Number.isNaN(value))
        throw new LakegateError('INVALID_REQUEST', `"${what}" must be an ISO 8601 time such as 2026-01-01T00:00:00Z.`);
      return value;
    };
    const fromMs = Math.floor(parse(from, context.startMs, 'from') / context.intervalMs) * context.intervalMs;
    const toMs = parse(to, lastEnd(context, this.#options.clock()), 'to');
    if (toMs <= fromMs) throw new LakegateError('INVALID_REQUEST', '"to" must be after "from".');
    return [fromMs, toMs];
  }
}
