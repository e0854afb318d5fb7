import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRedisServer } from '../harness/services.js';
import { LONG_SQL } from '../support/sessions-client.js';
import { ADMIN_KEY, twoReplicas } from '../support/two-replicas.js';

const KEY = 'acme-replica-key';

/**
 * Two gateway processes sharing one real Redis: any replica serves any session, a cancel crosses replicas, a
 * SIGKILLed replica loses nothing when it restarts, and Redis can go away and come back.
 */
describe.skipIf(!findRedisServer())('sessions across two gateway replicas', () => {
  const cluster = twoReplicas('lakegate-replicas-', KEY);
  const { replicas, start, url, a, b } = cluster;
  beforeAll(() => cluster.setUp(), 90_000);
  afterAll(() => cluster.tearDown());

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

  it('shows an operator both replicas, and cancels through B a one-shot query running on A', async () => {
    const as = (key: string) => ({ Authorization: `Bearer ${key}` });
    const listed = async (via: 'a' | 'b') =>
      (await (await fetch(`${url(via)()}/v1/admin/replicas`, { headers: as(ADMIN_KEY) })).json()) as {
        self: string;
        replicas: { id: string; activeQueries: number; draining: boolean }[];
      };
    const fromB = await listed('b');
    expect(fromB.self).toBe('replica-b');
    expect(fromB.replicas.map((r) => r.id)).toEqual(['replica-a', 'replica-b']);
    expect((await fetch(`${url('b')()}/v1/admin/replicas`, { headers: as(KEY) })).status).toBe(401);

    const queryId = 'replicas-cross-cancel';
    const answer = fetch(`${url('a')()}/v1/query`, {
      method: 'POST',
      headers: { ...as(KEY), 'Content-Type': 'application/json', 'X-Request-Id': queryId },
      body: JSON.stringify({ sql: LONG_SQL }),
    });
    // B sees A's query after A's next heartbeat (every 2 s), with the replica it runs on.
    let seen: { queryId: string; replica: string }[] = [];
    for (let tries = 0; tries < 60 && !seen.some((q) => q.queryId === queryId); tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      seen = ((await (await fetch(`${url('b')()}/v1/running`, { headers: as(KEY) })).json()) as { queries: [] })
        .queries;
    }
    expect(seen).toContainEqual(expect.objectContaining({ queryId, replica: 'replica-a', tenant: 'acme' }));
    expect((await listed('b')).replicas.find((r) => r.id === 'replica-a')?.activeQueries).toBe(1);

    const cancelledAt = Date.now();
    const cancel = await fetch(`${url('b')()}/v1/running/${queryId}/cancel`, {
      method: 'POST',
      headers: as(ADMIN_KEY),
    });
    expect(cancel.status).toBe(202);
    expect(await cancel.json()).toEqual({ msg: 'cancelling', replica: 'replica-a' });
    const response = await answer;
    expect(Date.now() - cancelledAt).toBeLessThan(2000);
    expect(await response.text()).toContain('QUERY_CANCELLED');
    const unknown = await fetch(`${url('b')()}/v1/running/no-such-query/cancel`, { method: 'POST', headers: as(KEY) });
    expect(unknown.status).toBe(404);
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
    await cluster.redis.pause();
    try {
      const started = Date.now();
      const down = await b.call('GET', `/sessions/${session}`);
      expect(down.status).toBe(503);
      expect(down.body.error.code).toBe('STATE_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(1000);
      const query = await a.call('POST', '/v1/query', { sql: 'SELECT count(*) FROM events' });
      expect(query.body.rows).toEqual([[3000]]);
    } finally {
      await cluster.redis.restart();
    }
    // Each replica reconnects on its own: wait until both serve the session again.
    const deadline = Date.now() + 15_000;
    for (const replica of [b, a]) {
      let back = await replica.call('GET', `/sessions/${session}`);
      while (back.status !== 200 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        back = await replica.call('GET', `/sessions/${session}`);
      }
      expect(back.status).toBe(200);
    }
    const submitted = await a.call('POST', `/sessions/${session}/statements`, { code: 'SELECT 7' });
    expect(submitted.status).toBe(201);
    expect((await b.waitFor(session, submitted.body.id)).output.data['application/json'].data).toEqual([[7]]);
  });
});
