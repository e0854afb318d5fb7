/** Called with each cancel message, on every replica. */
export type CancelHandler = (sessionId: number, statementId: number) => void;

/**
 * What replicas tell each other: which of them are alive, and which statements to cancel. Through Redis when
 * `state.redisUrl` is set, else within this process (a single gateway). Every method that returns a promise rejects
 * with STATE_UNAVAILABLE, at once, when the bus cannot be reached.
 */
export interface ReplicaBus {
  /** Tells every replica, this one included, to cancel a statement; the one running it acts. */
  publishCancel(sessionId: number, statementId: number): Promise<void>;
  /** Hears every cancel message from now on, this replica's own included. */
  onCancel(handler: CancelHandler): void;

  /** Marks a replica alive for `ttlMs`: a replica beats more often than that, so one that stops is soon seen dead. */
  heartbeat(replica: string, ttlMs: number): Promise<void>;
  isAlive(replica: string): Promise<boolean>;
}
