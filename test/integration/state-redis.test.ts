import { randomUUID } from 'node:crypto';
import { type GatewayState, openRedisState, QueryOverview, silentLogger } from '@lakegate/gateway';
import { sessionRecord, statementRecord } from '@lakegate/gateway/state-contracts';
import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { startRedis } from '../harness/services.js';

/** Redis behaviour beyond the state contracts (those are in state-contracts.test.ts). */
const redisUrl = inject('redisUrl');
const t = { describe: redisUrl ? describe : describe.skip, it };

async function openReady(url: string, prefix: string): Promise<GatewayState> {
  const state = openRedisState({ url, prefix, logger: silentLogger });
  if (!(await state.ready(5000))) {
    await state.close();
    throw new Error(`Redis at ${url} did not become ready`);
  }
  return state;
}

/**
 * The key and channel names are stored data: a gateway must read what the version before it wrote. These are the
 * names literally, so a rename fails here rather than in a rolling upgrade.
 */
t.describe('Redis state layout', () => {
  it('keeps sessions, statements, logs, results, liveness, rollups and claims under the same keys', async () => {
    const prefix = `layout-${randomUUID()}:`;
    const state = await openReady(redisUrl, prefix);
    const raw = new Redis(redisUrl);
    try {
      expect(await state.sessions.nextSessionId()).toBe(0);
      expect(await raw.get(`${prefix}seq:session-id`)).toBe('0');
      const session = sessionRecord(1, 'acme');
      await state.sessions.putSession(session, 5000);
      expect(JSON.parse((await raw.get(`${prefix}session:1`)) ?? 'null')).toEqual(session);
      expect(await raw.zrange(`${prefix}sessions:acme`, 0, -1, 'WITHSCORES')).toEqual(['1', '1']);
      expect(await raw.zrange(`${prefix}sessions:deadline`, 0, -1, 'WITHSCORES')).toEqual(['1', '5000']);

      expect(await state.sessions.nextStatementId(1)).toBe(0);
      expect(await raw.get(`${prefix}stmt-seq:1`)).toBe('1');
      const statement = { ...statementRecord(1, 0, 'running'), started: 2 };
      await state.sessions.putStatement(statement);
      expect(JSON.parse((await raw.get(`${prefix}stmt:1:0`)) ?? 'null')).toEqual(statement);
      expect(await raw.zrange(`${prefix}stmts:1`, 0, -1)).toEqual(['0']);
      expect(await raw.hgetall(`${prefix}unfinished`)).toEqual({ '1:0': 'replica-a' });
      expect(await raw.smembers(`${prefix}running:1`)).toEqual(['0']);

      await state.sessions.appendLog(1, ['one', 'two']);
      expect(await raw.lrange(`${prefix}log:1`, 0, -1)).toEqual(['one', 'two']);
      await state.sessions.putResultPages(1, 0, ['[[1]]', '[[2]]']);
      expect(await raw.lrange(`${prefix}result:1:0`, 0, -1)).toEqual(['[[1]]', '[[2]]']);

      await state.bus.heartbeat('replica-a', 60_000);
      expect(Number(await raw.get(`${prefix}replica:replica-a`))).toBeGreaterThan(0);
      const heard: string[] = [];
      state.bus.onCancel((sessionId, statementId) => heard.push(`${sessionId}/${statementId}`));
      await raw.publish(`${prefix}cancel`, JSON.stringify({ sessionId: 1, statementId: 0 }));
      await expect.poll(() => heard).toEqual(['1/0']);

      await state.ledger.putRollupInterval('acme/traffic_5m', 300_000, '{"state":"done"}');
      expect(await raw.hgetall(`${prefix}rollup:acme/traffic_5m`)).toEqual({ '300000': '{"state":"done"}' });
      expect(await raw.get(`${prefix}rollup-version:acme/traffic_5m`)).toBe('1');
      expect(await raw.zrange(`${prefix}rollup-changes:acme/traffic_5m`, 0, -1, 'WITHSCORES')).toEqual(['300000', '1']);
      await state.ledger.claimRollupInterval('acme/traffic_5m', 300_000, 'replica-a', 60_000);
      expect(await raw.get(`${prefix}rollup-claim:acme/traffic_5m:300000`)).toBe('replica-a');
    } finally {
      raw.disconnect();
      await state.close();
    }
  });
});

t.describe('Redis keys of a deleted session', () => {
  it('expire when a statement that ends after the deletion writes its end and its log line', async () => {
    const prefix = `deleted-${randomUUID()}:`;
    const state = await openReady(redisUrl, prefix);
    const raw = new Redis(redisUrl);
    try {
      const session = sessionRecord(1, 'acme');
      await state.sessions.putSession(session, Date.now() + 3_600_000);
      await state.sessions.putStatement(statementRecord(1, 0, 'running'));
      await state.sessions.appendLog(1, ['statement 0 submitted']);
      await state.sessions.deleteSession(session);
      expect(await raw.exists(`${prefix}stmts:1`, `${prefix}log:1`)).toBe(0);
      // The statement ends (its runner had not yet seen the delete), and logs it.
      await state.sessions.putStatement(statementRecord(1, 0, 'available'));
      await state.sessions.appendLog(1, ['statement 0 available']);
      for (const key of [`${prefix}stmt:1:0`, `${prefix}stmts:1`, `${prefix}log:1`]) {
        const ttl = await raw.pttl(key);
        expect(ttl, key).toBeGreaterThan(0);
        expect(ttl, key).toBeLessThanOrEqual(60_000);
      }
    } finally {
      raw.disconnect();
      await state.close();
    }
  });
});

t.describe('Redis session ids across an upgrade', () => {
  it('goes on after the last id of a store that numbered sessions from 1, so none is handed out twice', async () => {
    const prefix = `upgrade-${randomUUID()}:`;
    const raw = new Redis(redisUrl);
    await raw.set(`${prefix}seq:session`, '5');
    const state = await openReady(redisUrl, prefix);
    try {
      expect([await state.sessions.nextSessionId(), await state.sessions.nextSessionId()]).toEqual([6, 7]);
    } finally {
      raw.disconnect();
      await state.close();
    }
  });
});

t.describe('Redis state after Redis was away', () => {
  it('hears cancels once Redis comes up, though it was down when the gateway started', async () => {
    const redis = await startRedis();
    const states: GatewayState[] = [];
    try {
      await redis.pause();
      const late = openRedisState({ url: redis.url, prefix: 'late:', logger: silentLogger });
      states.push(late);
      const heard: string[] = [];
      late.bus.onCancel((sessionId, statementId) => heard.push(`${sessionId}/${statementId}`));
      expect(await late.ready(300)).toBe(false);
      await redis.restart();
      expect(await late.ready(10_000)).toBe(true);
      const other = await openReady(redis.url, 'late:');
      states.push(other);
      await other.bus.publishCancel(7, 1);
      await expect.poll(() => heard).toEqual(['7/1']);
    } finally {
      for (const state of states) await state.close();
      await redis.stop();
    }
  });

  it('hears cancels again after Redis restarts', async () => {
    const redis = await startRedis();
    const states: GatewayState[] = [];
    try {
      const listener = await openReady(redis.url, 'restart:');
      states.push(listener);
      const heard: string[] = [];
      listener.bus.onCancel((sessionId, statementId) => heard.push(`${sessionId}/${statementId}`));
      await redis.restart();
      expect(await listener.ready(10_000)).toBe(true);
      const other = await openReady(redis.url, 'restart:');
      states.push(other);
      // The listener's subscriber may reconnect after its command client: publish until it hears.
      await expect
        .poll(async () => {
          if (heard.length === 0) await other.bus.publishCancel(3, 0);
          return heard[0];
        })
        .toBe('3/0');
    } finally {
      for (const state of states) await state.close();
      await redis.stop();
    }
  });
});

t.describe('query history in Redis', () => {
  it('is shared by replicas, newest first, bounded per tenant, under history:<tenant>', async () => {
    const prefix = `history-${randomUUID()}:`;
    const [a, b] = [await openReady(redisUrl, prefix), await openReady(redisUrl, prefix)];
    const limits = { maxPerTenant: 3, retentionMs: 3_600_000 };
    const tenants = () => ['acme', 'globex'];
    const historyA = a.history(limits, tenants);
    const historyB = b.history(limits, tenants);
    const raw = new Redis(redisUrl);
    try {
      const at = Date.now();
      for (let i = 0; i < 4; i++) {
        historyA.record({
          id: `q${i}`,
          tenant: 'acme',
          at: at + i,
          sql: `SELECT ${i}`,
          protocol: 'http',
          engine: 'duckdb',
          rows: 1,
          durationMs: 1,
          outcome: 'ok',
        });
      }
      historyB.record({
        id: 'g',
        tenant: 'globex',
        at,
        sql: 'SELECT 9',
        protocol: 'trino',
        engine: 'duckdb',
        rows: 1,
        durationMs: 1,
        outcome: 'ok',
      });
      // Another replica reads what this one wrote.
      await expect
        .poll(async () => (await historyB.list({ tenant: 'acme', limit: 10 })).map((e) => e.sql))
        .toEqual(['SELECT 3', 'SELECT 2', 'SELECT 1']);
      await expect.poll(async () => (await historyA.list({ limit: 10 })).length).toBe(4);
      expect(await raw.llen(`${prefix}history:acme`)).toBe(3);
      expect(await raw.pttl(`${prefix}history:acme`)).toBeGreaterThan(3_500_000);
    } finally {
      raw.disconnect();
      await Promise.all([a.close(), b.close()]);
    }
  });
});

t.describe('overview figures in Redis', () => {
  it('merges every replica’s minutes, so that any replica shows the whole gateway', async () => {
    const prefix = `overview-${randomUUID()}:`;
    const [a, b] = [await openReady(redisUrl, prefix), await openReady(redisUrl, prefix)];
    try {
      const now = Date.UTC(2026, 0, 1, 10, 0, 30);
      const [onA, onB] = [new QueryOverview(() => now), new QueryOverview(() => now)];
      for (let i = 1; i <= 10; i++) onA.record('acme', i, undefined);
      onB.record('acme', 1000, 'QUERY_TIMEOUT');
      onB.record('acme', 5, 'RATE_LIMITED');
      await onA.publish(a.overview as NonNullable<GatewayState['overview']>, 'replica-a');
      await onB.publish(b.overview as NonNullable<GatewayState['overview']>, 'replica-b');
      const seenFromA = await onA.shared(
        a.overview as NonNullable<GatewayState['overview']>,
        ['acme', 'globex'],
        () => 0,
      );
      expect(Object.keys(seenFromA)).toEqual(['acme']);
      expect(seenFromA.acme).toMatchObject([
        {
          minute: Date.UTC(2026, 0, 1, 10, 0),
          queries: 12,
          refused: 1,
          errors: { QUERY_TIMEOUT: 1, RATE_LIMITED: 1 },
          p99Ms: 1000,
        },
      ]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
