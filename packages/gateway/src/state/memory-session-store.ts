import { FINAL_STATEMENT_STATES, type SessionRecord, type StatementRecord } from './session-records.js';
import type { Page, SessionStore, UnfinishedStatement } from './session-store.js';

const page = <T>(all: readonly T[], from: number, size: number): Page<T> => ({
  total: all.length,
  items: all.slice(from, from + size),
});

const key = (sessionId: number, id: number): string => `${sessionId}/${id}`;

/** Sessions in this process's memory: the default without Redis (a restart forgets them). */
export class MemorySessionStore implements SessionStore {
  #sessionSeq = 0;
  readonly #sessions = new Map<number, { session: SessionRecord; expiresAt: number }>();
  readonly #statementSeq = new Map<number, number>();
  readonly #statements = new Map<string, StatementRecord>();
  readonly #logs = new Map<number, string[]>();
  readonly #results = new Map<string, readonly string[]>();

  async nextSessionId(): Promise<number> {
    // Ids start at 0, as Livy's do.
    return this.#sessionSeq++;
  }

  async putSession(session: SessionRecord, expiresAt: number): Promise<void> {
    this.#sessions.set(session.id, { session, expiresAt });
  }

  async updateSession(session: SessionRecord, expiresAt: number): Promise<boolean> {
    if (!this.#sessions.has(session.id)) return false;
    this.#sessions.set(session.id, { session, expiresAt });
    return true;
  }

  async getSession(id: number): Promise<SessionRecord | undefined> {
    return this.#sessions.get(id)?.session;
  }

  async deleteSession(session: SessionRecord): Promise<void> {
    this.#sessions.delete(session.id);
    this.#logs.delete(session.id);
    for (const k of [...this.#statements.keys()]) {
      if (k.startsWith(`${session.id}/`)) {
        this.#statements.delete(k);
        this.#results.delete(k);
      }
    }
  }

  async listSessions(tenant: string, from: number, size: number): Promise<Page<SessionRecord>> {
    const mine = [...this.#sessions.values()].map((s) => s.session).filter((s) => s.tenant === tenant);
    return page(
      mine.sort((a, b) => a.id - b.id),
      from,
      size,
    );
  }

  async countSessions(tenant: string): Promise<number> {
    return [...this.#sessions.values()].filter((s) => s.session.tenant === tenant).length;
  }

  async expiredSessions(now: number): Promise<number[]> {
    return [...this.#sessions.values()].filter((s) => s.expiresAt <= now).map((s) => s.session.id);
  }

  async nextStatementId(sessionId: number): Promise<number> {
    const next = this.#statementSeq.get(sessionId) ?? 0;
    this.#statementSeq.set(sessionId, next + 1);
    return next;
  }

  async putStatement(statement: StatementRecord): Promise<void> {
    this.#statements.set(key(statement.sessionId, statement.id), statement);
  }

  async setProgress(sessionId: number, id: number, progress: number): Promise<boolean> {
    return this.#updateRunning(sessionId, id, { progress });
  }

  async markCancelling(sessionId: number, id: number): Promise<boolean> {
    return this.#updateRunning(sessionId, id, { state: 'cancelling' });
  }

  #updateRunning(sessionId: number, id: number, change: Partial<StatementRecord>): boolean {
    const statement = this.#statements.get(key(sessionId, id));
    if (statement?.state !== 'running') return false;
    this.#statements.set(key(sessionId, id), { ...statement, ...change });
    return true;
  }

  async getStatement(sessionId: number, id: number): Promise<StatementRecord | undefined> {
    return this.#statements.get(key(sessionId, id));
  }

  async listStatements(sessionId: number, from: number, size: number): Promise<Page<StatementRecord>> {
    const mine = [...this.#statements.values()].filter((s) => s.sessionId === sessionId).sort((a, b) => a.id - b.id);
    return page(mine, from, size);
  }

  async unfinishedStatements(): Promise<UnfinishedStatement[]> {
    return [...this.#statements.values()]
      .filter((s) => !FINAL_STATEMENT_STATES.has(s.state))
      .map((s) => ({ sessionId: s.sessionId, id: s.id, runner: s.runner }));
  }

  async runningStatements(sessionId: number): Promise<number> {
    return [...this.#statements.values()].filter(
      (s) => s.sessionId === sessionId && (s.state === 'running' || s.state === 'cancelling'),
    ).length;
  }

  async appendLog(sessionId: number, lines: readonly string[]): Promise<void> {
    const log = this.#logs.get(sessionId) ?? [];
    log.push(...lines);
    this.#logs.set(sessionId, log);
  }

  async getLog(sessionId: number, from: number, size: number): Promise<Page<string>> {
    return page(this.#logs.get(sessionId) ?? [], from, size);
  }

  async logTail(sessionId: number, count: number): Promise<string[]> {
    return count > 0 ? (this.#logs.get(sessionId) ?? []).slice(-count) : [];
  }

  async putResultPages(sessionId: number, statementId: number, pages: readonly string[]): Promise<void> {
    this.#results.set(key(sessionId, statementId), pages);
  }

  async getResultPage(sessionId: number, statementId: number, index: number): Promise<string | undefined> {
    return this.#results.get(key(sessionId, statementId))?.[index];
  }
}
