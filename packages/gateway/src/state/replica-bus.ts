/** Called with each cancel message, on every replica. */
export type CancelHandler = (sessionId: number, statementId: number) => void;

/** A query running on a replica, as that replica last told the others (see `ReplicaStatus.running`). */
export interface SharedRunningQuery {
  readonly tenant: string;
  readonly queryId: string;
  readonly sql: string;
  readonly protocol: string;
  /** Epoch ms. */
  readonly startedAt: number;
}

/** What a replica tells the others with each heartbeat: for operators, who see every replica from any of them. */
export interface ReplicaStatus {
  readonly id: string;
  /** Epoch ms of this replica's start. */
  readonly startedAt: number;
  /** Epoch ms of this heartbeat. */
  readonly beatAt: number;
  /** The version of the configuration it serves (replicas that differ were reloaded apart). */
  readonly configVersion: string;
  /** Whether it is shutting down (and so takes no new work). */
  readonly draining: boolean;
  /** Livy statements it runs and holds waiting. */
  readonly statements: { readonly running: number; readonly waiting: number };
  /** Queries running on it at the heartbeat, oldest first (at most `MAX_SHARED_RUNNING`). */
  readonly running: readonly SharedRunningQuery[];
  /** How many queries ran on it at the heartbeat (`running` may list fewer). */
  readonly activeQueries: number;
}

/** Most running queries a heartbeat carries: enough for a console, bounded so a busy replica's beat stays small. */
export const MAX_SHARED_RUNNING = 200;

/** A request to cancel a query on whichever replica runs it. */
export interface QueryCancel {
  readonly queryId: string;
  /** Only a query of this tenant; undefined: an operator's cancel, of any tenant's. */
  readonly tenant: string | undefined;
  /** Who cancels, for the query's error message ("an operator", "its tenant"). */
  readonly by: string;
}

/**
 * What replicas tell each other: which of them are alive and what they run, and which statements and queries to
 * cancel. Through Redis when `state.redisUrl` is set, else within this process (a single gateway). Every method that
 * returns a promise rejects with STATE_UNAVAILABLE, at once, when the bus cannot be reached.
 */
export interface ReplicaBus {
  /** Tells every replica, this one included, to cancel a statement; the one running it acts. */
  publishCancel(sessionId: number, statementId: number): Promise<void>;
  /** Hears every cancel message from now on, this replica's own included. */
  onCancel(handler: CancelHandler): void;
  /** Tells every replica, this one included, to cancel a query; the one running it acts. */
  publishQueryCancel(cancel: QueryCancel): Promise<void>;
  /** Hears every query cancel from now on, this replica's own included. */
  onQueryCancel(handler: (cancel: QueryCancel) => void): void;

  /**
   * Marks a replica alive for `ttlMs`: a replica beats more often than that, so one that stops is soon seen dead.
   * `status` (its id is `replica`'s) is what `replicas()` returns for it until its next beat.
   */
  heartbeat(replica: string, ttlMs: number, status?: ReplicaStatus): Promise<void>;
  isAlive(replica: string): Promise<boolean>;
  /** The replicas alive now that beat with a status, by id. */
  replicas(): Promise<ReplicaStatus[]>;
}
