import { collectRows, type DatasetSnapshot, type TableBinding } from '@lakegate/engine-api';
import { readRollupInterval } from '@lakegate/engine-local-agg';
import type { AuditEngine, RollupLogger, RollupSink } from './dependencies.js';
import type { IntervalLedger } from './interval-ledger.js';
import type { IntervalAudit, IntervalRecord } from './interval-record.js';
import { fileKey, fingerprint, type RollupContext } from './rollup-context.js';

export interface CountAuditOptions {
  /** Counts the raw rows: configured (`rollups.auditEngine`), another engine than the one that computed them. */
  readonly engine: AuditEngine;
  readonly sink: RollupSink;
  readonly ledger: IntervalLedger;
  readonly logger: RollupLogger;
  readonly clock: () => number;
  readonly timeoutMs: number;
  /** Aborts audits under way when the rollups close. */
  readonly signal: AbortSignal;
}

const quote = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** A TIMESTAMP literal of milliseconds since 1970, in UTC. */
const timestamp = (ms: number): string =>
  `TIMESTAMP '${new Date(ms).toISOString().replace('T', ' ').replace('.000Z', '').replace('Z', '')}'`;

/**
 * The count audit: the audit engine's count of an interval's raw rows against the sum of `_rows` in each rollup's
 * file as read back from the sink, so that a lost row, a row counted twice or a damaged file shows.
 */
export class CountAudit {
  readonly #options: CountAuditOptions;

  constructor(options: CountAuditOptions) {
    this.#options = options;
  }

  /**
   * Audits the interval of every rollup of the context over `snapshot` (the files that overlap it), and records
   * each audit on its interval record if the record is still the computation audited (`record.finishedAt`).
   */
  async audit(
    context: RollupContext,
    start: number,
    record: IntervalRecord,
    snapshot: DatasetSnapshot,
  ): Promise<IntervalAudit[]> {
    const { sink, ledger, logger, clock } = this.#options;
    const rawRows = await this.#countRaw(context, start, snapshot);
    const audits: IntervalAudit[] = [];
    for (const rollup of context.rollups) {
      const text = (await sink.get(fileKey(context.tenant, rollup.name, start))) ?? '';
      let rollupRows = -1;
      try {
        rollupRows = readRollupInterval(text).rows;
      } catch {
        // An unreadable file is a mismatch, reported as -1 rows.
      }
      const audit: IntervalAudit = {
        at: new Date(clock()).toISOString(),
        rawRows,
        rollupRows,
        ok: rawRows === rollupRows,
      };
      if (!audit.ok)
        logger.warn('rollups.audit_mismatch', {
          tenant: context.tenant,
          rollup: rollup.name,
          interval: new Date(start).toISOString(),
          rawRows,
          rollupRows,
        });
      // Only onto the computation audited: a backfill or recomputation in between keeps its own record.
      const current = (await ledger.records(context.tenant, rollup.name)).get(start);
      if (current?.state === 'done' && current.finishedAt === record.finishedAt)
        await ledger.put(context.tenant, rollup.name, { ...current, audit });
      audits.push(audit);
    }
    return audits;
  }

  /** The raw rows of `[start, start + interval)` in `snapshot`, by the audit engine, within its limits. */
  async #countRaw(context: RollupContext, start: number, snapshot: DatasetSnapshot): Promise<number> {
    const { engine, signal, timeoutMs } = this.#options;
    const time = quote(context.rollups[0].timeColumn);
    // A subset of the snapshot's files is another version as far as the engine's bindings are concerned.
    const subset = fingerprint(snapshot.files.map((f) => `${f.path}\0${f.etag}`).join('\n'));
    const binding: TableBinding = {
      name: context.source,
      snapshot: { ...snapshot, version: `${snapshot.version}~${subset}` },
    };
    const stream = await engine.execute(
      {
        queryId: `audit-${context.tenant}-${start}`,
        tenant: context.tenant,
        sql: `SELECT count(*) FROM ${quote(context.source)} WHERE ${time} >= ${timestamp(start)} AND ${time} < ${timestamp(start + context.intervalMs)}`,
        tables: [binding],
      },
      { signal, timeoutMs },
    );
    return Number((await collectRows(stream))[0]?.[0] ?? 0);
  }
}
