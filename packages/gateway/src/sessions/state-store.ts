import type { ResultInfo, SessionRecord, StatementRecord } from '../state/session-records.js';

export interface Page<T> {
  readonly total: number;
  readonly items: readonly T[];
}

/**
 * Where session state lives: Redis when `state.redisUrl` is set (any replica serves any session, a restart loses
 * nothing), else memory. Every method rejects with STATE_UNAVAILABLE, at once, when the store cannot be reached.
 */
export interface StateStore {
  readonly kind: 'memory' | 'redis';
  /** A new session id, unique across replicas. */
  nextSessionId(): Promise<number>;
  putSession(session: SessionRecord, expiresAt: number): Promise<void>;
  getSession(id: number): Promise<SessionRecord | undefined>;
  deleteSession(session: SessionRecord): Promise<void>;
  /** The tenant's sessions, by id. */
  listSessions(tenant: string, from: number, size: number): Promise<Page<SessionRecord>>;
  countSessions(tenant: string): Promise<number>;
  /** Sessions whose deadline (idle timeout or TTL) has passed. */
  expiredSessions(now: number): Promise<number[]>;

  nextStatementId(sessionId: number): Promise<number>;
  putStatement(statement: StatementRecord): Promise<void>;
  getStatement(sessionId: number, id: number): Promise<StatementRecord | undefined>;
  listStatements(sessionId: number, from: number, size: number): Promise<Page<StatementRecord>>;
  /** Statements not yet final, with the replica running them. */
  unfinishedStatements(): Promise<{ sessionId: number; id: number; runner: string }[]>;
  /** How many of a session's statements are running now. */
  runningStatements(sessionId: number): Promise<number>;

  appendLog(sessionId: number, lines: readonly string[]): Promise<void>;
  getLog(sessionId: number, from: number, size: number): Promise<Page<string>>;
  /** The last `count` log lines. */
  logTail(sessionId: number, count: number): Promise<string[]>;

  /** Small results: pages of rows kept beside the statement. */
  putResultPages(sessionId: number, statementId: number, pages: readonly string[]): Promise<void>;
  getResultPage(sessionId: number, statementId: number, page: number): Promise<string | undefined>;

  /** Tells every replica to cancel a statement; the one running it acts. */
  publishCancel(sessionId: number, statementId: number): Promise<void>;
  onCancel(handler: (sessionId: number, statementId: number) => void): void;

  /** Marks this replica alive for `ttlMs`. */
  heartbeat(replica: string, ttlMs: number): Promise<void>;
  isAlive(replica: string): Promise<boolean>;

  /** Interval records of one rollup (`tenant/name`), by interval start in milliseconds; JSON text. */
  rollupIntervals(rollup: string): Promise<Map<number, string>>;
  putRollupInterval(rollup: string, start: number, record: string): Promise<void>;
  /**
   * Claims an interval for `ttlMs`, or renews the claim when `owner` holds it already; false when another replica
   * holds it. A claim that is not renewed lapses, so a crashed replica's intervals are computed again.
   */
  claimRollupInterval(rollup: string, start: number, owner: string, ttlMs: number): Promise<boolean>;
  releaseRollupInterval(rollup: string, start: number, owner: string): Promise<void>;

  /** Resolves once the store is reachable, or after `timeoutMs` either way. */
  ready(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

export type { ResultInfo };
