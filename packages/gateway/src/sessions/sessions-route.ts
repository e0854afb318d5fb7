import { LakegateError } from '@lakegate/engine-api';
import { Hono } from 'hono';
import { z } from 'zod';
import type { GatewayEnv } from '../app-env.js';
import { readJsonBody, validBody } from '../http/json-body.js';
import { quoteCsv } from '../query/encode-values.js';
import { CONTENT_TYPES, negotiateFormat } from '../query/result-writer.js';
import type { SessionRecord, StatementRecord } from '../state/session-records.js';
import type { SessionService } from './session-service.js';

const LOG_LINES_IN_SESSION = 10;

/** Livy's session JSON. */
async function sessionJson(service: SessionService, session: SessionRecord) {
  const log = await service.logTail(session, LOG_LINES_IN_SESSION);
  return {
    id: session.id,
    name: session.name,
    owner: session.tenant,
    proxyUser: session.proxyUser,
    kind: session.kind,
    engine: session.engine,
    state: session.state,
    appId: null,
    appInfo: { driverLogUrl: null, sparkUiUrl: null },
    log,
    ttl: session.ttl,
    idleTimeout: session.idleTimeout,
    conf: session.conf,
  };
}

/** Livy's statement JSON. */
function statementJson(statement: StatementRecord) {
  return {
    id: statement.id,
    code: statement.code,
    state: statement.state,
    output: statement.output,
    progress: statement.progress,
    started: statement.started,
    completed: statement.completed,
  };
}

const integer = (value: string | undefined, fallback: number, name: string, max = Number.MAX_SAFE_INTEGER): number => {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > max) {
    throw new LakegateError('INVALID_REQUEST', `${name} must be a whole number from 0 to ${max}.`);
  }
  return n;
};

/** A path id: anything but a whole number names no session. */
const idOf = (value: string, what: string): number => {
  if (!/^\d{1,15}$/.test(value)) throw new LakegateError('NOT_FOUND', `${what} ${value} does not exist.`);
  return Number(value);
};

/** The body of `POST /sessions` (also in the OpenAPI document). */
export const createSchema = z.object({
  kind: z.string().optional(),
  name: z.string().max(200).optional(),
  proxyUser: z.string().max(200).optional(),
  engine: z.string().optional(),
  conf: z.record(z.string(), z.string()).optional(),
  ttl: z.union([z.string(), z.number()]).optional(),
  idleTimeout: z.union([z.string(), z.number()]).optional(),
});
/** The body of `POST /sessions/{id}/statements`. */
export const statementSchema = z.object({
  code: z
    .string({ error: 'code is required and must be a string of SQL' })
    .refine((c) => c.trim() !== '', 'code must not be empty'),
  kind: z.enum(['sql']).optional(),
});

const csvField = (value: unknown): string => {
  if (value === null || value === undefined) return '';
  return quoteCsv(typeof value === 'object' ? JSON.stringify(value) : String(value));
};

/** The Livy REST API: sessions of SQL statements, with Lakegate's result paging added. */
export function sessionsRoutes(service: SessionService): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();

  app.post('/', async function createSession(c) {
    const body = validBody(await readJsonBody(c.req.raw, c.env?.incoming), createSchema);
    const session = await service.create(c.get('tenant'), body);
    c.header('Location', `/sessions/${session.id}`);
    return c.json(await sessionJson(service, session), 201);
  });

  app.get('/', async function listSessions(c) {
    const from = integer(c.req.query('from'), 0, 'from');
    const size = integer(c.req.query('size'), 100, 'size', 1000);
    const page = await service.list(c.get('tenant'), from, size);
    return c.json({
      from,
      total: page.total,
      sessions: await Promise.all(page.items.map((s) => sessionJson(service, s))),
    });
  });

  app.get('/:id', async function getSession(c) {
    const session = await service.get(c.get('tenant'), idOf(c.req.param('id'), 'Session'));
    return c.json(await sessionJson(service, session));
  });

  app.get('/:id/state', async function sessionState(c) {
    const session = await service.get(c.get('tenant'), idOf(c.req.param('id'), 'Session'));
    return c.json({ id: session.id, state: session.state });
  });

  app.get('/:id/log', async function sessionLog(c) {
    const session = await service.get(c.get('tenant'), idOf(c.req.param('id'), 'Session'));
    const from = integer(c.req.query('from'), 0, 'from');
    const size = integer(c.req.query('size'), 100, 'size', 10_000);
    const page = await service.log(session, from, size);
    return c.json({ id: session.id, from, total: page.total, log: page.items });
  });

  app.delete('/:id', async function deleteSession(c) {
    await service.delete(c.get('tenant'), idOf(c.req.param('id'), 'Session'));
    return c.json({ msg: 'deleted' });
  });

  app.post('/:id/statements', async function submitStatement(c) {
    const { code } = validBody(await readJsonBody(c.req.raw, c.env?.incoming), statementSchema);
    const statement = await service.submit(c.get('tenant'), idOf(c.req.param('id'), 'Session'), code);
    c.header('Location', `/sessions/${statement.sessionId}/statements/${statement.id}`);
    return c.json(statementJson(statement), 201);
  });

  app.get('/:id/statements', async function listStatements(c) {
    const from = integer(c.req.query('from'), 0, 'from');
    const size = integer(c.req.query('size'), 100, 'size', 1000);
    const page = await service.statements(c.get('tenant'), idOf(c.req.param('id'), 'Session'), from, size);
    return c.json({ total_statements: page.total, statements: page.items.map(statementJson) });
  });

  app.get('/:id/statements/:sid', async function getStatement(c) {
    const statement = await service.statement(
      c.get('tenant'),
      idOf(c.req.param('id'), 'Session'),
      idOf(c.req.param('sid'), 'Statement'),
    );
    return c.json(statementJson(statement));
  });

  app.post('/:id/statements/:sid/cancel', async function cancelStatement(c) {
    await service.cancel(c.get('tenant'), idOf(c.req.param('id'), 'Session'), idOf(c.req.param('sid'), 'Statement'));
    return c.json({ msg: 'canceled' });
  });

  app.get('/:id/statements/:sid/result', async function statementResult(c) {
    const offset = integer(c.req.query('offset'), 0, 'offset');
    const limit = integer(c.req.query('limit'), 1000, 'limit', 100_000);
    const page = await service.result(
      c.get('tenant'),
      idOf(c.req.param('id'), 'Session'),
      idOf(c.req.param('sid'), 'Statement'),
      offset,
      limit,
    );
    const format = negotiateFormat(c.req.header('accept'));
    const columns = page.columns.map((col) => ({ name: col.name, type: col.type }));
    if (format === 'ndjson') {
      const lines = [
        JSON.stringify({ columns, offset: page.offset, total: page.total, truncated: page.truncated }),
        ...page.rows.map((row) => JSON.stringify(row)),
      ];
      return c.body(`${lines.join('\n')}\n`, 200, { 'Content-Type': CONTENT_TYPES.ndjson });
    }
    if (format === 'csv') {
      const lines = [
        columns.map((col) => csvField(col.name)).join(','),
        ...page.rows.map((row) => row.map(csvField).join(',')),
      ];
      return c.body(`${lines.join('\n')}\n`, 200, { 'Content-Type': CONTENT_TYPES.csv });
    }
    return c.json({
      offset: page.offset,
      limit,
      total: page.total,
      truncated: page.truncated,
      columns,
      rows: page.rows,
    });
  });

  return app;
}
