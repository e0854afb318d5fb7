import { Hono, type MiddlewareHandler } from 'hono';
import { describe, expect, it } from 'vitest';
import type { GatewayEnv } from '../app-env.js';
import { errorHandler } from '../http/error-handler.js';
import { silentLogger } from '../logging/logger.js';
import type { QueryLifecycle, RunningQuery } from '../query/query-lifecycle.js';
import { MemoryReplicaBus } from '../state/memory-replica-bus.js';
import type { QueryCancel, ReplicaStatus } from '../state/replica-bus.js';
import { runningRoutes } from './running-routes.js';

const query = (tenant: string, queryId: string, startedAt: number): RunningQuery => ({
  tenant,
  queryId,
  sql: 'SELECT 1',
  protocol: 'http',
  startedAt,
});

const status = (id: string, running: RunningQuery[]): ReplicaStatus => ({
  id,
  startedAt: 0,
  beatAt: Date.now(),
  configVersion: 'v',
  draining: false,
  statements: { running: 0, waiting: 0 },
  running,
  activeQueries: running.length,
});

/** This replica runs acme's q-here; replica-b (as its heartbeat told) runs acme's q-there and globex's q-other. */
function setUp(bus: MemoryReplicaBus) {
  const local = [query('acme', 'q-here', 2)];
  const cancelled: string[] = [];
  const queries = {
    running: (tenant?: string) => local.filter((q) => tenant === undefined || q.tenant === tenant),
    cancel: (id: string, tenant: string | undefined) => {
      const found = local.some((q) => q.queryId === id && (tenant === undefined || q.tenant === tenant));
      if (found) cancelled.push(id);
      return found;
    },
  } as unknown as QueryLifecycle;
  // The caller's key, as the header names it: `admin` or a tenant.
  const who: MiddlewareHandler<GatewayEnv> = async (c, next) => {
    const caller = c.req.header('x-caller') ?? 'acme';
    c.set('admin', caller === 'admin');
    if (caller !== 'admin') c.set('tenant', caller);
    await next();
  };
  const app = new Hono<GatewayEnv>();
  app.onError(errorHandler(silentLogger));
  runningRoutes(app, { queries, bus, replicaId: () => 'replica-a', viewer: who, admin: who });
  const call = async (method: string, path: string, caller = 'acme') => {
    const response = await app.request(path, { method, headers: { 'x-caller': caller } });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  return { call, cancelled };
}

describe('running queries across replicas', () => {
  it('lists a tenant’s queries on every replica, and an operator’s of every tenant, oldest first', async () => {
    const bus = new MemoryReplicaBus();
    await bus.heartbeat('replica-a', 10_000, status('replica-a', [query('acme', 'q-here', 2)]));
    await bus.heartbeat(
      'replica-b',
      10_000,
      status('replica-b', [query('acme', 'q-there', 1), query('globex', 'q-other', 3)]),
    );
    const { call } = setUp(bus);
    const ids = (body: Record<string, unknown>) =>
      (body.queries as { queryId: string; replica: string }[]).map((q) => `${q.queryId}@${q.replica}`);
    expect(ids((await call('GET', '/v1/running')).body)).toEqual(['q-there@replica-b', 'q-here@replica-a']);
    expect(ids((await call('GET', '/v1/running', 'admin')).body)).toEqual([
      'q-there@replica-b',
      'q-here@replica-a',
      'q-other@replica-b',
    ]);
    expect(ids((await call('GET', '/v1/running', 'globex')).body)).toEqual(['q-other@replica-b']);
  });

  it('cancels here at once, elsewhere through the bus, and never another tenant’s query', async () => {
    const bus = new MemoryReplicaBus();
    await bus.heartbeat(
      'replica-b',
      10_000,
      status('replica-b', [query('acme', 'q-there', 1), query('globex', 'q-other', 3)]),
    );
    const heard: QueryCancel[] = [];
    bus.onQueryCancel((c) => heard.push(c));
    const { call, cancelled } = setUp(bus);
    expect(await call('POST', '/v1/running/q-here/cancel')).toEqual({
      status: 200,
      body: { msg: 'cancelled', replica: 'replica-a' },
    });
    expect(cancelled).toEqual(['q-here']);
    expect(await call('POST', '/v1/running/q-there/cancel')).toEqual({
      status: 202,
      body: { msg: 'cancelling', replica: 'replica-b' },
    });
    expect(heard).toEqual([{ queryId: 'q-there', tenant: 'acme', by: 'its tenant' }]);
    expect((await call('POST', '/v1/running/q-other/cancel')).status).toBe(404);
    expect((await call('POST', '/v1/running/q-other/cancel', 'admin')).status).toBe(202);
    expect(heard.at(-1)).toEqual({ queryId: 'q-other', tenant: undefined, by: 'an operator' });
  });

  it('shows this replica’s queries, marked partial, and refuses a remote cancel with 503 while the bus is away', async () => {
    class UnreachableBus extends MemoryReplicaBus {
      override replicas(): Promise<ReplicaStatus[]> {
        return Promise.reject(new Error('unreachable'));
      }
    }
    const { call } = setUp(new UnreachableBus());
    const listed = await call('GET', '/v1/running');
    expect(listed.body).toMatchObject({ partial: true, queries: [{ queryId: 'q-here', replica: 'replica-a' }] });
    const refused = await call('POST', '/v1/running/q-there/cancel');
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ error: { code: 'STATE_UNAVAILABLE' } });
    expect((await call('POST', '/v1/running/q-here/cancel')).status).toBe(200);
  });
});
