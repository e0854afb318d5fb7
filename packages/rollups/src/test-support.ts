import { columnsStream, type DatasetSnapshot, type QueryRequest } from '@lakegate/engine-api';
import type { RollupComputer, TimeSpan } from '@lakegate/engine-local-agg';
import type {
  AuditEngine,
  ComputeEngine,
  IntervalDump,
  IntervalSource,
  PostgresSink,
  RollupLogger,
  RollupSink,
  RollupSources,
  ScopeCounts,
} from './dependencies.js';
import { intervalStarts, type RollupContext, type RollupSpec } from './rollup-context.js';
import type { RollupLedger } from './rollup-ledger.js';
import { type RollupSettings, Rollups } from './rollups.js';

/** For benches that read many things a few at a time, as the rollups do. */
export { eachAtOnce } from './each-at-once.js';

export const MINUTE = 60_000;
/** A Monday, 10:00 UTC: intervals of every length start on it. */
export const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);

/** The rollups' settings in the tests: every hole filled in one tick. */
export const TEST_SETTINGS: RollupSettings = {
  tickSeconds: 15,
  backfillPerTick: 100,
  backfillHours: 24,
  claimTtlSeconds: 60,
  queryTimeoutMs: 10_000,
};

/** A five-minute rollup of `traffic` by host. */
export const trafficRollup = (overrides: Partial<RollupSpec> = {}): RollupSpec => ({
  name: 'traffic_5m',
  source: 'traffic',
  intervalMs: 5 * MINUTE,
  timeColumn: 'ts',
  dimensions: ['host'],
  derived: {},
  measures: { n: 'count(*)' },
  startAtMs: T0,
  delayMs: 0,
  ...overrides,
});

/** A ledger that passes every call on to `ledger`, except those `overrides` answers (to count or hold them). */
export function ledgerWith(ledger: RollupLedger, overrides: Partial<RollupLedger>): RollupLedger {
  return {
    rollupIntervals: (rollup) => ledger.rollupIntervals(rollup),
    rollupIntervalsAt: (rollup, starts) => ledger.rollupIntervalsAt(rollup, starts),
    putRollupInterval: (rollup, start, record) => ledger.putRollupInterval(rollup, start, record),
    rollupChanges: (rollup, since) => ledger.rollupChanges(rollup, since),
    claimRollupInterval: (rollup, start, owner, ttlMs) => ledger.claimRollupInterval(rollup, start, owner, ttlMs),
    releaseRollupInterval: (rollup, start, owner) => ledger.releaseRollupInterval(rollup, start, owner),
    ...overrides,
  };
}

/** `ledger`, counting in `reads.whole` the reads of a rollup's whole history. */
export function countingWholeReads(ledger: RollupLedger): { ledger: RollupLedger; reads: { whole: number } } {
  const reads = { whole: 0 };
  const counting = ledgerWith(ledger, {
    rollupIntervals: (rollup) => {
      reads.whole++;
      return ledger.rollupIntervals(rollup);
    },
  });
  return { ledger: counting, reads };
}

/** {@link trafficRollup} over a table (a PostgreSQL source) whose late rows come within `lateRowsMs`. */
export const tableRollup = (lateRowsMs: number, overrides: Partial<RollupSpec> = {}): RollupSpec =>
  trafficRollup({
    postgres: { url: undefined, table: 'traffic', timeColumn: 'ts', scopeColumn: 'host', lateRowsMs },
    ...overrides,
  });

/**
 * A table source in memory, for the scheduler's side of a PostgreSQL source: each interval has no rows, and the
 * fingerprint `prints` holds for it (`rows-0` when none); setting one stands for late rows. Counts its dumps and
 * the fingerprints asked for.
 */
export class EmptyTable implements IntervalSource, PostgresSink {
  readonly prints = new Map<number, string>();
  /** The fingerprint of the rows a count finds, where it is not `prints`' (rows changed since a dump). */
  readonly countedPrints = new Map<number, string>();
  readonly dumped: number[] = [];
  fingerprinted = 0;

  async fingerprints(context: RollupContext, fromMs: number, toMs: number): Promise<Map<number, string>> {
    const starts = intervalStarts(context, fromMs, toMs);
    this.fingerprinted += starts.length;
    return new Map(starts.map((start) => [start, this.#printOf(start)]));
  }

  async dump(context: RollupContext, start: number): Promise<IntervalDump> {
    this.dumped.push(start);
    return {
      snapshot: { tenant: context.tenant, dataset: context.source, format: 'csv', version: `dump-${start}`, files: [] },
      inputs: this.#printOf(start),
      release: async () => {},
    };
  }

  async countByScope(_context: RollupContext, start: number): Promise<ScopeCounts> {
    return { scopes: new Map(), inputs: this.countedPrints.get(start) ?? this.#printOf(start) };
  }

  async load(): Promise<void> {}

  async close(): Promise<void> {}

  #printOf(start: number): string {
    return this.prints.get(start) ?? 'rows-0';
  }
}

/**
 * One tenant's `rollup` of `table`, its passes done by a stand-in computer that answers at once (the table's
 * intervals have no rows), on `ledger` as replica `replicaId` with its clock reading `clock()`.
 */
export function rollupsOverTable(
  table: EmptyTable,
  rollup: RollupSpec,
  options: { ledger: RollupLedger; clock: () => number; replicaId: string; settings?: RollupSettings },
): Rollups {
  return new Rollups({
    tenants: { acme: [rollup] },
    settings: options.settings ?? TEST_SETTINGS,
    ledger: options.ledger,
    sources: new FixedSources([]),
    sink: new MemorySink(),
    computeEngine: directEngine(new FakeComputer({}, () => 0)),
    auditEngine: countingAuditEngine(() => 0),
    postgres: table,
    logger: recordingLogger(),
    replicaId: () => options.replicaId,
    clock: options.clock,
  });
}

/** A sink in memory. */
export class MemorySink implements RollupSink {
  readonly files = new Map<string, string>();
  async put(key: string, body: string): Promise<void> {
    this.files.set(key, body);
  }
  async get(key: string): Promise<string | undefined> {
    return this.files.get(key);
  }
}

/** Sources that lease one fixed snapshot per dataset and count what is still leased. */
export class FixedSources implements RollupSources {
  leased = 0;
  readonly refreshed: string[] = [];
  readonly #snapshots: ReadonlyMap<string, DatasetSnapshot>;

  constructor(snapshots: readonly DatasetSnapshot[]) {
    this.#snapshots = new Map(snapshots.map((s) => [`${s.tenant}/${s.dataset}`, s]));
  }

  async acquire(tenant: string, dataset: string): Promise<{ snapshot: DatasetSnapshot; release(): void }> {
    const snapshot = this.#snapshots.get(`${tenant}/${dataset}`);
    if (!snapshot) throw new Error(`no dataset ${tenant}/${dataset}`);
    this.leased++;
    return { snapshot, release: () => this.leased-- };
  }

  async refresh(tenant: string, dataset: string): Promise<void> {
    this.refreshed.push(`${tenant}/${dataset}`);
  }
}

/** A snapshot of files named by path, with etag `v1`. */
export const snapshotOf = (tenant: string, dataset: string, paths: readonly string[]): DatasetSnapshot => ({
  tenant,
  dataset,
  format: 'csv',
  version: paths.join(','),
  files: paths.map((path) => ({ path, size: 100, etag: 'v1' })),
});

/** An interval file of `rows` raw rows in one group, as local-agg writes them. */
export const intervalText = (rows: number): string =>
  rows === 0 ? '' : `${JSON.stringify({ _rows: rows, _state: JSON.stringify({ k: [0], s: [rows] }) })}\n`;

/**
 * A rollup computer whose files hold `rows(start)` raw rows and whose spans are given by path; it records every
 * interval it computes and takes `passMs` for each.
 */
export class FakeComputer implements RollupComputer {
  readonly computed: number[] = [];
  readonly #spans: ReadonlyMap<string, TimeSpan | null>;
  readonly #rows: (start: number) => number;
  readonly #passMs: number;

  constructor(spans: Record<string, TimeSpan | null>, rows: (start: number) => number, passMs = 0) {
    this.#spans = new Map(Object.entries(spans));
    this.#rows = rows;
    this.#passMs = passMs;
  }

  async rollupTimeSpans(snapshot: DatasetSnapshot): Promise<(TimeSpan | null)[]> {
    return snapshot.files.map((f) => this.#spans.get(f.path) ?? null);
  }

  async computeRollupInterval(request: Parameters<RollupComputer['computeRollupInterval']>[0]) {
    this.computed.push(request.startMs);
    await new Promise((resolve) => setTimeout(resolve, this.#passMs));
    const rows = this.#rows(request.startMs);
    return request.definitions.map(() => ({ text: intervalText(rows), rows, groups: rows > 0 ? 1 : 0 }));
  }

  async planRollupAnswers(): Promise<{ reason: string }[]> {
    throw new Error('not planned by the fake');
  }
}

/** A compute engine that runs work on `computer` directly, counting the runs. */
export function directEngine(computer: RollupComputer, id = 'computer'): ComputeEngine & { runs: number } {
  const engine = {
    id,
    runs: 0,
    run<R>(work: (c: RollupComputer, signal: AbortSignal) => Promise<R>, limits: { signal: AbortSignal }): Promise<R> {
      engine.runs++;
      return work(computer, limits.signal);
    },
  };
  return engine;
}

/** An audit engine that answers every count with `count(request)` and keeps the requests. */
export function countingAuditEngine(
  count: (request: QueryRequest) => number,
): AuditEngine & { requests: QueryRequest[] } {
  const requests: QueryRequest[] = [];
  return {
    id: 'counter',
    requests,
    async execute(request) {
      requests.push(request);
      return columnsStream([{ name: 'count_star()', type: { kind: 'bigint', sqlType: 'BIGINT' } }], {
        columns: [[BigInt(count(request))]],
        rowCount: 1,
      });
    },
  };
}

/** A logger that keeps its events. */
export function recordingLogger(): RollupLogger & { events: { event: string; fields?: unknown }[] } {
  const events: { event: string; fields?: unknown }[] = [];
  return {
    events,
    info: (event, fields) => events.push({ event, fields }),
    warn: (event, fields) => events.push({ event, fields }),
  };
}
