import { setMaxListeners } from 'node:events';
import { LakegateError } from '@lakegate/engine-api';
import { CountAudit } from './count-audit.js';
import type {
  AuditEngine,
  ComputeEngine,
  IntervalSource,
  PostgresSink,
  RollupLogger,
  RollupSink,
  RollupSources,
} from './dependencies.js';
import { IntervalComputation } from './interval-computation.js';
import { IntervalLedger } from './interval-ledger.js';
import { RecentTraffic } from './recent-traffic.js';
import { RollupAdmin } from './rollup-admin.js';
import { RollupAnswerer } from './rollup-answerer.js';
import { groupContexts, type RollupSpec } from './rollup-context.js';
import type { RollupLedger } from './rollup-ledger.js';
import { RollupScheduler } from './rollup-scheduler.js';
import { SourceHealth } from './source-health.js';
import { SourceIndex } from './source-index.js';

export interface RollupSettings {
  /** How often each replica looks for intervals to compute. */
  readonly tickSeconds: number;
  /** Holes (missed intervals) filled per context and tick, after the fresh intervals. */
  readonly backfillPerTick: number;
  /** How far back a rollup without `startAtMs` begins. */
  readonly backfillHours: number;
  /** A claimed interval is free again after this long without its replica (crash recovery). */
  readonly claimTtlSeconds: number;
  /** The time limit of an answer from rollups and of an audit's count, as of a query. */
  readonly queryTimeoutMs: number;
  /** Contexts a tick works on at once (reading their state, computing their intervals); default 4. */
  readonly concurrency?: number;
}

export interface RollupsOptions {
  /** Each tenant's rollups. */
  readonly tenants: Readonly<Record<string, readonly RollupSpec[]>>;
  readonly settings: RollupSettings;
  /** Interval records, and claims so that one replica computes each interval. */
  readonly ledger: RollupLedger;
  readonly sources: RollupSources;
  /** Interval files go to `<tenant>/<rollup>/<interval start>.ndjson`. */
  readonly sink: RollupSink;
  /** Computes intervals and answers from them. */
  readonly computeEngine: ComputeEngine;
  /** Counts raw rows for the audit. */
  readonly auditEngine: AuditEngine;
  readonly logger: RollupLogger;
  readonly replicaId: () => string;
  readonly clock?: () => number;
  /** Sources that are PostgreSQL tables (rollups with `postgres`), and their sink tables; closed with the rollups. */
  readonly postgres?: (IntervalSource & PostgresSink) | undefined;
}

/** An interval's pass reads at most a few files; an hour means it is stuck, not slow. */
const COMPUTE_TIMEOUT_MS = 3_600_000;

/**
 * Interval rollups, assembled from one part per concern: the scheduler (which intervals are due), the computation
 * of one interval (claims, the pass, the files, the records), the count audit, the answerer (aggregate awareness)
 * and the admin (what operators see and do). They share the tenants' contexts, the ledger and one closing signal.
 *
 * @example
 * const rollups = new Rollups({ tenants, settings, ledger, sources, sink, computeEngine, auditEngine, logger, replicaId });
 * rollups.start();
 * const answer = await rollups.answerer.tryAnswer('acme', sql, snapshot, 1000);
 */
export class Rollups {
  /** Answers queries from the rollups; query lifecycles call it. */
  readonly answerer: RollupAnswerer;
  /** Lists, backfills and audits rollups; the HTTP routes and metrics call it. */
  readonly admin: RollupAdmin;
  readonly #scheduler: RollupScheduler;
  readonly #abort = new AbortController();
  readonly #postgres: IntervalSource | undefined;

  constructor(options: RollupsOptions) {
    const { settings, sources, sink, computeEngine: engine, logger } = options;
    const clock = options.clock ?? Date.now;
    const contexts = groupContexts(options.tenants, clock() - settings.backfillHours * 3_600_000);
    const signal = this.#abort.signal;
    // Every pass, lease and count of every context listens to this one signal.
    setMaxListeners(0, signal);
    const ledger = new IntervalLedger(options.ledger, clock);
    const index = new SourceIndex();
    const traffic = new RecentTraffic(clock);
    const timeoutMs = settings.queryTimeoutMs;
    const intervalSource = options.postgres;
    const health = new SourceHealth();
    this.#postgres = intervalSource;
    const audit = new CountAudit({
      engine: options.auditEngine,
      sink,
      ledger,
      logger,
      clock,
      timeoutMs,
      signal,
      intervalSource,
    });
    const computation = new IntervalComputation({
      ledger,
      sources,
      sink,
      engine,
      index,
      audit,
      logger,
      clock,
      replicaId: options.replicaId,
      claimTtlMs: settings.claimTtlSeconds * 1000,
      timeoutMs: COMPUTE_TIMEOUT_MS,
      signal,
      intervalSource,
      postgresSink: options.postgres,
    });
    this.#scheduler = new RollupScheduler({
      contexts,
      ledger,
      sources,
      engine,
      index,
      computation,
      traffic,
      logger,
      clock,
      tickMs: settings.tickSeconds * 1000,
      backfillPerTick: settings.backfillPerTick,
      concurrency: settings.concurrency ?? 4,
      timeoutMs: COMPUTE_TIMEOUT_MS,
      signal,
      intervalSource,
      health,
    });
    this.answerer = new RollupAnswerer({ contexts, ledger, sink, engine, traffic, logger, clock, timeoutMs, signal });
    this.admin = new RollupAdmin({
      contexts,
      ledger,
      sources,
      engine,
      index,
      audit,
      clock,
      health,
      poke: () => void this.tick().catch(() => undefined),
      timeoutMs: COMPUTE_TIMEOUT_MS,
      signal,
    });
  }

  /** Starts the schedule: one tick now, then one every `settings.tickSeconds`. */
  start(): void {
    this.#scheduler.start();
  }

  /** One round of scheduling; concurrent calls share the round under way. */
  tick(): Promise<void> {
    return this.#scheduler.tick();
  }

  /** Stops the schedule and cancels the work under way (passes, counts, answers). */
  async close(): Promise<void> {
    this.#abort.abort(new LakegateError('QUERY_CANCELLED', 'The gateway is shutting down.'));
    await this.#scheduler.stop();
    await this.#postgres?.close();
  }
}
