import { collectRows, type DatasetSnapshot, type TableBinding } from '@lakegate/engine-api';
import { readRollupInterval } from '@lakegate/engine-local-agg';
import type { AuditEngine, IntervalSource, RollupLogger, RollupSink } from './dependencies.js';
import type { IntervalLedger } from './interval-ledger.js';
import type { IntervalAudit, IntervalRecord } from './interval-record.js';
import { fileKey, fingerprint, firstLate, type RollupContext } from './rollup-context.js';
import { fileVersion } from './source-index.js';

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
  /** Counts the raw rows per scope of sources that are PostgreSQL tables. */
  readonly intervalSource?: IntervalSource | undefined;
}

/**
 * The snapshot an audit of a PostgreSQL source is given: no files, as the server counts the rows scope by scope.
 */
export const noFiles = (context: RollupContext): DatasetSnapshot => ({
  tenant: context.tenant,
  dataset: context.source,
  format: 'csv',
  version: '',
  files: [],
});

/**
 * Why an interval is audited: its computation just ended (`computed`), its audit never came and a tick catches it up
 * (`caught-up`), or someone asked (`asked`, over HTTP).
 */
export type AuditReason = 'computed' | 'caught-up' | 'asked';

/** Mismatched scopes named in an audit, at most. */
const NAMED_SCOPES = 20;

/**
 * A scope as both sides write it: the server's text of the value, and the value local-agg read from the dump (a
 * number-like scope such as `007` or `1.50` comes back as a number) meet as the number's shortest text.
 */
const scopeKey = (scope: string): string => {
  const number = scope.trim() === '' ? Number.NaN : Number(scope);
  return Number.isFinite(number) ? String(number) : scope;
};

function scopeKeys(counts: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [scope, n] of counts) out.set(scopeKey(scope), (out.get(scopeKey(scope)) ?? 0) + n);
  return out;
}

/** The rows of each scope, as the interval file's reader summed them by the scope column. */
function rowsByScope(rowsBy: ReadonlyMap<unknown, number> | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const [value, n] of rowsBy ?? []) {
    const scope = value === null ? '' : scopeKey(String(value));
    out.set(scope, (out.get(scope) ?? 0) + n);
  }
  return out;
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
   *
   * A PostgreSQL source is counted on the server after the computation, in a snapshot of its own: when its rows
   * changed since they were dumped (the count's fingerprint is not the record's), a late row would be taken for
   * the rollup's mistake. Such an audit is put off (none is recorded) when the interval was just computed, or when
   * a tick catches it up while late rows may still change it: the tick's look for late rows computes it again,
   * and that computation is audited. Past `lateRowsSeconds`, and when asked, the rows as they are now are what the
   * rollup is audited against.
   */
  async audit(
    context: RollupContext,
    start: number,
    record: IntervalRecord,
    snapshot: DatasetSnapshot,
    reason: AuditReason = 'asked',
  ): Promise<IntervalAudit[]> {
    const { sink, ledger, logger, clock, intervalSource, signal } = this.#options;
    const postgres = context.rollups[0].postgres;
    // A source with scopes is compared scope by scope: rows moved from one scope to another show too.
    let rawByScope: Map<string, number> | undefined;
    if (postgres && intervalSource) {
      const counted = await intervalSource.countByScope(context, start, signal);
      const late = start >= firstLate(context, postgres.lateRowsMs, clock());
      if (counted.inputs !== record.inputs && (reason === 'computed' || (reason === 'caught-up' && late))) {
        logger.info('rollups.audit_put_off', {
          tenant: context.tenant,
          interval: new Date(start).toISOString(),
          reason: 'its rows changed since they were computed',
        });
        return [];
      }
      rawByScope = scopeKeys(counted.scopes);
    }
    const rawRows = rawByScope
      ? [...rawByScope.values()].reduce((sum, n) => sum + n, 0)
      : await this.#countRaw(context, start, snapshot);
    const audits: IntervalAudit[] = [];
    for (const rollup of context.rollups) {
      const text = (await sink.get(fileKey(context.tenant, rollup.name, start))) ?? '';
      let rollupRows = -1;
      let rowsBy: ReadonlyMap<unknown, number> | undefined;
      try {
        // Read once: its rows, and with a scope column, its rows by scope.
        ({ rows: rollupRows, rowsBy } = readRollupInterval(text, rawByScope ? postgres?.scopeColumn : undefined));
      } catch {
        // An unreadable file is a mismatch, reported as -1 rows.
      }
      let scopes: Pick<IntervalAudit, 'scopes' | 'mismatchedScopes'> = {};
      if (rawByScope && postgres) {
        // A damaged file (-1 rows) holds no scope.
        const stored = rowsByScope(rowsBy);
        const names = new Set([...rawByScope.keys(), ...stored.keys()]);
        const mismatched = [...names].filter((name) => (rawByScope.get(name) ?? 0) !== (stored.get(name) ?? 0));
        scopes = {
          scopes: names.size,
          ...(mismatched.length > 0 ? { mismatchedScopes: mismatched.sort().slice(0, NAMED_SCOPES) } : {}),
        };
      }
      const audit: IntervalAudit = {
        at: new Date(clock()).toISOString(),
        rawRows,
        rollupRows,
        ok: rawRows === rollupRows && scopes.mismatchedScopes === undefined,
        ...scopes,
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
      const current = await ledger.record(context.tenant, rollup.name, start);
      if (current?.state === 'done' && current.finishedAt === record.finishedAt) {
        const recompute = !audit.ok && (current.auditRecomputes ?? 0) < 1;
        // A mismatch is computed again once (the next tick takes it); a second one stays, recorded and counted.
        await ledger.put(
          context.tenant,
          rollup.name,
          recompute
            ? {
                ...current,
                audit,
                state: 'failed',
                auditRecomputes: (current.auditRecomputes ?? 0) + 1,
                finishedAt: clock(),
                error: `The count audit found ${rawRows} raw rows and ${rollupRows} in the rollup; computing it again.`,
              }
            : { ...current, audit },
        );
      }
      audits.push(audit);
    }
    return audits;
  }

  /** The raw rows of `[start, start + interval)` in `snapshot`, by the audit engine, within its limits. */
  async #countRaw(context: RollupContext, start: number, snapshot: DatasetSnapshot): Promise<number> {
    const { engine, signal, timeoutMs } = this.#options;
    const time = quote(context.rollups[0].timeColumn);
    // A subset of the snapshot's files is another version as far as the engine's bindings are concerned.
    const subset = fingerprint(snapshot.files.map(fileVersion).join('\n'));
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
