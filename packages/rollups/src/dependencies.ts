import type { DatasetSnapshot, EngineLogger, QueryRequest, QueryStream } from '@lakegate/engine-api';
import type { RollupComputer, RollupDefinition } from '@lakegate/engine-local-agg';
import type { PostgresSinkSpec } from './postgres/postgres-specs.js';
import type { RollupContext } from './rollup-context.js';

/**
 * What the rollups need from the outside, one small interface per concern; the gateway implements them with its
 * storage, blob stores and managed engines. (The rollup ledger is in `rollup-ledger.ts`.)
 */

/** A snapshot of a dataset, its files kept on local disk until `release()`. */
export interface SourceLease {
  readonly snapshot: DatasetSnapshot;
  release(): void;
}

/** The tenants' datasets: rollup sources to read, and rollup datasets to list again once new intervals are stored. */
export interface RollupSources {
  acquire(tenant: string, dataset: string, signal?: AbortSignal): Promise<SourceLease>;
  refresh(tenant: string, dataset: string): Promise<unknown>;
}

/** Where interval files are stored: a folder or an object store prefix. */
export interface RollupSink {
  put(key: string, body: string): Promise<void>;
  /** The file's text, or `undefined` when there is none. */
  get(key: string): Promise<string | undefined>;
}

/** The bounds of one piece of work on an engine. */
export interface RunLimits {
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
}

/**
 * The engine that computes intervals and answers from them: one that implements {@link RollupComputer}, behind the
 * gateway's managed layer, so rollup work waits for a slot and obeys time limits like any query.
 */
export interface ComputeEngine {
  /** The engine's id, as answers from rollups are labelled. */
  readonly id: string;
  run<R>(work: (computer: RollupComputer, signal: AbortSignal) => Promise<R>, limits: RunLimits): Promise<R>;
}

/** The engine whose count of an interval's raw rows the audit compares with the rollup's. */
export interface AuditEngine {
  readonly id: string;
  execute(request: QueryRequest, limits: RunLimits): Promise<QueryStream>;
}

export type RollupLogger = Pick<EngineLogger, 'info' | 'warn'>;

/** An interval's raw rows per scope, and the fingerprint of the rows counted. */
export interface ScopeCounts {
  readonly scopes: ReadonlyMap<string, number>;
  readonly inputs: string;
}

/** An interval's rows as local files, leased: the dump of a source that is not a dataset of files. */
export interface IntervalDump {
  /** The interval's rows, in parts (one file each); no file when the interval has no rows. */
  readonly snapshot: DatasetSnapshot;
  /** The fingerprint of the rows dumped, as {@link IntervalSource.fingerprints} gives it. */
  readonly inputs: string;
  /** Done with the files; they are removed once no late row can change their interval. */
  release(): Promise<void>;
}

/**
 * A rollup source read one interval at a time (a PostgreSQL table): dumped to local files per interval, its
 * intervals' fingerprints read where late rows may still change them, its rows counted per scope for the audit.
 */
export interface IntervalSource {
  /** For each interval start in `[fromMs, toMs)`, the fingerprint of its rows now. */
  fingerprints(context: RollupContext, fromMs: number, toMs: number, signal: AbortSignal): Promise<Map<number, string>>;
  dump(context: RollupContext, start: number, signal: AbortSignal): Promise<IntervalDump>;
  /**
   * The interval's raw rows per scope (the source's `scopeColumn`, as text), and the fingerprint of the rows
   * counted, as {@link fingerprints} gives it.
   */
  countByScope(context: RollupContext, start: number, signal: AbortSignal): Promise<ScopeCounts>;
  close(): Promise<void>;
}

/** A rollup's second home: its interval rows loaded into a PostgreSQL table, one transaction per interval. */
export interface PostgresSink {
  /** Loads one interval's rows; `signal` cancels the load on the server (the interval then stays as it was). */
  load(
    spec: PostgresSinkSpec,
    rollup: RollupDefinition,
    start: number,
    text: string,
    signal: AbortSignal,
  ): Promise<void>;
}
