/** Livy's session and statement states, and the records Lakegate keeps for them. */

export const SESSION_STATES = [
  'not_started',
  'starting',
  'idle',
  'busy',
  'shutting_down',
  'error',
  'dead',
  'killed',
  'success',
] as const;
export type SessionState = (typeof SESSION_STATES)[number];

export const STATEMENT_STATES = ['waiting', 'running', 'available', 'error', 'cancelling', 'cancelled'] as const;
export type StatementState = (typeof STATEMENT_STATES)[number];

export const FINAL_STATEMENT_STATES: ReadonlySet<StatementState> = new Set(['available', 'error', 'cancelled']);

export interface SessionRecord {
  readonly id: number;
  readonly tenant: string;
  readonly name: string | null;
  readonly proxyUser: string | null;
  readonly kind: 'sql';
  readonly engine: string | null;
  readonly conf: Readonly<Record<string, string>>;
  /** Livy's `ttl` and `idleTimeout` as given (`"10m"`), and in milliseconds. */
  readonly ttl: string | null;
  readonly idleTimeout: string | null;
  readonly ttlMs: number | null;
  readonly idleTimeoutMs: number | null;
  readonly state: SessionState;
  readonly createdAt: number;
  readonly lastActivity: number;
}

/** Livy's statement output, as its SQL interpreter gives it. */
export type StatementOutput =
  | {
      readonly status: 'ok';
      readonly execution_count: number;
      readonly data: {
        readonly 'application/json': {
          readonly schema: {
            readonly type: 'struct';
            readonly fields: readonly {
              readonly name: string;
              readonly type: string;
              readonly nullable: boolean;
              readonly metadata: Readonly<Record<string, never>>;
            }[];
          };
          readonly data: readonly (readonly unknown[])[];
          /** Present when `data` holds fewer rows than the statement produced: read the rest at `result_url`. */
          readonly truncated?: true;
          /** Rows of the full result (as kept, up to `sessions.maxResultRows`). */
          readonly total_rows?: number;
          /** Where the full result is served, page by page. */
          readonly result_url?: string;
        };
      };
    }
  | {
      readonly status: 'error';
      readonly execution_count: number;
      readonly ename: string;
      readonly evalue: string;
      readonly traceback: readonly string[];
    };

/** Where a statement's full result lives, and how big it is. */
export interface ResultInfo {
  readonly rows: number;
  readonly truncated: boolean;
  readonly columns: readonly { readonly name: string; readonly type: string; readonly kind: string }[];
  /** `state`: the session store holds the pages; `object`: the result store does. */
  readonly storage: 'state' | 'object';
  readonly pageRows: number;
}

export interface StatementRecord {
  readonly sessionId: number;
  readonly id: number;
  readonly code: string;
  readonly state: StatementState;
  readonly output: StatementOutput | null;
  readonly progress: number;
  /** Epoch milliseconds, 0 until it happens. */
  readonly started: number;
  readonly completed: number;
  readonly submitted: number;
  /** The replica that accepted (and runs) the statement. */
  readonly runner: string;
  readonly result: ResultInfo | null;
}
