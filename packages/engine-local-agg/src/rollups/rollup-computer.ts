import { setMaxListeners } from 'node:events';
import type { DatasetSnapshot, Schema } from '@lakegate/engine-api';
import { MergedGroups } from '../exec/merge-groups.js';
import type { GroupingSetPlan, PartialGroups, PassPlan, PlainGroups } from '../exec/plan.js';
import type { PassWork } from '../exec/worker-pool.js';
import { parseLocalQuery } from '../query/parse-query.js';
import type { FileLayout } from '../table/file-layout.js';
import type { LocalColumn } from '../table/local-types.js';
import { planRollupAnswer, type RollupDefinition, readRollupLines, rollupLines, rollupPass } from './rollup-plan.js';

/** Earliest and latest time of a file's rows, in milliseconds since 1970 (both inclusive). */
export interface TimeSpan {
  readonly minMs: number;
  readonly maxMs: number;
}

/** One interval of rollups that read the same source, to compute in one pass. */
export interface RollupIntervalRequest {
  /** The rollups, all of one source and interval. */
  readonly definitions: readonly RollupDefinition[];
  /** The source: its columns are those of all its files. */
  readonly snapshot: DatasetSnapshot;
  /** Paths of the files to read: those whose time span overlaps the interval (rows outside it are skipped anyway). */
  readonly read: readonly string[];
  readonly startMs: number;
  readonly endMs: number;
  /**
   * Every row of the files is in the interval (a dump of it): none is tested, and the files may leave out the time
   * column when the rollups read it only for their bucket (see {@link rollupPass}).
   */
  readonly rowsWithin?: boolean;
}

/** One rollup's interval as computed: the file to store, and the figures its interval record keeps. */
export interface IntervalFile {
  /** NDJSON, one line per group: `bucket`, the dimensions, `_rows`, the measures and `_state`. */
  readonly text: string;
  /** Raw rows of the interval: the sum of `_rows`. */
  readonly rows: number;
  readonly groups: number;
}

declare const intervalGroups: unique symbol;

/** An interval's groups with their mergeable states, as {@link readRollupInterval} reads them from its file. */
export interface IntervalGroups {
  readonly [intervalGroups]: true;
}

/** What an interval file holds, read back. */
export interface StoredInterval {
  readonly groups: IntervalGroups;
  /** The sum of `_rows` (what a count audit compares with the raw rows). */
  readonly rows: number;
  /** The sum of `_rows` by the values of the column asked for (NULL as null). */
  readonly rowsBy?: ReadonlyMap<unknown, number>;
}

/** A query's result computed from stored intervals. */
export interface RollupResult {
  readonly schema: Schema;
  readonly columns: readonly (readonly unknown[])[];
  readonly rowCount: number;
}

/** How one rollup answers a query: the intervals it needs, and how their groups become the result. */
export interface RollupAnswer {
  /** The query's time range, `[fromMs, toMs)`, on interval boundaries: every interval in it is needed. */
  readonly fromMs: number;
  readonly toMs: number;
  /** Merges the intervals' groups into the query's groups and computes its result. */
  finish(intervals: readonly IntervalGroups[], maxRows: number): RollupResult;
}

/** Why a rollup does not answer a query (`another dataset`, `a dimension the rollup does not keep`, ...). */
export interface RollupDecline {
  readonly reason: string;
}

/**
 * Rollup computation, which an engine offers beside `execute`: `LocalAggEngine` implements it. The gateway finds an
 * engine that implements it with {@link isRollupComputer} and calls it within that engine's limits, as a query.
 * Interval files are in local-agg's format, which {@link readRollupInterval} reads back for audits and answers.
 */
export interface RollupComputer {
  /**
   * The time span of each file of `snapshot` in `timeColumn` (in the snapshot's order): `null` for a file without
   * timed rows. A file whose times cannot be read spans all time, so that every interval that reads it fails and
   * says why instead of leaving its rows out.
   */
  rollupTimeSpans(
    snapshot: DatasetSnapshot,
    timeColumn: string,
    signal: AbortSignal,
  ): Promise<readonly (TimeSpan | null)[]>;
  /** Computes the interval of every rollup of the request in one pass over its files: a file per definition. */
  computeRollupInterval(request: RollupIntervalRequest, signal: AbortSignal): Promise<readonly IntervalFile[]>;
  /** For each definition, in order, how it answers the query `sql` over `snapshot` (its source), or why it does not. */
  planRollupAnswers(
    sql: string,
    snapshot: DatasetSnapshot,
    definitions: readonly RollupDefinition[],
  ): Promise<readonly (RollupAnswer | RollupDecline)[]>;
}

/** Whether an engine implements {@link RollupComputer}: how the gateway finds one, never by its id. */
export function isRollupComputer(engine: object): engine is RollupComputer {
  const candidate = engine as Partial<RollupComputer>;
  return (
    typeof candidate.rollupTimeSpans === 'function' &&
    typeof candidate.computeRollupInterval === 'function' &&
    typeof candidate.planRollupAnswers === 'function'
  );
}

/** Reads an interval file back: its groups, for answers, and the sum of its `_rows`. Throws if it is damaged. */
export function readRollupInterval(text: string, byColumn?: string): StoredInterval {
  const { groups, rows, rowsBy } = readRollupLines(text, byColumn);
  return { groups: groups as unknown as IntervalGroups, rows, ...(rowsBy ? { rowsBy } : {}) };
}

/** What local-agg lends the rollup computation: its cached file layouts and its worker threads. */
export interface PassRunner {
  describe(snapshot: DatasetSnapshot): Promise<{ columns: readonly LocalColumn[]; layouts: readonly FileLayout[] }>;
  run(pass: PassPlan, work: readonly PassWork[], signal: AbortSignal): Promise<{ partials: PartialGroups[][] }>;
}

const ALL_TIME: TimeSpan = { minMs: Number.NEGATIVE_INFINITY, maxMs: Number.POSITIVE_INFINITY };

/** Whole files: an interval's files are few, and the pool balances them. */
const wholeFile = (file: DatasetSnapshot['files'][number], layout: FileLayout): PassWork => ({
  range: { path: file.path, start: 0, end: file.size },
  layout,
});

/** {@link RollupComputer.rollupTimeSpans}: a light pass per file, its time column's min and max. */
export async function fileTimeSpans(
  runner: PassRunner,
  snapshot: DatasetSnapshot,
  timeColumn: string,
  signal: AbortSignal,
): Promise<(TimeSpan | null)[]> {
  const { columns, layouts } = await runner.describe(snapshot);
  const time = columns.findIndex((c) => c.name.toLowerCase() === timeColumn.toLowerCase());
  const set: GroupingSetPlan = {
    dims: [],
    states: [
      { kind: 'min', column: time, type: 'timestamp' },
      { kind: 'max', column: time, type: 'timestamp' },
    ],
  };
  const pass: PassPlan = { columns, needed: [time], sets: [set] };
  // One pass per file, all listening to one signal: as many listeners as files is expected, not a leak.
  const fanOut = AbortSignal.any([signal]);
  setMaxListeners(0, fanOut);
  return Promise.all(
    snapshot.files.map(async (file, i): Promise<TimeSpan | null> => {
      try {
        const output = await runner.run(pass, [wholeFile(file, layouts[i] as FileLayout)], fanOut);
        const merged = new MergedGroups(set);
        for (const partial of output.partials) merged.add(partial[0] as PartialGroups);
        const [min, max] = (merged.toPlain().states[0] ?? []) as (number | null | undefined)[];
        if (min === null || max === null || min === undefined || max === undefined) return null;
        return { minMs: Math.floor(min / 1000), maxMs: Math.floor(max / 1000) };
      } catch (error) {
        if (signal.aborted) throw error;
        return ALL_TIME;
      }
    }),
  );
}

/** {@link RollupComputer.computeRollupInterval}: one pass, a grouping set per definition. */
export async function computeInterval(
  runner: PassRunner,
  request: RollupIntervalRequest,
  signal: AbortSignal,
): Promise<IntervalFile[]> {
  const { definitions, snapshot, startMs, endMs } = request;
  const { columns, layouts } = await runner.describe(snapshot);
  // Planned even when no file is read, so that a definition the source cannot serve fails every interval.
  const { pass, finishes } = rollupPass(definitions, columns, startMs, endMs, request.rowsWithin);
  const read = new Set(request.read);
  const work = snapshot.files.flatMap((file, i) =>
    read.has(file.path) ? [wholeFile(file, layouts[i] as FileLayout)] : [],
  );
  const output = work.length > 0 ? await runner.run(pass, work, signal) : { partials: [] };
  return definitions.map((_, i) => {
    const merged = new MergedGroups(pass.sets[i] as GroupingSetPlan);
    for (const partial of output.partials) merged.add(partial[i] as PartialGroups);
    const { text, rows } = rollupLines(finishes[i] as (typeof finishes)[number], merged);
    return { text, rows, groups: merged.size };
  });
}

/** {@link RollupComputer.planRollupAnswers}: the query parsed and the source described once for every definition. */
export async function planAnswers(
  runner: PassRunner,
  sql: string,
  snapshot: DatasetSnapshot,
  definitions: readonly RollupDefinition[],
): Promise<(RollupAnswer | RollupDecline)[]> {
  const declineAll = (reason: string): RollupDecline[] => definitions.map(() => ({ reason }));
  let query: ReturnType<typeof parseLocalQuery>;
  try {
    query = parseLocalQuery(sql);
  } catch {
    return declineAll("not in local-agg's subset");
  }
  if (query.shape !== 'aggregate') return declineAll('not an aggregation');
  const aggregate = query;
  let columns: readonly LocalColumn[];
  try {
    columns = (await runner.describe(snapshot)).columns;
  } catch {
    return declineAll('the source cannot be read');
  }
  return definitions.map((definition) => {
    const plan = planRollupAnswer(definition, aggregate, columns);
    if ('reason' in plan) return plan;
    return {
      fromMs: plan.fromMs,
      toMs: plan.toMs,
      finish: (intervals, maxRows) => plan.finish(intervals as unknown as readonly PlainGroups[], maxRows),
    };
  });
}
