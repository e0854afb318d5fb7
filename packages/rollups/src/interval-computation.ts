import { type DatasetSnapshot, isLakegateError } from '@lakegate/engine-api';
import { type CountAudit, noFiles } from './count-audit.js';
import type {
  ComputeEngine,
  IntervalSource,
  PostgresSink,
  RollupLogger,
  RollupSink,
  RollupSources,
  SourceLease,
} from './dependencies.js';
import { isDone } from './due-intervals.js';
import type { IntervalClaim, IntervalLedger } from './interval-ledger.js';
import type { IntervalRecord } from './interval-record.js';
import { fileKey, type RollupContext } from './rollup-context.js';
import { SourceIndex } from './source-index.js';

export interface IntervalComputationOptions {
  readonly ledger: IntervalLedger;
  readonly sources: RollupSources;
  readonly sink: RollupSink;
  readonly engine: ComputeEngine;
  readonly index: SourceIndex;
  readonly audit: CountAudit;
  readonly logger: RollupLogger;
  readonly clock: () => number;
  /** This replica's name in claims and records. */
  readonly replicaId: () => string;
  /** A claim not renewed for this long lapses (its replica crashed). */
  readonly claimTtlMs: number;
  /** The time limit of one interval's pass. */
  readonly timeoutMs: number;
  /** Aborts the computation under way when the rollups close. */
  readonly signal: AbortSignal;
  /** Dumps the intervals of contexts whose source is a PostgreSQL table. */
  readonly intervalSource?: IntervalSource | undefined;
  /** Loads the rollups that have a PostgreSQL sink. */
  readonly postgresSink?: PostgresSink | undefined;
}

/**
 * The computation of one interval of a context: claimed in the ledger (one replica computes it), recorded as
 * running, computed in one pass over the source files that overlap it on the compute engine, written to the sink
 * under a fixed name (so a recomputation after a crash replaces, never adds), recorded as done, and audited.
 */
export class IntervalComputation {
  readonly #options: IntervalComputationOptions;

  constructor(options: IntervalComputationOptions) {
    this.#options = options;
  }

  /**
   * Computes the interval at `start`, unless it is done with `inputs` (the fingerprint of its files when it was
   * found due) by the time it is claimed. False when another replica holds it; true once done or failed.
   */
  async run(context: RollupContext, start: number, inputs: string): Promise<boolean> {
    const { ledger, sources, logger, clock, signal } = this.#options;
    const owner = this.#options.replicaId();
    const claim = await this.#claim(context, start, owner);
    if (!claim) return false;
    // A claim lost midway (the ledger unreachable for its TTL, or another owner's since) stops the work: another
    // replica computes the interval, and this one must not write over it.
    // (Listeners forwarding to one controller, removed at the end: AbortSignal.any would tie a signal per interval
    // to the rollups' long-lived one.)
    const stop = new AbortController();
    const working = stop.signal;
    const forward = (from: AbortSignal) => (): void => stop.abort(from.reason);
    const stopOnClose = forward(signal);
    const stopOnLoss = forward(claim.lost);
    if (signal.aborted) stopOnClose();
    else signal.addEventListener('abort', stopOnClose, { once: true });
    if (claim.lost.aborted) stopOnLoss();
    else claim.lost.addEventListener('abort', stopOnLoss, { once: true });
    const startedAt = clock();
    const began = performance.now();
    let attempts = 1;
    let lease: SourceLease | undefined;
    // Computed again after an audit of any of the context's rollups: never more than once. Every record this run
    // writes keeps the count, so that a recomputation that fails does not earn the interval another.
    let recomputed: Pick<IntervalRecord, 'auditRecomputes'> = {};
    try {
      // Read again under the claim: another replica may have computed it since it was found due.
      const records = await ledger.recordsAt(context, start);
      if (isDone(context, records, start, inputs)) return true;
      attempts = (records[0]?.get(start)?.attempts ?? 0) + 1;
      const auditRecomputes = Math.max(0, ...records.map((r) => r.get(start)?.auditRecomputes ?? 0)) || undefined;
      if (auditRecomputes) recomputed = { auditRecomputes };
      await ledger.putForContext(context, { start, state: 'running', attempts, owner, startedAt, ...recomputed });
      let dumped: string | undefined;
      const { intervalSource } = this.#options;
      const reading = performance.now();
      if (context.rollups[0].postgres && intervalSource) {
        // The interval's rows, dumped from the server: the pass reads those files only.
        const dump = await intervalSource.dump(context, start, working);
        dumped = dump.inputs;
        lease = { snapshot: dump.snapshot, release: () => void dump.release().catch(() => undefined) };
      } else {
        lease = await sources.acquire(context.tenant, context.source, working);
      }
      const readMs = Math.round(performance.now() - reading);
      const { done, read, passMs, storeMs } = await this.#compute(context, start, lease, working, {
        attempts,
        startedAt,
        began,
        dumped,
        auditRecomputes,
      });
      logger.info('rollups.interval_done', {
        tenant: context.tenant,
        source: context.source,
        interval: new Date(start).toISOString(),
        rows: done.rows,
        groups: done.groups,
        durationMs: done.durationMs,
        // Where the time went: leasing the source's files (or dumping the interval), the pass, the stores.
        readMs,
        passMs,
        storeMs,
      });
      // The audit reads the files the interval's pass read; when none did, it reads them all.
      await this.#options.audit
        .audit(context, start, done, read.files.length > 0 ? read : lease.snapshot, 'computed')
        .catch((error: unknown) =>
          logger.warn('rollups.audit_failed', {
            tenant: context.tenant,
            interval: new Date(start).toISOString(),
            error: (error as Error).message,
          }),
        );
      return true;
    } catch (error) {
      if (claim.lost.aborted && !signal.aborted) {
        // Not a failure of the interval: its claim went elsewhere, and with it the interval's record.
        logger.warn('rollups.claim_lost', {
          tenant: context.tenant,
          source: context.source,
          interval: new Date(start).toISOString(),
          error: (claim.lost.reason as Error).message,
        });
        return true;
      }
      const message = isLakegateError(error) ? error.message : (error as Error).message;
      logger.warn('rollups.interval_failed', {
        tenant: context.tenant,
        source: context.source,
        interval: new Date(start).toISOString(),
        error: message,
      });
      if (!signal.aborted)
        await ledger
          .putForContext(context, {
            start,
            state: 'failed',
            attempts,
            startedAt,
            finishedAt: clock(),
            error: message,
            ...recomputed,
          })
          .catch(() => undefined);
      return true;
    } finally {
      signal.removeEventListener('abort', stopOnClose);
      claim.lost.removeEventListener('abort', stopOnLoss);
      lease?.release();
      await claim.release();
    }
  }

  /**
   * Audits an interval recorded done whose audit never came: the process stopped between the two. Under the
   * interval's claim, so that no replica computes or audits it at the same time; false when another holds it.
   */
  async auditLeft(context: RollupContext, start: number): Promise<boolean> {
    const { ledger, sources, audit, logger, signal, engine, index, timeoutMs } = this.#options;
    const claim = await this.#claim(context, start, this.#options.replicaId());
    if (!claim) return false;
    let lease: SourceLease | undefined;
    try {
      const record = await ledger.record(context.tenant, context.rollups[0].name, start);
      if (record?.state !== 'done' || record.audit !== undefined) return true;
      let audits: unknown[];
      if (context.rollups[0].postgres) {
        audits = await audit.audit(context, start, record, noFiles(context), 'caught-up');
      } else {
        // Over the files that overlap the interval, as every other audit: not the whole source again.
        lease = await sources.acquire(context.tenant, context.source, signal);
        const { snapshot } = lease;
        const spans = await index.spans(engine, snapshot, context.rollups[0].timeColumn, { signal, timeoutMs });
        audits = await audit.audit(
          context,
          start,
          record,
          SourceIndex.forAudit(snapshot, spans, start, start + context.intervalMs),
          'caught-up',
        );
      }
      // (None when put off: see CountAudit.)
      if (audits.length > 0)
        logger.info('rollups.audit_caught_up', { tenant: context.tenant, interval: new Date(start).toISOString() });
      return true;
    } catch (error) {
      logger.warn('rollups.audit_failed', {
        tenant: context.tenant,
        interval: new Date(start).toISOString(),
        error: (error as Error).message,
      });
      return true;
    } finally {
      lease?.release();
      await claim.release();
    }
  }

  /**
   * Claims the interval; undefined when another replica holds it, or when the ledger could not be asked (logged):
   * one interval's failed claim is not the tick's failure, which would leave every context after it for the next.
   */
  async #claim(context: RollupContext, start: number, owner: string): Promise<IntervalClaim | undefined> {
    try {
      return await this.#options.ledger.claim(context, start, owner, this.#options.claimTtlMs);
    } catch (error) {
      this.#options.logger.warn('rollups.claim_failed', {
        tenant: context.tenant,
        source: context.source,
        interval: new Date(start).toISOString(),
        error: (error as Error).message,
      });
      return undefined;
    }
  }

  /** The pass, the files and the done record; also the files the pass read. */
  async #compute(
    context: RollupContext,
    start: number,
    lease: SourceLease,
    signal: AbortSignal,
    attempt: {
      attempts: number;
      startedAt: number;
      began: number;
      dumped?: string | undefined;
      auditRecomputes?: number | undefined;
    },
  ): Promise<{ done: IntervalRecord; read: DatasetSnapshot; passMs: number; storeMs: number }> {
    const { engine, index, sink, ledger, clock, timeoutMs, postgresSink } = this.#options;
    const end = start + context.intervalMs;
    const { snapshot } = lease;
    const dumped = attempt.dumped !== undefined;
    const passing = performance.now();
    // A dumped interval without rows has no file to read: its rollups are empty.
    const nothing = dumped && snapshot.files.length === 0;
    const { files, spans } = nothing
      ? { files: context.rollups.map(() => ({ text: '', rows: 0, groups: 0 })), spans: [] }
      : await engine.run(
          async (computer, engineSignal) => {
            // A dump holds the interval's rows only; a dataset's files are those whose times overlap it.
            const spans = dumped
              ? []
              : await index.spansWith(computer, snapshot, context.rollups[0].timeColumn, engineSignal);
            const read = dumped
              ? snapshot.files.map((f) => f.path)
              : SourceIndex.overlapping(snapshot, spans, start, end).files.map((f) => f.path);
            // A dump's rows are all in the interval, and it may leave out the time column (see PostgresRollups).
            const request = {
              definitions: context.rollups,
              snapshot,
              read,
              startMs: start,
              endMs: end,
              rowsWithin: dumped,
            };
            return { files: await computer.computeRollupInterval(request, engineSignal), spans };
          },
          { signal, timeoutMs },
        );
    const storing = performance.now();
    for (const [i, rollup] of context.rollups.entries()) {
      signal.throwIfAborted();
      // Written whole under a fixed name: a recomputed interval replaces the file, it never adds to it.
      await sink.put(fileKey(context.tenant, rollup.name, start), files[i]?.text ?? '');
      // In one transaction that replaces the interval's rows: a retry never doubles them.
      if (rollup.sink && postgresSink)
        await postgresSink.load(rollup.sink, rollup, start, files[i]?.text ?? '', signal);
    }
    const done: IntervalRecord = {
      start,
      state: 'done',
      attempts: attempt.attempts,
      inputs: dumped
        ? (attempt.dumped as string)
        : (SourceIndex.inputsByInterval(context, snapshot, spans, start, end).get(start) ?? ''),
      ...(attempt.auditRecomputes ? { auditRecomputes: attempt.auditRecomputes } : {}),
      rows: files[0]?.rows ?? 0,
      groups: files[0]?.groups ?? 0,
      startedAt: attempt.startedAt,
      finishedAt: clock(),
      durationMs: Math.round(performance.now() - attempt.began),
    };
    signal.throwIfAborted();
    await ledger.putForContext(context, done);
    return {
      done,
      read: dumped ? snapshot : SourceIndex.overlapping(snapshot, spans, start, end),
      passMs: Math.round(storing - passing),
      storeMs: Math.round(performance.now() - storing),
    };
  }
}
