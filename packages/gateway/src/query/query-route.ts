import type { ServerResponse } from 'node:http';
import { LakegateError } from '@lakegate/engine-api';
import { Hono } from 'hono';
import { z } from 'zod';
import type { GatewayEnv } from '../app-env.js';
import { readJsonBody, validBody } from '../http/json-body.js';
import type { QueryInput, QueryLifecycle } from './query-lifecycle.js';
import { negotiateFormat, writeResult } from './result-writer.js';

export interface QueryRouteOptions {
  readonly service: QueryLifecycle;
  readonly defaultMaxRows: number;
  readonly maxMaxRows: number;
}

/** The body of `POST /v1/query` (also in the OpenAPI document). */
export const queryBodySchema = (maxMaxRows: number) =>
  z.strictObject({
    sql: z
      .string({ error: 'sql is required and must be a string' })
      .refine((s) => s.trim() !== '', 'sql must not be empty')
      .describe('One SQL query'),
    engine: z.string().optional().describe("The engine to run it on (else the tenant's default)"),
    maxRows: z.number().int().min(0).max(maxMaxRows).optional().describe('Rows at most in the result'),
  });

type QueryBody = z.infer<ReturnType<typeof queryBodySchema>>;
const BODY_KEYS = new Set(['sql', 'engine', 'maxRows']);

/**
 * The usual body, valid, as the schema would give it: only `sql`, `engine` and `maxRows`, each as the schema wants
 * it. Anything else is undefined, for the schema to judge and name what is wrong. A dashboard's query is checked
 * in a few µs where the schema takes tens while the gateway's code is cold from a scan.
 */
export function usualQueryBody(value: unknown, maxMaxRows: number): QueryBody | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  for (const key of Object.keys(value)) if (!BODY_KEYS.has(key)) return undefined;
  const { sql, engine, maxRows } = value as Record<string, unknown>;
  if (typeof sql !== 'string' || sql.trim() === '') return undefined;
  if (engine !== undefined && typeof engine !== 'string') return undefined;
  if (
    maxRows !== undefined &&
    !(Number.isSafeInteger(maxRows) && (maxRows as number) >= 0 && (maxRows as number) <= maxMaxRows)
  )
    return undefined;
  return value as QueryBody;
}

/**
 * How the query learns that its client left. Under Node's server, from the response's `close` before its end: the
 * request's AbortSignal would cost an AbortController and its listeners on every query.
 */
function clientWatch(
  outgoing: ServerResponse | undefined,
  request: Request,
): Pick<QueryInput, 'signal' | 'watchClient'> {
  if (!outgoing) return { signal: request.signal };
  return {
    watchClient: (cancel) =>
      outgoing.once('close', () => {
        if (!outgoing.writableFinished) {
          cancel(new LakegateError('QUERY_CANCELLED', 'The query was cancelled: its client closed the connection.'));
        }
      }),
  };
}

/** `POST /v1/query`: one-shot SQL, answered as JSON, NDJSON or CSV. */
export function queryRoute(options: QueryRouteOptions): Hono<GatewayEnv> {
  const bodySchema = queryBodySchema(options.maxMaxRows);

  return new Hono<GatewayEnv>().post('/', async function query(c) {
    options.service.refuseIfFull(c.get('tenant'));
    const json = await readJsonBody(c.req.raw, c.env?.incoming);
    const body = usualQueryBody(json, options.maxMaxRows) ?? validBody(json, bodySchema);
    const started = performance.now();
    const requestId = c.get('requestId');
    const query = await options.service.start({
      queryId: requestId,
      tenant: c.get('tenant'),
      sql: body.sql,
      engine: body.engine,
      maxRows: body.maxRows ?? options.defaultMaxRows,
      ...clientWatch(c.env?.outgoing, c.req.raw),
      protocol: 'http',
      logger: c.get('logger'),
      trace: c.get('trace'),
    });
    const { engine, stale, route, cache, rollup } = query;
    c.set('engine', engine);
    const result = await writeResult(query.stream, {
      format: negotiateFormat(c.req.header('accept')),
      maxRows: query.maxRows,
      maxBytes: query.maxBytes,
      requestId,
      encodings: query.encodings,
      stats: ({ bytes }) => ({
        elapsedMs: Math.round((performance.now() - started) * 100) / 100,
        admissionWaitMs: Math.round(query.waitMs * 100) / 100,
        bytes,
        engine,
        route,
        ...(rollup ? { rollup } : {}),
        ...(cache ? { cache } : {}),
        ...(stale ? { stale: true } : {}),
      }),
      onDone: (summary) =>
        void query.end({
          outcome: summary.outcome,
          rows: summary.rowCount,
          bytes: summary.bytes,
          truncated: summary.truncated,
          error: summary.error,
        }),
    });
    return c.body(result.body, 200, { 'Content-Type': result.contentType, 'Cache-Control': 'no-store' });
  });
}
