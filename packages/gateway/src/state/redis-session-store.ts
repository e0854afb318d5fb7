import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';
import { FINAL_STATEMENT_STATES, type SessionRecord, type StatementRecord } from './session-records.js';
import type { Page, SessionStore, UnfinishedStatement } from './session-store.js';

export interface RedisSessionStoreOptions {
  /**
   * How long Redis keeps a session's keys past its deadline: a backstop, should every replica be down to reap it.
   * A deleted or reaped session's keys go at once.
   */
  readonly graceMs: number;
}

/** Statements and results of a session whose key has no TTL (or is gone) live at least this long. */
const MIN_TTL_MS = 60_000;

/** The inclusive end of a Redis range for a page, or none for an empty page (-1 would mean "to the last"). */
const lastIndex = (from: number, size: number): number | undefined => (size > 0 ? from + size - 1 : undefined);

const parse = <T>(json: string | null): T | undefined => (json === null ? undefined : (JSON.parse(json) as T));

const parseAll = <T>(records: readonly (string | null)[]): T[] =>
  records.flatMap((r) => (r === null ? [] : [JSON.parse(r) as T]));

/** The next session id: the last one plus one, starting after an older counter's last id, else at 0. */
const NEXT_SESSION_ID = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], redis.call('GET', KEYS[2]) or '-1')
end
return redis.call('INCR', KEYS[1])`;

/** Replaces a value only while it is still the one read (ARGV[1]), keeping its TTL: 1 if replaced. */
const COMPARE_AND_SET = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1`;

/**
 * Stores a statement in one round trip, living as long as its session (KEYS[1]; at least ARGV[6] ms): the record
 * (KEYS[2]), its place in the session's statements (KEYS[3]), the unfinished statements (KEYS[4]: field ARGV[3],
 * runner ARGV[4], removed once final) and the session's running ones (KEYS[5]). ARGV[5]: final, active or other.
 */
const PUT_STATEMENT = `
local ttl = math.max(redis.call('PTTL', KEYS[1]), tonumber(ARGV[6]))
redis.call('SET', KEYS[2], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ttl)
if ARGV[5] == 'final' then redis.call('HDEL', KEYS[4], ARGV[3]) else redis.call('HSET', KEYS[4], ARGV[3], ARGV[4]) end
if ARGV[5] == 'active' then
  redis.call('SADD', KEYS[5], ARGV[2])
  redis.call('PEXPIRE', KEYS[5], ttl)
else
  redis.call('SREM', KEYS[5], ARGV[2])
end
return 1`;

/**
 * Appends lines (ARGV[2..]) to a session's log (KEYS[2]), living as long as the session (KEYS[1]; at least ARGV[1]
 * ms): a line a statement logs as it ends after its session was deleted must not bring back a log that never goes.
 */
const APPEND_LOG = `
local ttl = math.max(redis.call('PTTL', KEYS[1]), tonumber(ARGV[1]))
for i = 2, #ARGV, 1000 do redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV))) end
redis.call('PEXPIRE', KEYS[2], ttl)
return 1`;

/**
 * Stores a session (KEYS[1]: ARGV[1], living ARGV[2] ms), its place among its tenant's (KEYS[2], by id ARGV[3]) and
 * the deadlines (KEYS[3], at ARGV[4]), and the lifetime of its other keys (KEYS[4..]); with ARGV[5] = 'existing',
 * only while it is stored. Returns 1 when stored.
 */
const PUT_SESSION = `
if ARGV[5] == 'existing' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
for i = 4, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
return 1`;

/** Replaces a result's pages (KEYS[2], ARGV[2..]) in one round trip, living as long as the session (KEYS[1]). */
const PUT_RESULT = `
local ttl = math.max(redis.call('PTTL', KEYS[1]), tonumber(ARGV[1]))
redis.call('DEL', KEYS[2])
for i = 2, #ARGV, 1000 do redis.call('RPUSH', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV))) end
redis.call('PEXPIRE', KEYS[2], ttl)
return 1`;

/**
 * Sessions in Redis. A session's keys expire with it (plus the grace period), so nothing outlives it for long even
 * if no replica reaps it; the unfinished statements of every session are one hash, so a replica finds the
 * statements of a dead one with one command.
 */
export class RedisSessionStore implements SessionStore {
  readonly #connection: RedisConnection;
  readonly #k: RedisKeys;
  readonly #graceMs: number;

  constructor(connection: RedisConnection, options: RedisSessionStoreOptions) {
    this.#connection = connection;
    this.#k = connection.keys;
    this.#graceMs = options.graceMs;
  }

  /** The keys that live as long as the session: the session first, then those that `putSession` extends. */
  #sessionKeys(sid: number): string[] {
    const k = this.#k;
    return [k.session(sid), k.statementSeq(sid), k.statements(sid), k.log(sid), k.running(sid)];
  }

  nextSessionId(): Promise<number> {
    // Ids start at 0, as Livy's do. A store written by a version that counted from 1 goes on after its last id,
    // so no id is handed out twice across an upgrade.
    return this.#connection.run(async (redis) =>
      Number(await redis.eval(NEXT_SESSION_ID, 2, this.#k.sessionId, this.#k.sessionSeq)),
    );
  }

  async putSession(session: SessionRecord, expiresAt: number): Promise<void> {
    await this.#storeSession(session, expiresAt, 'always');
  }

  updateSession(session: SessionRecord, expiresAt: number): Promise<boolean> {
    return this.#storeSession(session, expiresAt, 'existing');
  }

  #storeSession(session: SessionRecord, expiresAt: number, when: 'always' | 'existing'): Promise<boolean> {
    return this.#connection.run(async (redis) => {
      const ttl = Math.max(1000, expiresAt - Date.now() + this.#graceMs);
      const [sessionKey, ...others] = this.#sessionKeys(session.id);
      const keys = [sessionKey as string, this.#k.tenantSessions(session.tenant), this.#k.deadlines, ...others];
      const args = [JSON.stringify(session), String(ttl), String(session.id), String(expiresAt), when];
      return (await redis.eval(PUT_SESSION, keys.length, ...keys, ...args)) === 1;
    });
  }

  getSession(id: number): Promise<SessionRecord | undefined> {
    return this.#connection.run(async (redis) => parse<SessionRecord>(await redis.get(this.#k.session(id))));
  }

  deleteSession(session: SessionRecord): Promise<void> {
    return this.#connection.run(async (redis) => {
      const k = this.#k;
      const ids = (await redis.zrange(k.statements(session.id), 0, -1)).map(Number);
      const multi = redis.multi();
      multi.del(
        ...this.#sessionKeys(session.id),
        ...ids.flatMap((id) => [k.statement(session.id, id), k.result(session.id, id)]),
      );
      multi.zrem(k.tenantSessions(session.tenant), String(session.id));
      multi.zrem(k.deadlines, String(session.id));
      for (const id of ids) multi.hdel(k.unfinished, `${session.id}:${id}`);
      await multi.exec();
    });
  }

  listSessions(tenant: string, from: number, size: number): Promise<Page<SessionRecord>> {
    return this.#connection.run(async (redis) => {
      const key = this.#k.tenantSessions(tenant);
      const total = await redis.zcard(key);
      const end = lastIndex(from, size);
      const ids = end === undefined ? [] : await redis.zrange(key, from, end);
      const records = ids.length === 0 ? [] : await redis.mget(ids.map((id) => this.#k.session(Number(id))));
      return { total, items: parseAll<SessionRecord>(records) };
    });
  }

  countSessions(tenant: string): Promise<number> {
    return this.#connection.run((redis) => redis.zcard(this.#k.tenantSessions(tenant)));
  }

  expiredSessions(now: number): Promise<number[]> {
    return this.#connection.run(async (redis) =>
      (await redis.zrangebyscore(this.#k.deadlines, '-inf', now)).map(Number),
    );
  }

  nextStatementId(sessionId: number): Promise<number> {
    return this.#connection.run(async (redis) => (await redis.incr(this.#k.statementSeq(sessionId))) - 1);
  }

  putStatement(statement: StatementRecord): Promise<void> {
    return this.#connection.run(async (redis) => {
      const k = this.#k;
      const { sessionId, id, state } = statement;
      const mode = FINAL_STATEMENT_STATES.has(state)
        ? 'final'
        : state === 'running' || state === 'cancelling'
          ? 'active'
          : 'other';
      await redis.eval(
        PUT_STATEMENT,
        5,
        k.session(sessionId),
        k.statement(sessionId, id),
        k.statements(sessionId),
        k.unfinished,
        k.running(sessionId),
        JSON.stringify(statement),
        String(id),
        `${sessionId}:${id}`,
        statement.runner,
        mode,
        String(MIN_TTL_MS),
      );
    });
  }

  setProgress(sessionId: number, id: number, progress: number): Promise<boolean> {
    return this.#updateRunning(sessionId, id, { progress });
  }

  markCancelling(sessionId: number, id: number): Promise<boolean> {
    // Running and cancelling are both active: the indexes stay as they are.
    return this.#updateRunning(sessionId, id, { state: 'cancelling' });
  }

  /**
   * Changes a statement's record only while it runs. A cancel or an end stored since the read wins (the script
   * replaces only the record read); another change of a running statement (its progress) is read again and
   * changed in turn, as the memory store would.
   */
  #updateRunning(sessionId: number, id: number, change: Partial<StatementRecord>): Promise<boolean> {
    return this.#connection.run(async (redis) => {
      const key = this.#k.statement(sessionId, id);
      for (let attempt = 0; attempt < 5; attempt++) {
        const read = await redis.get(key);
        const statement = parse<StatementRecord>(read);
        if (read === null || statement?.state !== 'running') return false;
        const next = JSON.stringify({ ...statement, ...change });
        if ((await redis.eval(COMPARE_AND_SET, 1, key, read, next)) === 1) return true;
      }
      return false;
    });
  }

  getStatement(sessionId: number, id: number): Promise<StatementRecord | undefined> {
    return this.#connection.run(async (redis) =>
      parse<StatementRecord>(await redis.get(this.#k.statement(sessionId, id))),
    );
  }

  listStatements(sessionId: number, from: number, size: number): Promise<Page<StatementRecord>> {
    return this.#connection.run(async (redis) => {
      const key = this.#k.statements(sessionId);
      const total = await redis.zcard(key);
      const end = lastIndex(from, size);
      const ids = end === undefined ? [] : await redis.zrange(key, from, end);
      const records =
        ids.length === 0 ? [] : await redis.mget(ids.map((id) => this.#k.statement(sessionId, Number(id))));
      return { total, items: parseAll<StatementRecord>(records) };
    });
  }

  unfinishedStatements(): Promise<UnfinishedStatement[]> {
    return this.#connection.run(async (redis) =>
      Object.entries(await redis.hgetall(this.#k.unfinished)).map(([field, runner]) => {
        const [sessionId = 0, id = 0] = field.split(':').map(Number);
        return { sessionId, id, runner };
      }),
    );
  }

  runningStatements(sessionId: number): Promise<number> {
    return this.#connection.run((redis) => redis.scard(this.#k.running(sessionId)));
  }

  appendLog(sessionId: number, lines: readonly string[]): Promise<void> {
    return this.#connection.run(async (redis) => {
      if (lines.length > 0)
        await redis.eval(
          APPEND_LOG,
          2,
          this.#k.session(sessionId),
          this.#k.log(sessionId),
          String(MIN_TTL_MS),
          ...lines,
        );
    });
  }

  getLog(sessionId: number, from: number, size: number): Promise<Page<string>> {
    return this.#connection.run(async (redis) => {
      const key = this.#k.log(sessionId);
      const end = lastIndex(from, size);
      return { total: await redis.llen(key), items: end === undefined ? [] : await redis.lrange(key, from, end) };
    });
  }

  logTail(sessionId: number, count: number): Promise<string[]> {
    return this.#connection.run(async (redis) => (count > 0 ? redis.lrange(this.#k.log(sessionId), -count, -1) : []));
  }

  putResultPages(sessionId: number, statementId: number, pages: readonly string[]): Promise<void> {
    return this.#connection.run(async (redis) => {
      const key = this.#k.result(sessionId, statementId);
      // RPUSH takes at least one value: no pages is just the old ones gone.
      if (pages.length === 0) {
        await redis.del(key);
        return;
      }
      await redis.eval(PUT_RESULT, 2, this.#k.session(sessionId), key, String(MIN_TTL_MS), ...pages);
    });
  }

  getResultPage(sessionId: number, statementId: number, index: number): Promise<string | undefined> {
    return this.#connection.run(
      async (redis) => (await redis.lindex(this.#k.result(sessionId, statementId), index)) ?? undefined,
    );
  }
}
