import { LakegateError } from '@lakegate/engine-api';
import type { Hono, MiddlewareHandler } from 'hono';
import type { GatewayEnv } from '../app-env.js';
import type { QueryLifecycle } from '../query/query-lifecycle.js';
import type { ReplicaBus, ReplicaStatus, SharedRunningQuery } from '../state/replica-bus.js';

export interface RunningRoutesOptions {
  readonly queries: QueryLifecycle;
  /** The other replicas' running queries and cancels; absent, only this replica's are seen. */
  readonly bus?: ReplicaBus | undefined;
  /** This replica's id. */
  readonly replicaId: () => string;
  /** Lets a tenant key or an admin key through (`admin` set for the latter). */
  readonly viewer: MiddlewareHandler<GatewayEnv>;
  /** Lets an admin key only through. */
  readonly admin: MiddlewareHandler<GatewayEnv>;
}

interface RunningRow extends SharedRunningQuery {
  readonly replica: string;
}

/**
 * What runs where: `GET /v1/running` (the caller's queries on every replica; an admin's: every tenant's, or
 * `?tenant=`'s), `POST /v1/running/{id}/cancel` (wherever it runs) and `GET /v1/admin/replicas`. Other replicas'
 * queries are as of their last heartbeat (a couple of seconds); this replica's are as of now.
 */
export function runningRoutes(app: Hono<GatewayEnv>, options: RunningRoutesOptions): void {
  const { queries, bus, replicaId, viewer, admin } = options;

  /** The other replicas as they last told, or undefined when the state store cannot be reached. */
  const others = async (): Promise<ReplicaStatus[] | undefined> => {
    if (!bus) return [];
    const self = replicaId();
    return bus.replicas().then(
      (all) => all.filter((replica) => replica.id !== self),
      () => undefined,
    );
  };

  app.get('/v1/running', viewer, async (c) => {
    const tenant = c.get('admin') ? c.req.query('tenant') : c.get('tenant');
    const self = replicaId();
    const rows: RunningRow[] = queries.running(tenant).map((query) => ({ ...query, replica: self }));
    const elsewhere = await others();
    for (const replica of elsewhere ?? []) {
      for (const query of replica.running)
        if (tenant === undefined || query.tenant === tenant) rows.push({ ...query, replica: replica.id });
    }
    rows.sort((a, b) => a.startedAt - b.startedAt);
    // Without the state store, this replica's own queries are still worth showing, marked as only part.
    return c.json({ queries: rows, ...(elsewhere ? {} : { partial: true }) }, 200, { 'Cache-Control': 'no-store' });
  });

  app.post('/v1/running/:id/cancel', viewer, async (c) => {
    const isAdmin = c.get('admin');
    const tenant = isAdmin ? undefined : c.get('tenant');
    const by = isAdmin ? 'an operator' : 'its tenant';
    const queryId = c.req.param('id');
    if (queries.cancel(queryId, tenant, by)) return c.json({ msg: 'cancelled', replica: replicaId() });
    const elsewhere = await others();
    if (!elsewhere) {
      throw new LakegateError(
        'STATE_UNAVAILABLE',
        `No query ${queryId} runs on this replica, and the others cannot be reached to cancel it there: try again.`,
        { retryAfterSeconds: 1 },
      );
    }
    const owner = elsewhere.find((replica) =>
      replica.running.some((q) => q.queryId === queryId && (tenant === undefined || q.tenant === tenant)),
    );
    if (!owner || !bus) throw new LakegateError('NOT_FOUND', `No query ${queryId} runs on any replica now.`);
    // The replica running it cancels it when it hears this; the client of the query gets QUERY_CANCELLED.
    await bus.publishQueryCancel({ queryId, tenant, by });
    return c.json({ msg: 'cancelling', replica: owner.id }, 202);
  });

  app.get('/v1/admin/replicas', admin, async (c) => {
    const replicas = bus ? await bus.replicas() : [];
    return c.json({ self: replicaId(), replicas }, 200, { 'Cache-Control': 'no-store' });
  });
}
