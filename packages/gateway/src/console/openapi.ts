import { z } from 'zod';
import type { GatewayConfig } from '../config/config.js';
import { queryBodySchema } from '../query/query-route.js';
import { rangeSchema } from '../rollups/rollups-route.js';
import { createSchema, statementSchema } from '../sessions/sessions-route.js';

type Operation = {
  readonly summary: string;
  readonly security?: readonly Record<string, readonly string[]>[];
  readonly requestBody?: unknown;
  readonly parameters?: readonly unknown[];
  readonly responses: Record<string, unknown>;
};

const json = (schema: z.ZodType): unknown => ({
  required: true,
  content: { 'application/json': { schema: z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) } },
});
const ok = (description: string) => ({ '200': { description }, default: { $ref: '#/components/responses/Error' } });
const path = (name: string, description: string) => ({
  name,
  in: 'path',
  required: true,
  description,
  schema: { type: 'string' },
});
const queryParam = (name: string, description: string) => ({
  name,
  in: 'query',
  required: false,
  description,
  schema: { type: 'string' },
});
const PUBLIC: readonly Record<string, readonly string[]>[] = [];
const ADMIN: readonly Record<string, readonly string[]>[] = [{ adminKey: [] }];

/**
 * The gateway's OpenAPI 3.1 document, with request bodies from the same zod schemas that validate them (served at
 * `/openapi.json`, and rendered by the console's API page).
 */
export function openApiDocument(config: GatewayConfig): Record<string, unknown> {
  const paths: Record<string, Record<string, Operation>> = {
    '/v1/query': {
      post: {
        summary:
          'Run one SQL query; the result as JSON, NDJSON (Accept: application/x-ndjson) or CSV (Accept: text/csv)',
        requestBody: json(queryBodySchema(config.query.maxMaxRows)),
        responses: ok('The result: columns, rows, rowCount, truncated, stats (or an error record after rows)'),
      },
    },
    '/v1/history': {
      get: {
        summary: "The caller's queries on every protocol, newest first, with their SQL (an admin key: every tenant's)",
        parameters: [
          queryParam('q', 'Text to find in the SQL, engine, outcome or code'),
          queryParam('tenant', 'Admin only: one tenant'),
          queryParam('outcome', 'ok, error or cancelled'),
          queryParam('limit', '1 to 1000 (100)'),
        ],
        responses: ok('{ queries: [...] }'),
      },
    },
    '/v1/overview': {
      get: {
        summary: 'Queries per minute, p50/p99, errors and refusals per tenant over the last hour',
        responses: ok('{ tenants: { <tenant>: [minute, ...] } }'),
      },
    },
    '/v1/running': {
      get: {
        summary:
          "Queries running now on every replica (others' as of their last heartbeat): the caller's (an admin key: every tenant's)",
        parameters: [queryParam('tenant', 'Admin only: one tenant')],
        responses: ok('{ queries: [{ tenant, queryId, sql, protocol, startedAt, replica }], partial? }'),
      },
    },
    '/v1/running/{id}/cancel': {
      post: {
        summary: "Cancel a running query on whichever replica runs it (a tenant's own; an admin key: any)",
        parameters: [path('id', 'The query id')],
        responses: ok('{ msg: "cancelled", replica } (this replica), or 202 { msg: "cancelling", replica } (another)'),
      },
    },
    '/v1/admin/replicas': {
      get: {
        summary: 'Every replica alive: start, heartbeat, queries and statements running, config version (admin key)',
        security: ADMIN,
        responses: ok('{ self, replicas: [...] }'),
      },
    },
    '/v1/admin/sessions': {
      get: { summary: "Every tenant's Livy sessions (admin key)", security: ADMIN, responses: ok('{ sessions }') },
    },
    '/v1/admin/sessions/{tenant}/{id}': {
      delete: {
        summary: "Close any tenant's session (admin key)",
        security: ADMIN,
        parameters: [path('tenant', 'Tenant'), path('id', 'Session id')],
        responses: ok('{ msg: "deleted" }'),
      },
    },
    '/v1/whoami': {
      get: { summary: 'Whose key this is: { tenant } or { admin: true }', responses: ok('The identity') },
    },
    '/v1/datasets': {
      get: {
        summary: "The caller's datasets: version, files, bytes, cached bytes, last refresh, availability",
        responses: ok('{ datasets: [...] }'),
      },
    },
    '/v1/datasets/{name}/refresh': {
      post: {
        summary: 'List a dataset again now',
        parameters: [path('name', 'Dataset')],
        responses: ok('The dataset after the refresh'),
      },
    },
    '/v1/datasets/{name}/warm': {
      post: {
        summary: "Prefetch a dataset's files into the cache",
        parameters: [path('name', 'Dataset')],
        responses: ok('What was warmed'),
      },
    },
    '/v1/warming': {
      get: {
        summary: "What the cache's warming policy does with each of the caller's datasets now, and why",
        responses: ok('{ plan: [{ dataset, likelihood, decision, reason }] }'),
      },
    },
    '/v1/cache/trend': {
      get: {
        summary: "The caller's file cache hit ratio per minute over the last hour",
        responses: ok('{ minutes: [{ minute, hits, misses, hitRatio }] }'),
      },
    },
    '/v1/cache': {
      get: {
        summary: "The caller's cache figures: hits, misses, origin bytes, bytes served, evictions",
        responses: ok('Cache figures'),
      },
    },
    '/v1/rollups': {
      get: {
        summary: "The caller's rollups: intervals by state, holes, lag, last audit",
        responses: ok('{ rollups: [...] }'),
      },
    },
    '/v1/rollups/{name}': {
      get: {
        summary: 'One rollup with every interval',
        parameters: [path('name', 'Rollup')],
        responses: ok('{ rollup }'),
      },
    },
    '/v1/rollups/{name}/backfill': {
      post: {
        summary: "Mark a range's intervals for recomputation",
        parameters: [path('name', 'Rollup')],
        requestBody: { ...(json(rangeSchema) as object), required: false },
        responses: { '202': { description: 'Intervals marked' } },
      },
    },
    '/v1/rollups/{name}/audit': {
      get: {
        summary: 'Every audited interval: intervalStart, rawRows, rollupRows, ok (and scopes for a PostgreSQL source)',
        parameters: [path('name', 'Rollup')],
        responses: ok('{ rollup, audits, mismatches }'),
      },
      post: {
        summary: 'Audit a range now',
        parameters: [path('name', 'Rollup')],
        requestBody: { ...(json(rangeSchema) as object), required: false },
        responses: ok('Audits'),
      },
    },
    '/sessions': {
      get: { summary: "The caller's Livy sessions", responses: ok('{ from, total, sessions }') },
      post: {
        summary: 'Open a Livy session (kind sql)',
        requestBody: json(createSchema),
        responses: { '201': { description: 'The session' } },
      },
    },
    '/sessions/{id}': {
      get: { summary: 'One session', parameters: [path('id', 'Session id')], responses: ok('The session') },
      delete: {
        summary: 'Close a session, cancelling its statements',
        parameters: [path('id', 'Session id')],
        responses: ok('{ msg: "deleted" }'),
      },
    },
    '/sessions/{id}/statements': {
      get: {
        summary: "A session's statements",
        parameters: [path('id', 'Session id')],
        responses: ok('{ statements }'),
      },
      post: {
        summary: 'Submit a statement',
        parameters: [path('id', 'Session id')],
        requestBody: json(statementSchema),
        responses: { '201': { description: 'The statement, waiting' } },
      },
    },
    '/sessions/{id}/statements/{statementId}': {
      get: {
        summary: 'A statement: state, progress, output',
        parameters: [path('id', 'Session id'), path('statementId', 'Statement id')],
        responses: ok('The statement'),
      },
    },
    '/sessions/{id}/statements/{statementId}/cancel': {
      post: {
        summary: 'Cancel a statement',
        parameters: [path('id', 'Session id'), path('statementId', 'Statement id')],
        responses: ok('{ msg: "canceled" }'),
      },
    },
    '/sessions/{id}/statements/{statementId}/result': {
      get: {
        summary: "A page of a statement's full result",
        parameters: [
          path('id', 'Session id'),
          path('statementId', 'Statement id'),
          queryParam('offset', 'First row'),
          queryParam('limit', 'Rows'),
        ],
        responses: ok('{ rows, total }'),
      },
    },
    '/v1/statement': {
      post: {
        summary: "Trino protocol: submit a query (Trino's clients and drivers)",
        responses: ok('A Trino QueryResults document'),
      },
    },
    '/v1/admin/reload': {
      post: {
        summary: 'Read the configuration again and apply it (admin key)',
        security: ADMIN,
        responses: ok('{ version, datasets, restartNeeded }'),
      },
    },
    '/readyz': {
      get: {
        summary: "Readiness, and each engine's health",
        security: PUBLIC,
        responses: { '200': { description: 'Ready' }, '503': { description: 'Draining or closed' } },
      },
    },
    '/livez': { get: { summary: 'Liveness', security: PUBLIC, responses: { '200': { description: 'Alive' } } } },
    '/metrics': {
      get: {
        summary: 'Prometheus metrics',
        security: PUBLIC,
        responses: { '200': { description: 'Text exposition format' } },
      },
    },
  };
  return {
    openapi: '3.1.0',
    info: { title: 'Lakegate', version: '0.1.0', description: 'Multi-tenant SQL-over-HTTP query gateway' },
    security: [{ tenantKey: [] }],
    components: {
      securitySchemes: {
        tenantKey: { type: 'http', scheme: 'bearer', description: "A tenant's API key" },
        adminKey: { type: 'http', scheme: 'bearer', description: 'An operator key (admin.apiKeys)' },
      },
      responses: {
        Error: {
          description: 'An error with a stable code',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: {
                  error: {
                    type: 'object',
                    properties: {
                      code: { type: 'string' },
                      message: { type: 'string' },
                      requestId: { type: 'string' },
                      details: { type: 'object' },
                    },
                    required: ['code', 'message'],
                  },
                },
              },
            },
          },
        },
      },
    },
    paths,
  };
}
