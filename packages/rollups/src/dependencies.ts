import type { DatasetSnapshot, EngineLogger, QueryRequest, QueryStream } from '@lakegate/engine-api';
import type { RollupComputer } from '@lakegate/engine-local-agg';

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
