import { LakegateError } from '@lakegate/engine-api';
import { type Context, Hono } from 'hono';
import type { GatewayEnv } from '../app-env.js';
import type { QueryLifecycle } from '../query/query-lifecycle.js';
import { renderPage, TrinoQuery, type TrinoQueryRegistry } from './trino-query.js';

export interface TrinoRouteOptions {
  readonly queries: QueryLifecycle;
  readonly registry: TrinoQueryRegistry;
  readonly pageRows: number;
  readonly pageBytes: number;
  /** How long a GET of nextUri waits for data before answering with no data and the next nextUri. */
  readonly maxWaitMs: number;
  /** The URL nextUri and infoUri start with (`trino.publicUrl`); by default, each request's own origin. */
  readonly publicUrl?: string | undefined;
}

const token = (value: string): number => {
  if (!/^\d{1,9}$/.test(value)) throw new LakegateError('NOT_FOUND', `Bad token ${value}.`);
  return Number(value);
};

/**
 * Trino's client protocol: POST /v1/statement, then GET nextUri until there is none; DELETE cancels. Catalog
 * `lakegate`, schema = the tenant, tables = its datasets. Authentication is the gateway's (Bearer, or Basic with
 * the tenant as user and the API key as password); the `X-Trino-User` header alone never authenticates.
 */
export function trinoRoutes(options: TrinoRouteOptions): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  const base = (url: string): string => options.publicUrl ?? new URL(url).origin;

  app.post('/statement', async function submitStatement(c) {
    // A tenant whose queue is full is refused before anything is kept for its query.
    options.queries.refuseIfFull(c.get('tenant'));
    const sql = decodeSql(new Uint8Array(await c.req.arrayBuffer())).trim();
    if (sql === '') throw new LakegateError('INVALID_REQUEST', 'The request body must be the SQL text.');
    const logger = c.get('logger');
    const query = new TrinoQuery({
      tenant: c.get('tenant'),
      sql,
      queries: options.queries,
      schema: c.req.header('x-trino-schema') || undefined,
      catalog: c.req.header('x-trino-catalog') || undefined,
      user: c.req.header('x-trino-user') ?? c.get('tenant'),
      source: c.req.header('x-trino-source'),
      pageRows: options.pageRows,
      pageBytes: options.pageBytes,
      trace: c.get('trace'),
      logger,
    });
    logger.info('trino.query', {
      queryId: query.id,
      source: c.req.header('x-trino-source'),
      clientTags: c.req.header('x-trino-client-tags'),
      traceToken: c.req.header('x-trino-trace-token'),
    });
    const overloaded = await query.refusedForOverload(20);
    if (overloaded) throw overloaded;
    options.registry.add(query);
    return c.json(query.initial(base(c.req.url)));
  });

  const page = async function fetchPage(c: Context<GatewayEnv>) {
    const query = options.registry.get(c.req.param('id') ?? '', c.get('tenant'));
    if (c.req.param('slug') !== query.slug) throw new LakegateError('NOT_FOUND', `Query ${query.id} has no such page.`);
    const page = await query.page(token(c.req.param('token') ?? ''), base(c.req.url), options.maxWaitMs);
    // Session changes (SET SESSION, USE) travel as headers on the response that completes the statement.
    return c.body(renderPage(page), 200, {
      'Content-Type': 'application/json',
      // Only the last page (no nextUri) carries them.
      ...(page.results.nextUri === undefined ? query.headers : {}),
    });
  };
  app.get('/statement/queued/:id/:slug/:token', page);
  app.get('/statement/executing/:id/:slug/:token', page);

  const cancel = function cancelQuery(c: Context<GatewayEnv>) {
    const query = options.registry.get(c.req.param('id') ?? '', c.get('tenant'));
    const slug = c.req.param('slug');
    if (slug !== undefined && slug !== query.slug)
      throw new LakegateError('NOT_FOUND', `Query ${query.id} has no such page.`);
    options.registry.remove(query);
    return c.body(null, 204);
  };
  app.delete('/statement/queued/:id/:slug/:token', cancel);
  app.delete('/statement/executing/:id/:slug/:token', cancel);
  // Partial cancel stops one stage in Trino; Lakegate has one stage per query, which the final cancel stops.
  app.delete('/statement/executing/partialCancel/:id/:stage/:slug/:token', (c) => c.body(null, 204));

  app.get('/query/:id', function queryInfo(c) {
    const query = options.registry.get(c.req.param('id') ?? '', c.get('tenant'));
    return c.json(query.info(base(c.req.url)));
  });
  app.delete('/query/:id', cancel);

  return app;
}

/**
 * The statement's text, refused when it is not UTF-8: decoding would put replacement characters in its place, and
 * the query run would not be the one the client sent.
 */
function decodeSql(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new LakegateError('INVALID_SQL', 'The statement is not valid UTF-8: send the SQL text encoded as UTF-8.');
  }
}
