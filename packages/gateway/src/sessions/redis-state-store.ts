import { LakegateError } from '@lakegate/engine-api';
import { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import { FINAL_STATEMENT_STATES, type SessionRecord, type StatementRecord } from '../state/session-records.js';
import type { Page, StateStore } from './state-store.js';

export interface RedisStateStoreOptions {
  readonly url: string;
  /** Prefix of every key and channel. */
  readonly prefix: string;
  /** How long a deleted or expired session's data lingers is not configurable: it goes at once. This is how long
   * Redis keeps a session's keys past its deadline, as a backstop should every replica be down to reap it. */
  readonly graceMs: number;
  readonly logger: Logger;
}

const unavailable = (cause: unknown): LakegateError =>
  new LakegateError('STATE_UNAVAILABLE', 'The session store (Redis) is unavailable; retry shortly.', {
    cause,
    retryAfterSeconds: 2,
  });

/** The inclusive end of a Redis range for a page, or none for an empty page (-1 would mean "to the last"). */
const lastIndex = (from: number, size: number): number | undefined => (size > 0 ? from + size - 1 : undefined);

/**
 * Session state in Redis. Commands never queue while Redis is away: they fail at once with STATE_UNAVAILABLE,
 * and the client reconnects by itself in the background.
 */
export function createRedisStateStore(options: RedisStateStoreOptions): StateStore {
  const redisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    commandTimeout: 2000,
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
  };
  const redis = new Redis(options.url, redisOptions);
  const subscriber = new Redis(options.url, { ...redisOptions, enableOfflineQueue: true, commandTimeout: undefined });
  let lastState = '';
  const track = (client: Redis, name: string): void => {
    client.on('error', (error: Error) => {
      if (lastState !== `${name}:error`)
        options.logger.warn('state.redis_error', { client: name, error: error.message });
      lastState = `${name}:error`;
    });
    client.on('ready', () => {
      if (lastState !== '') options.logger.info('state.redis_ready', { client: name });
      lastState = '';
    });
  };
  track(redis, 'commands');
  track(subscriber, 'subscriber');

  const p = options.prefix;
  const k = {
    sessionSeq: `${p}seq:session`,
    session: (id: number) => `${p}session:${id}`,
    tenantSessions: (tenant: string) => `${p}sessions:${tenant}`,
    deadlines: `${p}sessions:deadline`,
    rollup: (rollup: string) => `${p}rollup:${rollup}`,
    rollupClaim: (rollup: string, start: number) => `${p}rollup-claim:${rollup}:${start}`,
    statementSeq: (sid: number) => `${p}stmt-seq:${sid}`,
    statement: (sid: number, id: number) => `${p}stmt:${sid}:${id}`,
    statements: (sid: number) => `${p}stmts:${sid}`,
    unfinished: `${p}unfinished`,
    running: (sid: number) => `${p}running:${sid}`,
    log: (sid: number) => `${p}log:${sid}`,
    result: (sid: number, id: number) => `${p}result:${sid}:${id}`,
    replica: (id: string) => `${p}replica:${id}`,
    cancel: `${p}cancel`,
  };
  const run = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (redis.status !== 'ready') throw unavailable(new Error(`redis is ${redis.status}`));
    try {
      return await fn();
    } catch (error) {
      throw unavailable(error);
    }
  };
  const parse = <T>(json: string | null): T | undefined => (json === null ? undefined : (JSON.parse(json) as T));
  /** Session keys live until the session's deadline plus the grace period. */
  const sessionKeys = (sid: number): string[] => [
    k.session(sid),
    k.statementSeq(sid),
    k.statements(sid),
    k.log(sid),
    k.running(sid),
  ];

  const cancelHandlers: ((sessionId: number, statementId: number) => void)[] = [];
  void subscriber.subscribe(k.cancel).catch(() => undefined);
  subscriber.on('message', (_channel: string, message: string) => {
    const { sessionId, statementId } = JSON.parse(message) as { sessionId: number; statementId: number };
    for (const handler of cancelHandlers) handler(sessionId, statementId);
  });

  return {
    kind: 'redis',
    nextSessionId: () => run(() => redis.incr(k.sessionSeq)),
    putSession: (session, expiresAt) =>
      run(async () => {
        const ttl = Math.max(1000, expiresAt - Date.now() + options.graceMs);
        const multi = redis.multi();
        multi.set(k.session(session.id), JSON.stringify(session), 'PX', ttl);
        multi.zadd(k.tenantSessions(session.tenant), session.id, String(session.id));
        multi.zadd(k.deadlines, expiresAt, String(session.id));
        for (const key of sessionKeys(session.id).slice(1)) multi.pexpire(key, ttl);
        await multi.exec();
      }),
    getSession: (id) => run(async () => parse<SessionRecord>(await redis.get(k.session(id)))),
    deleteSession: (session) =>
      run(async () => {
        const ids = await redis.zrange(k.statements(session.id), 0, -1);
        const multi = redis.multi();
        multi.del(
          ...sessionKeys(session.id),
          ...ids.flatMap((id) => [k.statement(session.id, Number(id)), k.result(session.id, Number(id))]),
        );
        multi.zrem(k.tenantSessions(session.tenant), String(session.id));
        multi.zrem(k.deadlines, String(session.id));
        for (const id of ids) multi.hdel(k.unfinished, `${session.id}:${id}`);
        await multi.exec();
      }),
    listSessions: (tenant, from, size) =>
      run(async () => {
        const total = await redis.zcard(k.tenantSessions(tenant));
        const end = lastIndex(from, size);
        const ids = end === undefined ? [] : await redis.zrange(k.tenantSessions(tenant), from, end);
        const records = ids.length === 0 ? [] : await redis.mget(ids.map((id) => k.session(Number(id))));
        const sessions = records.flatMap((r) => (r === null ? [] : [JSON.parse(r) as SessionRecord]));
        return { total, items: sessions } satisfies Page<SessionRecord>;
      }),
    countSessions: (tenant) => run(() => redis.zcard(k.tenantSessions(tenant))),
    expiredSessions: (now) => run(async () => (await redis.zrangebyscore(k.deadlines, '-inf', now)).map(Number)),

    nextStatementId: (sessionId) => run(async () => (await redis.incr(k.statementSeq(sessionId))) - 1),
    putStatement: (statement) =>
      run(async () => {
        const ttl = await redis.pttl(k.session(statement.sessionId));
        const multi = redis.multi();
        multi.set(
          k.statement(statement.sessionId, statement.id),
          JSON.stringify(statement),
          'PX',
          Math.max(ttl, 60_000),
        );
        multi.zadd(k.statements(statement.sessionId), statement.id, String(statement.id));
        const field = `${statement.sessionId}:${statement.id}`;
        if (FINAL_STATEMENT_STATES.has(statement.state)) multi.hdel(k.unfinished, field);
        else multi.hset(k.unfinished, field, statement.runner);
        if (statement.state === 'running' || statement.state === 'cancelling') {
          multi.sadd(k.running(statement.sessionId), String(statement.id));
          multi.pexpire(k.running(statement.sessionId), Math.max(ttl, 60_000));
        } else {
          multi.srem(k.running(statement.sessionId), String(statement.id));
        }
        await multi.exec();
      }),
    getStatement: (sessionId, id) =>
      run(async () => parse<StatementRecord>(await redis.get(k.statement(sessionId, id)))),
    listStatements: (sessionId, from, size) =>
      run(async () => {
        const total = await redis.zcard(k.statements(sessionId));
        const end = lastIndex(from, size);
        const ids = end === undefined ? [] : await redis.zrange(k.statements(sessionId), from, end);
        const records = ids.length === 0 ? [] : await redis.mget(ids.map((id) => k.statement(sessionId, Number(id))));
        return { total, items: records.flatMap((r) => (r === null ? [] : [JSON.parse(r) as StatementRecord])) };
      }),
    unfinishedStatements: () =>
      run(async () =>
        Object.entries(await redis.hgetall(k.unfinished)).map(([field, runner]) => {
          const [sessionId = 0, id = 0] = field.split(':').map(Number);
          return { sessionId, id, runner };
        }),
      ),

    runningStatements: (sessionId) => run(() => redis.scard(k.running(sessionId))),
    appendLog: (sessionId, lines) =>
      run(async () => {
        if (lines.length > 0) await redis.rpush(k.log(sessionId), ...lines);
      }),
    getLog: (sessionId, from, size) =>
      run(async () => {
        const end = lastIndex(from, size);
        return {
          total: await redis.llen(k.log(sessionId)),
          items: end === undefined ? [] : await redis.lrange(k.log(sessionId), from, end),
        };
      }),
    logTail: (sessionId, count) => run(async () => (count > 0 ? redis.lrange(k.log(sessionId), -count, -1) : [])),

    putResultPages: (sessionId, statementId, pages) =>
      run(async () => {
        if (pages.length === 0) return;
        const ttl = await redis.pttl(k.session(sessionId));
        const multi = redis.multi();
        multi.del(k.result(sessionId, statementId));
        multi.rpush(k.result(sessionId, statementId), ...pages);
        multi.pexpire(k.result(sessionId, statementId), Math.max(ttl, 60_000));
        await multi.exec();
      }),
    getResultPage: (sessionId, statementId, index) =>
      run(async () => (await redis.lindex(k.result(sessionId, statementId), index)) ?? undefined),

    publishCancel: (sessionId, statementId) =>
      run(async () => {
        await redis.publish(k.cancel, JSON.stringify({ sessionId, statementId }));
      }),
    onCancel(handler) {
      cancelHandlers.push(handler);
    },
    heartbeat: (replica, ttlMs) =>
      run(async () => {
        await redis.set(k.replica(replica), String(Date.now()), 'PX', ttlMs);
      }),
    isAlive: (replica) => run(async () => (await redis.exists(k.replica(replica))) === 1),
    rollupIntervals: (rollup) =>
      run(async () => {
        const all = await redis.hgetall(k.rollup(rollup));
        return new Map(Object.entries(all).map(([start, record]) => [Number(start), record]));
      }),
    putRollupInterval: (rollup, start, record) =>
      run(async () => {
        await redis.hset(k.rollup(rollup), String(start), record);
      }),
    claimRollupInterval: (rollup, start, owner, ttlMs) =>
      run(async () => {
        // Take the claim if free, or renew it if it is ours: one script, so two replicas never both hold it.
        const taken = await redis.eval(
          "if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end " +
            "if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end return 0",
          1,
          k.rollupClaim(rollup, start),
          owner,
          String(ttlMs),
        );
        return taken === 1;
      }),
    releaseRollupInterval: (rollup, start, owner) =>
      run(async () => {
        await redis.eval(
          "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
          1,
          k.rollupClaim(rollup, start),
          owner,
        );
      }),
    async ready(timeoutMs) {
      if (redis.status === 'ready') return true;
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        redis.once('ready', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    },
    async close() {
      redis.disconnect();
      subscriber.disconnect();
    },
  };
}
