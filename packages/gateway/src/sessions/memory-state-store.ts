import { FINAL_STATEMENT_STATES, type SessionRecord, type StatementRecord } from '../state/session-records.js';
import type { Page, StateStore } from './state-store.js';

const page = <T>(all: readonly T[], from: number, size: number): Page<T> => ({
  total: all.length,
  items: all.slice(from, from + size),
});

/** Session state in this process's memory: the default without Redis (a restart forgets it). */
export function createMemoryStateStore(): StateStore {
  let sessionSeq = 0;
  const sessions = new Map<number, { session: SessionRecord; expiresAt: number }>();
  const statementSeq = new Map<number, number>();
  const statements = new Map<string, StatementRecord>();
  const logs = new Map<number, string[]>();
  const results = new Map<string, readonly string[]>();
  const rollups = new Map<string, Map<number, string>>();
  const claims = new Map<string, { owner: string; until: number }>();
  const cancelHandlers: ((sessionId: number, statementId: number) => void)[] = [];
  const alive = new Map<string, number>();
  const key = (sessionId: number, id: number): string => `${sessionId}/${id}`;

  return {
    kind: 'memory',
    async nextSessionId() {
      return ++sessionSeq;
    },
    async putSession(session, expiresAt) {
      sessions.set(session.id, { session, expiresAt });
    },
    async getSession(id) {
      return sessions.get(id)?.session;
    },
    async deleteSession(session) {
      sessions.delete(session.id);
      logs.delete(session.id);
      for (const k of [...statements.keys()]) {
        if (k.startsWith(`${session.id}/`)) {
          statements.delete(k);
          results.delete(k);
        }
      }
    },
    async listSessions(tenant, from, size) {
      const mine = [...sessions.values()].map((s) => s.session).filter((s) => s.tenant === tenant);
      return page(
        mine.sort((a, b) => a.id - b.id),
        from,
        size,
      );
    },
    async countSessions(tenant) {
      return [...sessions.values()].filter((s) => s.session.tenant === tenant).length;
    },
    async expiredSessions(now) {
      return [...sessions.values()].filter((s) => s.expiresAt <= now).map((s) => s.session.id);
    },
    async nextStatementId(sessionId) {
      const next = statementSeq.get(sessionId) ?? 0;
      statementSeq.set(sessionId, next + 1);
      return next;
    },
    async putStatement(statement) {
      statements.set(key(statement.sessionId, statement.id), statement);
    },
    async getStatement(sessionId, id) {
      return statements.get(key(sessionId, id));
    },
    async listStatements(sessionId, from, size) {
      const mine = [...statements.values()].filter((s) => s.sessionId === sessionId).sort((a, b) => a.id - b.id);
      return page(mine, from, size);
    },
    async unfinishedStatements() {
      return [...statements.values()]
        .filter((s) => !FINAL_STATEMENT_STATES.has(s.state))
        .map((s) => ({ sessionId: s.sessionId, id: s.id, runner: s.runner }));
    },
    async runningStatements(sessionId) {
      return [...statements.values()].filter(
        (s) => s.sessionId === sessionId && (s.state === 'running' || s.state === 'cancelling'),
      ).length;
    },
    async appendLog(sessionId, lines) {
      const log = logs.get(sessionId) ?? [];
      log.push(...lines);
      logs.set(sessionId, log);
    },
    async getLog(sessionId, from, size) {
      return page(logs.get(sessionId) ?? [], from, size);
    },
    async logTail(sessionId, count) {
      return count > 0 ? (logs.get(sessionId) ?? []).slice(-count) : [];
    },
    async putResultPages(sessionId, statementId, pages) {
      results.set(key(sessionId, statementId), pages);
    },
    async getResultPage(sessionId, statementId, index) {
      return results.get(key(sessionId, statementId))?.[index];
    },
    async publishCancel(sessionId, statementId) {
      for (const handler of cancelHandlers) handler(sessionId, statementId);
    },
    onCancel(handler) {
      cancelHandlers.push(handler);
    },
    async rollupIntervals(rollup) {
      return new Map(rollups.get(rollup) ?? []);
    },
    async putRollupInterval(rollup, start, record) {
      const intervals = rollups.get(rollup) ?? new Map<number, string>();
      intervals.set(start, record);
      rollups.set(rollup, intervals);
    },
    async claimRollupInterval(rollup, start, owner, ttlMs) {
      const key = `${rollup}@${start}`;
      const held = claims.get(key);
      if (held && held.owner !== owner && held.until > Date.now()) return false;
      claims.set(key, { owner, until: Date.now() + ttlMs });
      return true;
    },
    async releaseRollupInterval(rollup, start, owner) {
      const key = `${rollup}@${start}`;
      if (claims.get(key)?.owner === owner) claims.delete(key);
    },
    async heartbeat(replica, ttlMs) {
      alive.set(replica, Date.now() + ttlMs);
    },
    async isAlive(replica) {
      return (alive.get(replica) ?? 0) > Date.now();
    },
    async ready() {
      return true;
    },
    async close() {},
  };
}
