import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRedisServer, freePort, type RedisHandle, startRedis } from '../harness/services.js';
import { writeParquet } from '../support/duckdb-data.js';
import { type GatewayProcess, startGatewayProcess } from '../support/gateway-process.js';
import { LONG_SQL, livyClient } from '../support/sessions-client.js';

const KEY = 'acme-replica-key';

/**
 * Two gateway processes sharing one real Redis: any replica serves any session, a cancel crosses replicas, a
 * SIGKILLed replica loses nothing when it restarts, and Redis can go away and come back.
 */
describe.skipIf(!findRedisServer())('sessions across two gateway replicas', () => {
  let root: string;
  let redis: RedisHandle;
  const ports: Record<'a' | 'b', number> = { a: 0, b: 0 };
  const replicas: Partial<Record<'a' | 'b', GatewayProcess>> = {};

  const config = (name: 'a' | 'b') => ({
    server: { port: ports[name], shutdownGraceMs: 1000 },
    state: { redisUrl: redis.url, replicaId: `replica-${name}`, resultsLocation: `file:${join(root, 'results')}/` },
    storage: { cacheDir: join(root, `cache-${name}`), warming: { enabled: false } },
    engines: { duckdb: { threads: 1 } },
    sessions: { smallResultBytes: 4000, reapIntervalSeconds: 0.5, outputRows: 10 },
    tenants: {
      acme: { apiKeys: [KEY], datasets: { events: { location: `file:${join(root, 'events')}/`, format: 'parquet' } } },
    },
  });
  const start = async (name: 'a' | 'b') => {
    replicas[name] = await startGatewayProcess(join(root, `replica-${name}.json`), config(name), ports[name]);
  };
  const url = (name: 'a' | 'b') => () => replicas[name]?.url ?? '';
  const a = livyClient(url('a'), KEY);
  const b = livyClient(url('b'), KEY);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-replicas-'));
    await mkdir(join(root, 'events'));
    await mkdir(join(root, 'redis'));
    await writeParquet(join(root, 'events', 'p.parquet'), 'SELECT i AS id, i * 2 AS twice FROM range(3000) t(i)');
    redis = await startRedis(undefined, join(root, 'redis'));
    ports.a = await freePort();
    ports.b = await freePort();
    await Promise.all([start('a'), start('b')]);
  }, 90_000);
  afterAll(async () => {
    await Promise.all(Object.values(replicas).map((r) => r?.kill('SIGKILL')));
    await redis?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('creates on A, submits on B, polls and pages the result on A', async () => {
    const session = (await a.call('POST', '/sessions', { kind: 'sql' })).body.id;
    const submitted = await b.call('POST', `/sessions/${session}/statements`, {
      code: 'SELECT id, twice FROM events ORDER BY id',
    });
    expect(submitted.status).toBe(201);
    const done = await a.waitFor(session, submitted.body.id);
    expect(done.state).toBe('available');
    expect(done.output.data['application/json'].data).toHaveLength(10);
    const page = await a.call(
      'GET',
      `/sessions/${session}/statements/${submitted.body.id}/result?offset=2990&limit=20`,
    );
    expect(page.body).toMatchObject({ total: 3000, rows: expect.arrayContaining([[2999, 5998]]) });
    expect(page.body.rows).toHaveLength(10);
    expect((await b.call('GET', `/sessions/${session}/log`)).body.log.join('\n')).toContain('created on replica-a');
  });

  it('cancels via B a long statement running on A, and it stops within a second', async () => {
    const session = (await a.call('POST', '/sessions', { kind: 'sql' })).body.id;
    const statement = (await a.call('POST', `/sessions/${session}/statements`, { code: LONG_SQL })).body.id;
    await b.waitFor(session, statement, (s) => s === 'running');
    expect((await b.call('GET', `/sessions/${session}`)).body.state).toBe('busy');
    const cancelledAt = Date.now();
    expect((await b.call('POST', `/sessions/${session}/statements/${statement}/cancel`)).body).toEqual({
      msg: 'canceled',
    });
    const ended = await a.waitFor(session, statement);
    expect(ended.state).toBe('cancelled');
    expect(ended.completed - cancelledAt).toBeLessThan(1000);
    // The replica that ran it is idle again and serves new statements.
    const next = (await b.call('POST', `/sessions/${session}/statements`, { code: 'SELECT 42' })).body.id;
    expect((await a.waitFor(session, next)).output.data['application/json'].data).toEqual([[42]]);
  });

  it('loses nothing when A is SIGKILLed and restarted: sessions and results stay, its running statement ends in error', async () => {
    const session = (await a.call('POST', '/sessions', { kind: 'sql', name: 'survivor' })).body.id;
    const finished = (
      await a.call('POST', `/sessions/${session}/statements`, { code: 'SELECT id FROM events ORDER BY id' })
    ).body.id;
    await a.waitFor(session, finished);
    const running = (await a.call('POST', `/sessions/${session}/statements`, { code: LONG_SQL })).body.id;
    await a.waitFor(session, running, (s) => s === 'running');

    expect(await replicas.a?.kill('SIGKILL')).toBeNull();
    // B still answers for the session meanwhile.
    expect((await b.call('GET', `/sessions/${session}`)).body).toMatchObject({ name: 'survivor' });
    await start('a');

    const ended = await a.waitFor(session, running);
    expect(ended).toMatchObject({ state: 'error', output: { status: 'error', ename: 'ENGINE_FAILURE' } });
    expect(ended.output.evalue).toMatch(/replica-a\) restarted before it finished/);
    expect((await a.call('GET', `/sessions/${session}`)).body).toMatchObject({
      id: session,
      name: 'survivor',
      state: 'idle',
    });
    const page = await a.call('GET', `/sessions/${session}/statements/${finished}/result?offset=1500&limit=2`);
    expect(page.body.rows).toEqual([[1500], [1501]]);
  });

  it('answers 503 while Redis is down, keeps one-shot queries working, and recovers when it is back', async () => {
    const session = (await b.call('POST', '/sessions', { kind: 'sql' })).body.id;
    await redis.pause();
    try {
      const started = Date.now();
      const down = await b.call('GET', `/sessions/${session}`);
      expect(down.status).toBe(503);
      expect(down.body.error.code).toBe('STATE_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(1000);
      const query = await a.call('POST', '/v1/query', { sql: 'SELECT count(*) FROM events' });
      expect(query.body.rows).toEqual([[3000]]);
    } finally {
      await redis.restart();
    }
    const deadline = Date.now() + 15_000;
    let back = await b.call('GET', `/sessions/${session}`);
    while (back.status !== 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      back = await b.call('GET', `/sessions/${session}`);
    }
    expect(back.status).toBe(200);
    const statement = (await a.call('POST', `/sessions/${session}/statements`, { code: 'SELECT 7' })).body.id;
    expect((await b.waitFor(session, statement)).output.data['application/json'].data).toEqual([[7]]);
  });
});
