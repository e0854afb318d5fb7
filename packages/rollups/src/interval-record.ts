export type IntervalState = 'pending' | 'running' | 'done' | 'failed';

export interface IntervalAudit {
  readonly at: string;
  /** Raw rows of the interval, counted by the audit engine over the source. */
  readonly rawRows: number;
  /** Sum of `_rows` in the rollup file as stored in the sink; -1 when the file cannot be read. */
  readonly rollupRows: number;
  readonly ok: boolean;
  /** Scopes compared, for a source with a scope column (PostgreSQL); their rows were compared one by one. */
  readonly scopes?: number;
  /** Scopes whose rows differ (at most 20 named), when any. */
  readonly mismatchedScopes?: readonly string[];
}

/** What the rollup ledger keeps per interval of a rollup (as JSON text). */
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
  /** Times it was computed again because its count audit found other rows than the source has (at most once). */
  readonly auditRecomputes?: number;
}
