import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type RunningGateway, silentLogger, startGateway } from '@lakegate/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRedisServer, type RedisHandle, startRedis } from '../harness/services.js';
import { writeParquet } from '../support/duckdb-data.js';
import { LONG_SQL, livyClient } from '../support/sessions-client.js';

const ACME = 'acme-session-key';
const GLOBEX = 'globex-session-key';
const redisAvailable = findRedisServer() !== undefined;

/** The Livy contract, every endpoint, field and state transition, against the memory store and a real Redis. */
describe.each(['memory', 'redis'] as const)('sessions and statements (%s state)', (kind) => {
  const skip = kind === 'redis' && !redisAvailable;
  let root: string;
  let redis: RedisHandle | undefined;
  let gateway: RunningGateway;
  const acme = livyClient(() => gateway.url, ACME);
  const globex = livyClient(() => gateway.url, GLOBEX);

  beforeAll(async () => {
    if (skip) return;
    root = await mkdtemp(join(tmpdir(), `lakegate-sessions-${kind}-`));
    await mkdir(join(root, 'events'));
    await writeParquet(join(root, 'events', 'p.parquet'), "SELECT i AS id, 'name-' || i AS name FROM range(5000) t(i)");
    if (kind === 'redis') redis = await startRedis();
    const config = parseConfig(
      {
        server: { port: 0 },
        state: { ...(redis ? { redisUrl: redis.url } : {}), resultsLocation: `file:${join(root, 'results')}/` },
        storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
        engines: { duckdb: { threads: 1 } },
        sessions: {
          maxSessionsPerTenant: 5,
          maxConcurrentStatementsPerTenant: 1,
          outputRows: 100,
          smallResultBytes: 20_000,
          statementTimeoutMs: 3000,
          reapIntervalSeconds: 0.2,
          // Long enough for a short statement on a loaded machine; long ones answer after it, still running.
          submitWaitMs: 500,
        },
        tenants: {
          acme: { apiKeys: [ACME], datasets: { events: { location: 'file:./events/', format: 'parquet' } } },
          globex: { apiKeys: [GLOBEX], datasets: {} },
        },
      },
      { baseDir: root },
    );
    gateway = await startGateway({ config, logger: silentLogger });
  });
  afterAll(async () => {
    await gateway?.close();
    await redis?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  const newSession = async (body: Record<string, unknown> = { kind: 'sql' }) => {
    const created = await acme.call('POST', '/sessions', body);
    expect(created.status).toBe(201);
    return created.body.id as number;
  };
  const submit = async (session: number, code: string) => {
    const submitted = await acme.call('POST', `/sessions/${session}/statements`, { code });
    expect(submitted.status).toBe(201);
    return submitted.body.id as number;
  };

  it.skipIf(skip)(
    'answers a statement that ends within sessions.submitWaitMs ended, and a longer one waiting',
    async () => {
      const session = await newSession();
      // The tenant's engine opens at its first query (longer than the wait): opened here.
      await acme.call('POST', '/v1/query', { sql: 'SELECT count(*) FROM events' });
      const quick = await acme.call('POST', `/sessions/${session}/statements`, { code: 'SELECT count(*) FROM events' });
      expect(quick.status).toBe(201);
      // Ended within submitWaitMs: the client has its output without polling.
      expect(quick.body).toMatchObject({
        state: 'available',
        progress: 1,
        output: { status: 'ok', data: { 'application/json': { data: [[5000]] } } },
      });
      expect((await acme.call('GET', `/sessions/${session}/statements/${quick.body.id}`)).body).toEqual(quick.body);
      const slow = await acme.call('POST', `/sessions/${session}/statements`, {
        code: 'SELECT count(*) FROM range(10000000000) t(i) WHERE i % 7 = 3',
      });
      expect(slow.body.state).toMatch(/^(waiting|running)$/);
      expect(slow.body.output).toBeNull();
      await acme.call('POST', `/sessions/${session}/statements/${slow.body.id}/cancel`);
      await acme.call('DELETE', `/sessions/${session}`);
    },
  );

  it.skipIf(skip)(
    'creates a session with Livy’s fields, readable, listable and deletable by its owner only',
    async () => {
      const created = await acme.call('POST', '/sessions', {
        kind: 'sql',
        name: 'notebook',
        proxyUser: 'ann',
        conf: { a: 'b' },
        ttl: '10m',
      });
      expect(created.status).toBe(201);
      const session = created.body;
      expect(Number.isInteger(session.id)).toBe(true);
      expect(created.headers.get('location')).toBe(`/sessions/${session.id}`);
      expect(session).toMatchObject({
        name: 'notebook',
        owner: 'acme',
        proxyUser: 'ann',
        kind: 'sql',
        engine: null,
        state: 'idle',
        appId: null,
        ttl: '10m',
        idleTimeout: '1h',
      });
      expect(session).toHaveProperty('appInfo');
      expect(session.log[0]).toMatch(/session \d+ created/);

      expect((await acme.call('GET', `/sessions/${session.id}`)).body).toMatchObject({ id: session.id, state: 'idle' });
      expect((await acme.call('GET', `/sessions/${session.id}/state`)).body).toEqual({ id: session.id, state: 'idle' });
      const log = await acme.call('GET', `/sessions/${session.id}/log?from=0&size=10`);
      expect(log.body).toMatchObject({ id: session.id, from: 0, total: 1 });
      const list = await acme.call('GET', '/sessions?from=0&size=100');
      expect(list.body.from).toBe(0);
      expect(list.body.sessions.map((s: { id: number }) => s.id)).toContain(session.id);
      expect(list.body.total).toBe(list.body.sessions.length);

      // Another tenant sees nothing: every endpoint answers 404, never 403.
      expect((await globex.call('GET', '/sessions')).body).toMatchObject({ total: 0, sessions: [] });
      for (const [method, path] of [
        ['GET', `/sessions/${session.id}`],
        ['GET', `/sessions/${session.id}/state`],
        ['GET', `/sessions/${session.id}/log`],
        ['GET', `/sessions/${session.id}/statements`],
        ['POST', `/sessions/${session.id}/statements`],
        ['GET', `/sessions/${session.id}/statements/0`],
        ['POST', `/sessions/${session.id}/statements/0/cancel`],
        ['GET', `/sessions/${session.id}/statements/0/result`],
        ['DELETE', `/sessions/${session.id}`],
      ] as const) {
        const response = await globex.call(method, path, method === 'POST' ? { code: 'SELECT 1' } : undefined);
        expect(response.status, `${method} ${path}`).toBe(404);
        expect(response.body.error.code).toBe('NOT_FOUND');
      }

      expect((await acme.call('DELETE', `/sessions/${session.id}`)).body).toEqual({ msg: 'deleted' });
      expect((await acme.call('GET', `/sessions/${session.id}`)).status).toBe(404);
    },
  );

  it.skipIf(skip)('refuses bad session requests with clear errors', async () => {
    for (const [body, code] of [
      [{ kind: 'pyspark' }, 'INVALID_REQUEST'],
      [{ kind: 'sql', ttl: 'forever' }, 'INVALID_REQUEST'],
      [{ kind: 'sql', engine: 'spark' }, 'INVALID_REQUEST'],
      [{ kind: 'sql', conf: 'x' }, 'INVALID_REQUEST'],
    ] as const) {
      const response = await acme.call('POST', '/sessions', body);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe(code);
    }
    expect((await acme.call('GET', '/sessions/abc')).status).toBe(404);
    expect((await acme.call('GET', '/sessions?size=-1')).status).toBe(400);
    const session = await newSession();
    expect((await acme.call('POST', `/sessions/${session}/statements`, { code: '' })).status).toBe(400);
    expect((await acme.call('POST', `/sessions/${session}/statements`, {})).status).toBe(400);
    expect((await acme.call('GET', `/sessions/${session}/statements/99`)).status).toBe(404);
    await acme.call('DELETE', `/sessions/${session}`);
  });

  it.skipIf(skip)('runs statements in order, one at a time, with Livy’s output, states and times', async () => {
    const session = await newSession();
    const slow = await submit(session, 'SELECT count(*) AS n FROM range(300000000) t(i) WHERE i % 3 = 1');
    const quick = await submit(session, 'SELECT id, name FROM events ORDER BY id LIMIT 2');
    const failing = await submit(session, 'SELECT nope FROM events');
    const first = await acme.waitFor(session, slow);
    const second = await acme.waitFor(session, quick);
    const third = await acme.waitFor(session, failing);
    expect(first).toMatchObject({ state: 'available', progress: 1 });
    expect(second.started).toBeGreaterThanOrEqual(first.completed);
    expect(third.started).toBeGreaterThanOrEqual(second.completed);
    expect(second).toMatchObject({
      id: quick,
      code: 'SELECT id, name FROM events ORDER BY id LIMIT 2',
      state: 'available',
      output: {
        status: 'ok',
        execution_count: quick,
        data: {
          'application/json': {
            schema: {
              type: 'struct',
              fields: [
                { name: 'id', type: 'long', nullable: true, metadata: {} },
                { name: 'name', type: 'string', nullable: true, metadata: {} },
              ],
            },
            data: [
              [0, 'name-0'],
              [1, 'name-1'],
            ],
          },
        },
      },
    });
    // A result shown whole says nothing of truncation.
    expect(second.output.data['application/json']).not.toHaveProperty('truncated');
    expect(second.completed).toBeGreaterThanOrEqual(second.started);
    expect(third).toMatchObject({
      state: 'error',
      output: { status: 'error', execution_count: failing, ename: 'INVALID_SQL', traceback: [] },
    });
    expect(third.output.evalue).toContain('nope');
    const list = await acme.call('GET', `/sessions/${session}/statements?from=1&size=5`);
    expect(list.body.total_statements).toBe(3);
    expect(list.body.statements.map((s: { id: number }) => s.id)).toEqual([quick, failing]);
    const none = await acme.call('GET', `/sessions/${session}/statements?from=0&size=0`);
    expect(none.body).toMatchObject({ total_statements: 3, statements: [] });
    expect((await acme.call('GET', `/sessions/${session}/log?from=0&size=0`)).body.log).toEqual([]);
    expect((await acme.call('GET', `/sessions/${session}/state`)).body.state).toBe('idle');
    const log = (await acme.call('GET', `/sessions/${session}/log`)).body.log.join('\n');
    expect(log).toMatch(/statement 2 failed: INVALID_SQL/);
    const latest = (await acme.call('GET', `/sessions/${session}`)).body.log as string[];
    expect(latest.at(-1)).toMatch(/statement 2 failed: INVALID_SQL/);
    await acme.call('DELETE', `/sessions/${session}`);
  });

  it.skipIf(skip)('pages through large results as JSON, NDJSON and CSV', async () => {
    const session = await newSession();
    const statement = await submit(session, 'SELECT id, name FROM events ORDER BY id');
    const done = await acme.waitFor(session, statement);
    const output = done.output.data['application/json'];
    expect(output.data).toHaveLength(100);
    // The output says it holds part of the result, how much there is, and where the rest is.
    expect(output).toMatchObject({
      truncated: true,
      total_rows: 5000,
      result_url: `/sessions/${session}/statements/${statement}/result`,
    });
    const page = await acme.call('GET', `${output.result_url}?offset=4998&limit=10`);
    expect(page.body).toMatchObject({
      offset: 4998,
      total: 5000,
      truncated: false,
      rows: [
        [4998, 'name-4998'],
        [4999, 'name-4999'],
      ],
    });
    expect(page.body.columns).toEqual([
      { name: 'id', type: 'long' },
      { name: 'name', type: 'string' },
    ]);
    const middle = await acme.call('GET', `/sessions/${session}/statements/${statement}/result?offset=999&limit=3`);
    expect(middle.body.rows.map((r: number[]) => r[0])).toEqual([999, 1000, 1001]);
    const ndjson = await acme.call(
      'GET',
      `/sessions/${session}/statements/${statement}/result?offset=0&limit=2`,
      undefined,
      {
        Accept: 'application/x-ndjson',
      },
    );
    expect(String(ndjson.body).trim().split('\n').slice(1)).toEqual(['[0,"name-0"]', '[1,"name-1"]']);
    const csv = await acme.call('GET', `/sessions/${session}/statements/${statement}/result?limit=2`, undefined, {
      Accept: 'text/csv',
    });
    expect(csv.body).toBe('id,name\n0,name-0\n1,name-1\n');
    // This result was over smallResultBytes: its pages went to the results location, not the state store.
    expect((await readdir(join(root, 'results', 'acme', String(session), String(statement)))).length).toBe(5);
    const failed = await submit(session, 'SELECT nope');
    await acme.waitFor(session, failed);
    expect((await acme.call('GET', `/sessions/${session}/statements/${failed}/result`)).status).toBe(404);
    await acme.call('DELETE', `/sessions/${session}`);
    await expect(readdir(join(root, 'results', 'acme', String(session)))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it.skipIf(skip)('cancels running and waiting statements, and ends over-long ones with QUERY_TIMEOUT', async () => {
    const session = await newSession();
    const running = await submit(session, LONG_SQL);
    const waiting = await submit(session, 'SELECT 1');
    await acme.waitFor(session, running, (s) => s === 'running');
    expect((await acme.call('GET', `/sessions/${session}/state`)).body.state).toBe('busy');
    expect((await acme.call('GET', `/sessions/${session}/statements/${waiting}`)).body.state).toBe('waiting');
    const cancelledAt = Date.now();
    expect((await acme.call('POST', `/sessions/${session}/statements/${waiting}/cancel`)).body).toEqual({
      msg: 'canceled',
    });
    expect((await acme.call('POST', `/sessions/${session}/statements/${running}/cancel`)).body).toEqual({
      msg: 'canceled',
    });
    const stopped = await acme.waitFor(session, running);
    expect(stopped).toMatchObject({ state: 'cancelled', output: null });
    expect(Date.now() - cancelledAt).toBeLessThan(1000);
    expect((await acme.waitFor(session, waiting)).state).toBe('cancelled');
    // Cancelling a finished statement changes nothing.
    await acme.call('POST', `/sessions/${session}/statements/${running}/cancel`);
    expect((await acme.call('GET', `/sessions/${session}/statements/${running}`)).body.state).toBe('cancelled');

    const timed = await submit(session, LONG_SQL);
    const ended = await acme.waitFor(session, timed);
    expect(ended).toMatchObject({ state: 'error', output: { ename: 'QUERY_TIMEOUT' } });
    await acme.call('DELETE', `/sessions/${session}`);
  });

  it.skipIf(skip)('limits sessions and concurrent statements per tenant', async () => {
    const a = await newSession();
    const b = await newSession();
    const long = await submit(a, LONG_SQL);
    await acme.waitFor(a, long, (s) => s === 'running');
    const other = await submit(b, 'SELECT 1');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await acme.call('GET', `/sessions/${b}/statements/${other}`)).body.state).toBe('waiting');
    await acme.call('POST', `/sessions/${a}/statements/${long}/cancel`);
    expect((await acme.waitFor(b, other)).state).toBe('available');

    const extra: number[] = [];
    for (;;) {
      const response = await acme.call('POST', '/sessions', { kind: 'sql' });
      if (response.status !== 201) {
        expect(response.status).toBe(429);
        expect(response.body.error.code).toBe('RATE_LIMITED');
        break;
      }
      extra.push(response.body.id);
    }
    expect((await acme.call('GET', '/sessions')).body.total).toBe(5);
    for (const id of [a, b, ...extra]) await acme.call('DELETE', `/sessions/${id}`);
  });

  it.skipIf(skip)('reaps sessions past their idle timeout', async () => {
    const session = await newSession({ kind: 'sql', idleTimeout: '1s' });
    expect((await acme.call('GET', `/sessions/${session}`)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect((await acme.call('GET', `/sessions/${session}`)).status).toBe(404);
  });

  it.skipIf(kind !== 'redis' || skip)(
    'answers STATE_UNAVAILABLE at once while Redis is down, keeps serving one-shot queries, and reconnects',
    async () => {
      const session = await newSession();
      await redis?.pause();
      try {
        const started = Date.now();
        const response = await acme.call('GET', `/sessions/${session}`);
        expect(response.status).toBe(503);
        expect(response.body.error.code).toBe('STATE_UNAVAILABLE');
        expect(response.headers.get('retry-after')).toBeTruthy();
        expect(Date.now() - started).toBeLessThan(1000);
        const query = await acme.call('POST', '/v1/query', { sql: 'SELECT count(*) FROM events' });
        expect(query.status).toBe(200);
        expect(query.body.rows).toEqual([[5000]]);
      } finally {
        await redis?.restart();
      }
      // Redis came back empty (no persistence in tests): the client reconnects and new sessions work.
      const deadline = Date.now() + 10_000;
      let status = 0;
      while (Date.now() < deadline) {
        status = (await acme.call('POST', '/sessions', { kind: 'sql' })).status;
        if (status === 201) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(status).toBe(201);
    },
  );
});
