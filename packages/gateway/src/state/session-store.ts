import type { SessionRecord, StatementRecord } from './session-records.js';

/** One page of a list, and how long the whole list is. */
export interface Page<T> {
  readonly total: number;
  readonly items: readonly T[];
}

/** A statement not yet final, and the replica running it. */
export interface UnfinishedStatement {
  readonly sessionId: number;
  readonly id: number;
  readonly runner: string;
}

/**
 * Sessions, their statements, logs and small results: in Redis when `state.redisUrl` is set (any replica serves
 * any session, a restart loses nothing), else in memory. Every method rejects with STATE_UNAVAILABLE, at once, when
 * the store cannot be reached.
 */
export interface SessionStore {
  /** A new session id, unique across replicas, greater than every id before it. */
  nextSessionId(): Promise<number>;
  /** Stores a session; `expiresAt` (epoch ms) is when `expiredSessions` starts to return it. */
  putSession(session: SessionRecord, expiresAt: number): Promise<void>;
  /**
   * Stores a session as {@link putSession} does, but only while it is still stored, in one step with checking it:
   * false, and nothing stored, once it was deleted (so that a write racing a delete never brings it back).
   */
  updateSession(session: SessionRecord, expiresAt: number): Promise<boolean>;
  getSession(id: number): Promise<SessionRecord | undefined>;
  /** Forgets a session with its statements, log and result pages. */
  deleteSession(session: SessionRecord): Promise<void>;
  /** The tenant's sessions, by id. */
  listSessions(tenant: string, from: number, size: number): Promise<Page<SessionRecord>>;
  countSessions(tenant: string): Promise<number>;
  /** Sessions whose deadline (idle timeout or TTL) has passed. */
  expiredSessions(now: number): Promise<number[]>;

  /** A new statement id in the session: 0, 1, 2, ... */
  nextStatementId(sessionId: number): Promise<number>;
  putStatement(statement: StatementRecord): Promise<void>;
  /**
   * Stores a running statement's `progress`, in one step with checking that it still runs: false, and nothing
   * stored, once it is cancelling, final or gone (so that progress never overwrites a cancel or an end).
   */
  setProgress(sessionId: number, id: number, progress: number): Promise<boolean>;
  /**
   * Marks a running statement `cancelling`, in one step with checking that it still runs: false, and nothing
   * stored, once it is final or gone (so that a cancel never overwrites an end, or the result stored with it).
   */
  markCancelling(sessionId: number, id: number): Promise<boolean>;
  getStatement(sessionId: number, id: number): Promise<StatementRecord | undefined>;
  /** The session's statements, by id. */
  listStatements(sessionId: number, from: number, size: number): Promise<Page<StatementRecord>>;
  /** Statements not yet final, of every session, with the replica running them. */
  unfinishedStatements(): Promise<UnfinishedStatement[]>;
  /** How many of a session's statements are running (or cancelling) now. */
  runningStatements(sessionId: number): Promise<number>;

  appendLog(sessionId: number, lines: readonly string[]): Promise<void>;
  getLog(sessionId: number, from: number, size: number): Promise<Page<string>>;
  /** The last `count` log lines. */
  logTail(sessionId: number, count: number): Promise<string[]>;

  /** Small results: pages of rows kept beside the statement, replacing any stored before. */
  putResultPages(sessionId: number, statementId: number, pages: readonly string[]): Promise<void>;
  getResultPage(sessionId: number, statementId: number, page: number): Promise<string | undefined>;
}
