import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import {
  collectRows,
  type DatasetSnapshot,
  isLakegateError,
  LakegateError,
  type TableBinding,
} from '@lakegate/engine-api';
import {
  type FileLayout,
  type LocalAggEngine,
  type LocalColumn,
  MergedGroups,
  type PassWork,
  type PlainGroups,
  parseLocalQuery,
  planRollupAnswer,
  readRollupLines,
  rollupLines,
  rollupPass,
  rollupSql,
  timestampText,
} from '@lakegate/engine-local-agg';
import type { BlobStore, Storage } from '@lakegate/storage';
import type { GatewayConfig, RollupConfig } from '../config/config.js';
import type { EngineRegistry } from '../engines/engine-registry.js';
import type { Logger } from '../logging/logger.js';
import { quoteIdentifier } from '../sql/sql-lexer.js';
import type { RollupLedger } from '../state/rollup-ledger.js';

export type IntervalState = 'pending' | 'running' | 'done' | 'failed';

export interface IntervalAudit {
  readonly at: string;
  /** Raw rows of the interval, counted by DuckDB over the source. */
  readonly rawRows: number;
  /** Sum of `_rows` in the rollup file as stored in the sink. */
  readonly rollupRows: number;
  readonly ok: boolean;
}

/** What the rollup ledger keeps per interval of a rollup. */
export interface IntervalRecord {
  readonly start: number;
  readonly state: IntervalState;
  readonly attempts: number;
  readonly owner?: string;
  readonly rows?: number;
  readonly groups?: number;
  readonly startedAt?: number;
  readonly finishedAt?: number;
  readonly durationMs?: number;
  readonly error?: string;
  readonly audit?: IntervalAudit;
  /** Fingerprint of the rollup's definition it was computed with: another definition means computing it again. */
  readonly definition?: string;
  /** Fingerprint of the source files it read (path and ETag): a late or rewritten file means computing it again. */
  readonly inputs?: string;
}

/** A context's state for one tick: read once, then used for its fresh intervals and its holes. */
interface SchedulePlan {
  readonly lastEnd: number;
  readonly records: readonly Map<number, IntervalRecord>[];
  readonly inputs: ReadonlyMap<number, string>;
  /** Intervals this tick has computed (or tried): the holes pass does not take them again. */
  readonly handled: Set<number>;
}

/** Rollups of one tenant that read the same source at the same interval: computed together, in one pass. */
interface RollupContext {
  readonly tenant: string;
  readonly source: string;
  readonly intervalMs: number;
  readonly delayMs: number;
  readonly startMs: number;
  readonly rollups: readonly RollupConfig[];
}

export interface RollupServiceOptions {
  readonly config: GatewayConfig;
  readonly storage: Storage;
  /** Interval records, and claims so that one replica computes each interval. */
  readonly ledger: RollupLedger;
  readonly engines: EngineRegistry;
  /** The engine whose worker threads compute intervals (a dedicated one, so dashboards never wait behind it). */
  readonly engine: LocalAggEngine;
  /** The sink: rollup files go to `<tenant>/<rollup>/<interval start>.ndjson`. */
  readonly sink: BlobStore;
  readonly logger: Logger;
  readonly replicaId: () => string;
  readonly clock?: () => number;
}

export interface RollupAnswerResult {
  readonly rollup: string;
  readonly result: ReturnType<MergedGroups['finish']>;
}

const rollupKey = (tenant: string, name: string): string => `${tenant}/${name}`;
const fileKey = (tenant: string, name: string, start: number): string =>
  `${tenant}/${name}/${new Date(start).toISOString().replaceAll(':', '').replace('.000Z', 'Z')}.ndjson`;
const FRESH_INTERVALS = 2;
const CACHE_ENTRIES = 10_000;
const MAX_BACKFILL_INTERVALS = 100_000;

const fingerprint = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** The definition fingerprint: the rollup's SQL (dimensions, measures, filters, order) and its interval. */
const definitionOf = (rollup: RollupConfig): string => fingerprint(`${rollupSql(rollup)}|${rollup.intervalMs}`);

/** Bounded insertion-ordered cache: the oldest entry goes first. */
function remember<K, V>(cache: Map<K, V>, key: K, value: V): V {
  if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value as K);
  cache.set(key, value);
  return value;
}

/** Whether a file whose time column spans `range` (microseconds) may hold rows of `[startMs, endMs)`. */
const overlaps = (range: { min: number; max: number } | null | undefined, startMs: number, endMs: number): boolean =>
  !!range && range.max >= startMs * 1000 && range.min < endMs * 1000;

/**
 * The rollup orchestrator. Every tick, per rollup context (active tenants first): computes the newest complete
 * intervals, then fills holes (missed intervals) newest first, a few per tick, so fresh data never waits behind a
 * backfill. Each interval is claimed in the rollup ledger (one replica computes it), recorded as running, computed in
 * one pass over the source files that overlap it, written to the sink under a fixed name (so a recomputation after
 * a crash replaces, never adds), recorded as done, and audited against DuckDB's count of the raw rows.
 */
export class RollupService {
  readonly #options: RollupServiceOptions;
  readonly #contexts: RollupContext[];
  readonly #clock: () => number;
  readonly #lastQuery = new Map<string, number>();
  /** Time range of each source file (path and etag): intervals read only the files that overlap them. */
  readonly #fileRanges = new Map<string, { min: number; max: number } | null>();
  readonly #intervals = new Map<string, PlainGroups>();
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;

  constructor(options: RollupServiceOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    const now = this.#clock();
    const contexts = new Map<string, RollupContext>();
    for (const [tenant, tenantConfig] of Object.entries(options.config.tenants)) {
      for (const rollup of Object.values(tenantConfig.rollups)) {
        const key = `${tenant}\0${rollup.source}\0${rollup.intervalMs}`;
        const start = rollup.startAtMs ?? now - options.config.rollups.backfillHours * 3_600_000;
        const existing = contexts.get(key);
        contexts.set(key, {
          tenant,
          source: rollup.source,
          intervalMs: rollup.intervalMs,
          delayMs: Math.max(existing?.delayMs ?? 0, rollup.delayMs),
          startMs: Math.min(
            existing?.startMs ?? Number.POSITIVE_INFINITY,
            Math.floor(start / rollup.intervalMs) * rollup.intervalMs,
          ),
          rollups: [...(existing?.rollups ?? []), rollup],
        });
      }
    }
    this.#contexts = [...contexts.values()];
    // Every pass and lease of every context listens to this one signal.
    setMaxListeners(0, this.#abort.signal);
  }

  get enabled(): boolean {
    return this.#contexts.length > 0;
  }

  /** Starts the schedule (one tick now, then every `rollups.tickSeconds`). */
  start(): void {
    if (!this.enabled) return;
    const tick = (): void => {
      void this.tick().catch((error: unknown) =>
        this.#options.logger.warn('rollups.tick_failed', { error: (error as Error).message }),
      );
    };
    this.#timer = setInterval(tick, this.#options.config.rollups.tickSeconds * 1000);
    this.#timer.unref();
    tick();
  }

  /** The engine that computes the rollups, as answers from them are labelled. */
  get engineId(): string {
    return this.#options.engine.id;
  }

  /** A tenant ran a query: its rollups go before dormant tenants' in the next ticks. */
  noteQuery(tenant: string): void {
    this.#lastQuery.set(tenant, this.#clock());
  }

  /** One round of scheduling; concurrent calls share the round under way. */
  tick(): Promise<void> {
    this.#ticking ??= this.#tick().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  async #tick(): Promise<void> {
    const order = [...this.#contexts].sort(
      (a, b) => (this.#lastQuery.get(b.tenant) ?? 0) - (this.#lastQuery.get(a.tenant) ?? 0),
    );
    // Each context's state is read once per tick; fresh intervals of every context first, then the holes.
    const plans = new Map<RollupContext, SchedulePlan>();
    for (const context of order) {
      const plan = await this.#schedule(context);
      if (plan) plans.set(context, plan);
    }
    for (const [context, plan] of plans) await this.#runDue(context, 'fresh', plan);
    for (const [context, plan] of plans) await this.#runDue(context, 'holes', plan);
    // New interval files become visible in the rollups' own datasets: one listing per rollup and tick.
    for (const [context, plan] of plans) {
      if (plan.handled.size === 0) continue;
      for (const rollup of context.rollups)
        void this.#options.storage.refresh(context.tenant, rollup.name).catch(() => undefined);
    }
  }

  /** The end of the newest interval that is complete (and past its delay for late files). */
  #lastEnd(context: RollupContext): number {
    const now = this.#clock();
    return Math.floor((now - context.delayMs) / context.intervalMs) * context.intervalMs;
  }

  async #records(tenant: string, name: string): Promise<Map<number, IntervalRecord>> {
    const raw = await this.#options.ledger.rollupIntervals(rollupKey(tenant, name));
    return new Map([...raw].map(([start, text]) => [start, JSON.parse(text) as IntervalRecord]));
  }

  /** For each interval start of `[from, to)`, the fingerprint of the files that overlap it. */
  #inputsByInterval(
    context: RollupContext,
    snapshot: DatasetSnapshot,
    ranges: readonly ({ min: number; max: number } | null)[],
    from: number,
    to: number,
  ): Map<number, string> {
    const files = new Map<number, string[]>();
    snapshot.files.forEach((file, i) => {
      const range = ranges[i];
      if (!range) return;
      const first = Math.max(from, Math.floor(range.min / 1000 / context.intervalMs) * context.intervalMs);
      const last = Math.min(
        to - context.intervalMs,
        Math.floor(range.max / 1000 / context.intervalMs) * context.intervalMs,
      );
      for (let start = first; start <= last; start += context.intervalMs) {
        const list = files.get(start) ?? [];
        list.push(`${file.path}\0${file.etag}`);
        files.set(start, list);
      }
    });
    return new Map([...files].map(([start, list]) => [start, fingerprint(list.sort().join('\n'))]));
  }

  /** Whether every rollup of the context has the interval done, with its current definition and inputs. */
  #isDone(
    context: RollupContext,
    records: readonly Map<number, IntervalRecord>[],
    start: number,
    inputs: string,
  ): boolean {
    return context.rollups.every((rollup, i) => {
      const record = records[i]?.get(start);
      return record?.state === 'done' && record.definition === definitionOf(rollup) && record.inputs === inputs;
    });
  }

  /** A failed interval waits before its next attempt: twice as long after each failure, at most 15 minutes. */
  #backingOff(records: readonly Map<number, IntervalRecord>[], start: number): boolean {
    const record = records[0]?.get(start);
    if (record?.state !== 'failed') return false;
    const wait = Math.min(
      900_000,
      this.#options.config.rollups.tickSeconds * 1000 * 2 ** Math.min(10, record.attempts - 1),
    );
    return this.#clock() - (record.finishedAt ?? record.startedAt ?? 0) < wait;
  }

  /** What a tick needs to know of a context: interval records, input fingerprints, and what it has handled. */
  async #schedule(context: RollupContext): Promise<SchedulePlan | undefined> {
    if (this.#abort.signal.aborted) return undefined;
    const { logger, storage } = this.#options;
    const lastEnd = this.#lastEnd(context);
    try {
      const records = await Promise.all(context.rollups.map((r) => this.#records(context.tenant, r.name)));
      const lease = await storage.acquire(context.tenant, context.source, this.#abort.signal);
      try {
        const { columns, layouts } = await this.#sourceLayout(lease.snapshot);
        const lead = context.rollups[0] as RollupConfig;
        const ranges = await this.#fileRangesOf(lease.snapshot, layouts, columns, lead.timeColumn);
        const inputs = this.#inputsByInterval(context, lease.snapshot, ranges, context.startMs, lastEnd);
        return { lastEnd, records, inputs, handled: new Set() };
      } finally {
        lease.release();
      }
    } catch (error) {
      if (!this.#abort.signal.aborted)
        logger.warn('rollups.schedule_failed', {
          tenant: context.tenant,
          source: context.source,
          error: (error as Error).message,
        });
      return undefined;
    }
  }

  async #runDue(context: RollupContext, kind: 'fresh' | 'holes', plan: SchedulePlan): Promise<void> {
    const { lastEnd, records, inputs, handled } = plan;
    const due: number[] = [];
    const limit = kind === 'fresh' ? FRESH_INTERVALS : this.#options.config.rollups.backfillPerTick;
    const newest = lastEnd - context.intervalMs;
    const stop =
      kind === 'fresh'
        ? Math.max(context.startMs, newest - (FRESH_INTERVALS - 1) * context.intervalMs)
        : context.startMs;
    for (let start = newest; start >= stop && due.length < limit; start -= context.intervalMs) {
      if (handled.has(start) || this.#isDone(context, records, start, inputs.get(start) ?? '')) continue;
      if (this.#backingOff(records, start)) continue;
      due.push(start);
    }
    for (const start of due) {
      if (this.#abort.signal.aborted) return;
      if (await this.#compute(context, start, records[0]?.get(start))) handled.add(start);
    }
  }

  /** The source's columns and the layout of each file (sniffed once per file version by the engine). */
  #sourceLayout(snapshot: DatasetSnapshot): ReturnType<LocalAggEngine['describeSnapshot']> {
    return this.#options.engine.describeSnapshot(snapshot);
  }

  /** Min and max of the time column per file, computed once per file version with a light pass. */
  async #fileRangesOf(
    snapshot: DatasetSnapshot,
    layouts: readonly FileLayout[],
    columns: readonly LocalColumn[],
    timeColumn: string,
  ): Promise<({ min: number; max: number } | null)[]> {
    const time = columns.findIndex((c) => c.name.toLowerCase() === timeColumn.toLowerCase());
    return Promise.all(
      snapshot.files.map(async (file, i) => {
        const key = `${file.path}\0${file.etag}\0${time}`;
        if (this.#fileRanges.has(key)) return this.#fileRanges.get(key) ?? null;
        const layout = layouts[i] as FileLayout;
        const plan = {
          columns,
          needed: [time],
          sets: [
            {
              dims: [],
              states: [
                { kind: 'min' as const, column: time, type: 'timestamp' as const },
                { kind: 'max' as const, column: time, type: 'timestamp' as const },
              ],
            },
          ],
        };
        let range: { min: number; max: number } | null;
        try {
          const output = await this.#options.engine.runPass(
            plan,
            [{ range: { path: file.path, start: 0, end: file.size }, layout }],
            this.#abort.signal,
          );
          const merged = new MergedGroups(plan.sets[0] as (typeof plan.sets)[0]);
          for (const partial of output.partials) merged.add(partial[0] as Parameters<MergedGroups['add']>[0]);
          const [min, max] = (merged.toPlain().states[0] ?? []) as (number | null)[];
          range = min === null || max === null || min === undefined || max === undefined ? null : { min, max };
        } catch (error) {
          if (this.#abort.signal.aborted) throw error;
          // A file whose times cannot be read overlaps every interval: its intervals fail (and say why) instead
          // of silently leaving its rows out, and the file is not read again for its index.
          range = { min: Number.NEGATIVE_INFINITY, max: Number.POSITIVE_INFINITY };
        }
        return remember(this.#fileRanges, key, range);
      }),
    );
  }

  async #putRecords(context: RollupContext, record: IntervalRecord): Promise<void> {
    await Promise.all(
      context.rollups.map((r) =>
        this.#options.ledger.putRollupInterval(
          rollupKey(context.tenant, r.name),
          record.start,
          JSON.stringify({ ...record, definition: definitionOf(r) }),
        ),
      ),
    );
  }

  /** Computes one interval of every rollup of the context; returns false when another replica holds it. */
  async #compute(context: RollupContext, start: number, previous: IntervalRecord | undefined): Promise<boolean> {
    const { ledger, storage, sink, logger } = this.#options;
    const owner = this.#options.replicaId();
    const claimKey = `${context.tenant}/${context.source}@${context.intervalMs}`;
    const ttl = this.#options.config.rollups.claimTtlSeconds * 1000;
    if (!(await ledger.claimRollupInterval(claimKey, start, owner, ttl))) return false;
    const renew = setInterval(() => {
      void ledger.claimRollupInterval(claimKey, start, owner, ttl).catch(() => undefined);
    }, ttl / 3);
    renew.unref();
    const startedAt = this.#clock();
    const began = performance.now();
    const attempts = (previous?.attempts ?? 0) + 1;
    const end = start + context.intervalMs;
    let lease: Awaited<ReturnType<Storage['acquire']>> | undefined;
    try {
      await this.#putRecords(context, { start, state: 'running', attempts, owner, startedAt });
      lease = await storage.acquire(context.tenant, context.source, this.#abort.signal);
      const { columns, layouts } = await this.#sourceLayout(lease.snapshot);
      const lead = context.rollups[0] as RollupConfig;
      const ranges = await this.#fileRangesOf(lease.snapshot, layouts, columns, lead.timeColumn);
      const work: PassWork[] = [];
      lease.snapshot.files.forEach((file, i) => {
        if (!overlaps(ranges[i], start, end)) return;
        work.push({ range: { path: file.path, start: 0, end: file.size }, layout: layouts[i] as FileLayout });
      });
      const { pass, finishes } = rollupPass(context.rollups, columns, start, end);
      const output =
        work.length > 0
          ? await this.#options.engine.runPass(pass, work, this.#abort.signal)
          : { partials: [], rows: 0 };
      let rows = 0;
      let groups = 0;
      for (const [i, rollup] of context.rollups.entries()) {
        const merged = new MergedGroups(pass.sets[i] as (typeof pass.sets)[0]);
        for (const partial of output.partials) merged.add(partial[i] as Parameters<MergedGroups['add']>[0]);
        const text = rollupLines(finishes[i] as (typeof finishes)[0], merged);
        // Written whole under a fixed name: a recomputed interval replaces the file, it never adds to it.
        await sink.put(fileKey(context.tenant, rollup.name, start), text);
        if (i === 0) {
          rows = readRollupLines(text).rows;
          groups = merged.size;
        }
      }
      const done: IntervalRecord = {
        start,
        state: 'done',
        attempts,
        inputs: this.#inputsByInterval(context, lease.snapshot, ranges, start, end).get(start) ?? '',
        rows,
        groups,
        startedAt,
        finishedAt: this.#clock(),
        durationMs: Math.round(performance.now() - began),
      };
      await this.#putRecords(context, done);
      logger.info('rollups.interval_done', {
        tenant: context.tenant,
        source: context.source,
        interval: new Date(start).toISOString(),
        rows,
        groups,
        durationMs: done.durationMs,
      });
      // The audit reads the files the interval's pass read; when none did, it reads them all.
      const overlapping = lease.snapshot.files.filter((f) => work.some((w) => w.range.path === f.path));
      const audited = overlapping.length > 0 ? { ...lease.snapshot, files: overlapping } : lease.snapshot;
      await this.#auditInterval(context, start, done, audited).catch((error: unknown) =>
        logger.warn('rollups.audit_failed', { tenant: context.tenant, error: (error as Error).message }),
      );
      return true;
    } catch (error) {
      const message = isLakegateError(error) ? error.message : (error as Error).message;
      logger.warn('rollups.interval_failed', {
        tenant: context.tenant,
        source: context.source,
        interval: new Date(start).toISOString(),
        error: message,
      });
      if (!this.#abort.signal.aborted)
        await this.#putRecords(context, {
          start,
          state: 'failed',
          attempts,
          startedAt,
          finishedAt: this.#clock(),
          error: message,
        }).catch(() => undefined);
      return true;
    } finally {
      clearInterval(renew);
      lease?.release();
      await ledger.releaseRollupInterval(claimKey, start, owner).catch(() => undefined);
    }
  }

  /**
   * Compares the stored rollup's `_rows` with DuckDB's count of the raw rows in the interval, over the files whose
   * time range overlaps it (`snapshot` holds those), read back from the sink, so a damaged file is caught.
   */
  async #auditInterval(
    context: RollupContext,
    start: number,
    record: IntervalRecord,
    snapshot: DatasetSnapshot,
  ): Promise<IntervalAudit[]> {
    const lead = context.rollups[0] as RollupConfig;
    const end = start + context.intervalMs;
    const time = quoteIdentifier(lead.timeColumn);
    // A subset of the snapshot's files is another version as far as the engine's bindings are concerned.
    const subset = createHash('sha256')
      .update(snapshot.files.map((f) => `${f.path}\0${f.etag}`).join('\n'))
      .digest('hex')
      .slice(0, 16);
    const binding: TableBinding = {
      name: context.source,
      snapshot: { ...snapshot, version: `${snapshot.version}~${subset}` },
    };
    const stream = await this.#options.engines.get(this.#options.config.rollups.auditEngine).execute(
      {
        queryId: `audit-${context.tenant}-${start}`,
        tenant: context.tenant,
        sql: `SELECT count(*) FROM ${quoteIdentifier(context.source)} WHERE ${time} >= TIMESTAMP '${timestampText(start * 1000)}' AND ${time} < TIMESTAMP '${timestampText(end * 1000)}'`,
        tables: [binding],
      },
      { signal: this.#abort.signal, timeoutMs: 300_000 },
    );
    const rawRows = Number((await collectRows(stream))[0]?.[0] ?? 0);
    const audits: IntervalAudit[] = [];
    for (const rollup of context.rollups) {
      const text = (await this.#options.sink.get(fileKey(context.tenant, rollup.name, start))) ?? '';
      let rollupRows = -1;
      try {
        rollupRows = readRollupLines(text).rows;
      } catch {
        // An unreadable file is a mismatch, reported as -1 rows.
      }
      const audit: IntervalAudit = {
        at: new Date(this.#clock()).toISOString(),
        rawRows,
        rollupRows,
        ok: rawRows === rollupRows,
      };
      if (!audit.ok)
        this.#options.logger.warn('rollups.audit_mismatch', {
          tenant: context.tenant,
          rollup: rollup.name,
          interval: new Date(start).toISOString(),
          rawRows,
          rollupRows,
        });
      // Only onto the computation audited: a backfill or recomputation in between keeps its own record.
      const current = (await this.#records(context.tenant, rollup.name)).get(start);
      if (current?.state === 'done' && current.finishedAt === record.finishedAt)
        await this.#options.ledger.putRollupInterval(
          rollupKey(context.tenant, rollup.name),
          start,
          JSON.stringify({ ...current, audit }),
        );
      audits.push(audit);
    }
    return audits;
  }

  #find(tenant: string, name: string): { context: RollupContext; rollup: RollupConfig } {
    for (const context of this.#contexts) {
      if (context.tenant !== tenant) continue;
      const rollup = context.rollups.find((r) => r.name === name);
      if (rollup) return { context, rollup };
    }
    throw new LakegateError(
      'NOT_FOUND',
      `Rollup "${name}" does not exist. Rollups: ${this.names(tenant).join(', ') || 'none'}.`,
    );
  }

  names(tenant: string): string[] {
    return this.#contexts.filter((c) => c.tenant === tenant).flatMap((c) => c.rollups.map((r) => r.name));
  }

  #range(context: RollupContext, from: string | undefined, to: string | undefined): [number, number] {
    const parse = (text: string | undefined, fallback: number, what: string): number => {
      if (text === undefined) return fallback;
      const value = Date.parse(text);
      if (Number.isNaN(value))
        throw new LakegateError('INVALID_REQUEST', `"${what}" must be an ISO 8601 time such as 2026-01-01T00:00:00Z.`);
      return value;
    };
    const fromMs = Math.floor(parse(from, context.startMs, 'from') / context.intervalMs) * context.intervalMs;
    const toMs = parse(to, this.#lastEnd(context), 'to');
    if (toMs <= fromMs) throw new LakegateError('INVALID_REQUEST', '"to" must be after "from".');
    return [fromMs, toMs];
  }

  /**
   * Marks the intervals of `[from, to)` pending, so the next ticks recompute them (newest first, after fresh
   * intervals). Returns how many intervals were marked.
   */
  async backfill(tenant: string, name: string, from: string | undefined, to: string | undefined): Promise<number> {
    const { context } = this.#find(tenant, name);
    const [requestedFrom, toMs] = this.#range(context, from, to);
    const fromMs = Math.max(requestedFrom, context.startMs);
    const lastEnd = this.#lastEnd(context);
    if ((Math.min(toMs, lastEnd) - fromMs) / context.intervalMs > MAX_BACKFILL_INTERVALS)
      throw new LakegateError(
        'INVALID_REQUEST',
        `The range holds more than ${MAX_BACKFILL_INTERVALS} intervals; backfill it in smaller ranges.`,
      );
    const records = await this.#records(tenant, (context.rollups[0] as RollupConfig).name);
    let count = 0;
    for (let start = fromMs; start + context.intervalMs <= Math.min(toMs, lastEnd); start += context.intervalMs) {
      const previous = records.get(start);
      if (previous?.state === 'running') continue;
      await this.#putRecords(context, { start, state: 'pending', attempts: previous?.attempts ?? 0 });
      count++;
    }
    if (count > 0) void this.tick().catch(() => undefined);
    return count;
  }

  /** Audits the done intervals of `[from, to)` now. */
  async audit(
    tenant: string,
    name: string,
    from: string | undefined,
    to: string | undefined,
  ): Promise<IntervalAudit[]> {
    const { context } = this.#find(tenant, name);
    const [fromMs, toMs] = this.#range(context, from, to);
    const records = await this.#records(tenant, name);
    const lease = await this.#options.storage.acquire(tenant, context.source, this.#abort.signal);
    try {
      const { columns, layouts } = await this.#sourceLayout(lease.snapshot);
      const ranges = await this.#fileRangesOf(lease.snapshot, layouts, columns, context.rollups[0]?.timeColumn ?? '');
      const audits: IntervalAudit[] = [];
      for (const record of [...records.values()].sort((a, b) => a.start - b.start)) {
        if (record.state !== 'done' || record.start < fromMs || record.start >= toMs) continue;
        const files = lease.snapshot.files.filter((_, i) =>
          overlaps(ranges[i], record.start, record.start + context.intervalMs),
        );
        const snapshot = files.length > 0 ? { ...lease.snapshot, files } : lease.snapshot;
        const results = await this.#auditInterval(context, record.start, record, snapshot);
        const index = context.rollups.findIndex((r) => r.name === name);
        audits.push(results[index] as IntervalAudit);
      }
      return audits;
    } finally {
      lease.release();
    }
  }

  /** Seconds between now and the end of the newest done interval of each rollup. */
  async lags(): Promise<{ tenant: string; rollup: string; seconds: number }[]> {
    const out: { tenant: string; rollup: string; seconds: number }[] = [];
    for (const context of this.#contexts) {
      for (const rollup of context.rollups) {
        const records = await this.#records(context.tenant, rollup.name);
        out.push({ tenant: context.tenant, rollup: rollup.name, seconds: this.#lag(context, records) });
      }
    }
    return out;
  }

  #lag(context: RollupContext, records: Map<number, IntervalRecord>): number {
    let newest = context.startMs;
    for (const record of records.values())
      if (record.state === 'done') newest = Math.max(newest, record.start + context.intervalMs);
    return Math.max(0, (this.#clock() - newest) / 1000);
  }

  /** The tenant's rollups: definition, interval counts by state, holes, lag, last audit and the intervals. */
  async describe(tenant: string, name?: string): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for (const context of this.#contexts) {
      if (context.tenant !== tenant) continue;
      for (const rollup of context.rollups) {
        if (name !== undefined && rollup.name !== name) continue;
        const records = await this.#records(tenant, rollup.name);
        const lastEnd = this.#lastEnd(context);
        const counts: Record<IntervalState | 'missing', number> = {
          pending: 0,
          running: 0,
          done: 0,
          failed: 0,
          missing: 0,
        };
        const intervals: Record<string, unknown>[] = [];
        for (let start = context.startMs; start < lastEnd; start += context.intervalMs) {
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
        out.push({
          name: rollup.name,
          source: rollup.source,
          interval: `${rollup.intervalMs / 1000}s`,
          timeColumn: rollup.timeColumn,
          dimensions: rollup.dimensions,
          measures: rollup.measures,
          from: new Date(context.startMs).toISOString(),
          to: new Date(lastEnd).toISOString(),
          lagSeconds: this.#lag(context, records),
          intervals: counts,
          holes: counts.missing + counts.pending + counts.failed,
          auditMismatches: [...records.values()].filter((r) => r.audit && !r.audit.ok).length,
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
   * Aggregate awareness: answers an aggregation of a rollup's source from the rollup when its dimensions,
   * aggregates and time range fit (see `planRollupAnswer`) and every interval of the range is done.
   */
  async tryAnswer(
    tenant: string,
    sql: string,
    snapshot: DatasetSnapshot,
    maxRows: number,
  ): Promise<RollupAnswerResult | undefined> {
    try {
      return await this.#tryAnswer(tenant, sql, snapshot, maxRows);
    } catch (error) {
      // The raw data can still answer: a rollup that cannot be read (state unreachable, file missing) steps aside.
      this.#options.logger.warn('rollups.answer_failed', { tenant, error: (error as Error).message });
      return undefined;
    }
  }

  async #tryAnswer(
    tenant: string,
    sql: string,
    snapshot: DatasetSnapshot,
    maxRows: number,
  ): Promise<RollupAnswerResult | undefined> {
    const candidates = this.#contexts.filter((c) => c.tenant === tenant && c.source === snapshot.dataset);
    if (candidates.length === 0) return undefined;
    let query: ReturnType<typeof parseLocalQuery>;
    try {
      query = parseLocalQuery(sql);
    } catch {
      return undefined;
    }
    if (query.shape !== 'aggregate') return undefined;
    let columns: readonly LocalColumn[];
    try {
      columns = (await this.#sourceLayout(snapshot)).columns;
    } catch {
      return undefined;
    }
    for (const context of candidates) {
      for (const rollup of context.rollups) {
        const plan = planRollupAnswer(rollup, query, columns);
        if ('reason' in plan) continue;
        const records = await this.#records(tenant, rollup.name);
        const from = Math.max(plan.fromMs, context.startMs);
        const groups: PlainGroups[] = [];
        let complete = plan.toMs <= this.#lastEnd(context) && plan.fromMs >= context.startMs;
        for (let start = from; complete && start < plan.toMs; start += context.intervalMs) {
          const record = records.get(start);
          const usable =
            record?.state === 'done' && record.definition === definitionOf(rollup) && record.audit?.ok !== false;
          if (!usable) complete = false;
          else groups.push(await this.#intervalGroups(tenant, rollup.name, record));
        }
        if (!complete) continue;
        return { rollup: rollup.name, result: plan.finish(groups, maxRows) };
      }
    }
    return undefined;
  }

  async #intervalGroups(tenant: string, name: string, record: IntervalRecord): Promise<PlainGroups> {
    const key = `${tenant}/${name}@${record.start}:${record.finishedAt}`;
    const cached = this.#intervals.get(key);
    if (cached) return cached;
    const text = await this.#options.sink.get(fileKey(tenant, name, record.start));
    if (text === undefined)
      throw new LakegateError('STORAGE_UNAVAILABLE', `Rollup "${name}" is missing an interval file; retry shortly.`, {
        retryAfterSeconds: 5,
      });
    return remember(this.#intervals, key, readRollupLines(text).groups);
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#abort.abort(new LakegateError('QUERY_CANCELLED', 'The gateway is shutting down.'));
    await this.#ticking?.catch(() => undefined);
  }
}
