import { LakegateError } from '@lakegate/engine-api';
import type { Handler } from 'hono';
import type { GatewayEnv } from '../app-env.js';
import type { QueryHistory } from '../state/query-history.js';

const MAX_LIMIT = 1000;

/**
 * `GET /v1/history`: the caller's queries on every protocol, newest first, with their SQL text (`?q=` searches the
 * text, engine, outcome and code; `?outcome=`, `?limit=`). An operator's admin key sees every tenant's, each with its
 * `tenant`, filterable by `?tenant=`.
 */
export function historyHandler(history: QueryHistory): Handler<GatewayEnv> {
  return async function listHistory(c) {
    const admin = c.get('admin');
    const limitText = c.req.query('limit');
    const limit = limitText === undefined ? 100 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
      throw new LakegateError('INVALID_REQUEST', `limit must be an integer from 1 to ${MAX_LIMIT}.`);
    }
    const queries = await history.list({
      tenant: admin ? c.req.query('tenant') : c.get('tenant'),
      search: c.req.query('q'),
      outcome: c.req.query('outcome'),
      limit,
    });
    return c.json({ queries }, 200, { 'Cache-Control': 'no-store' });
  };
}
