import {
  type ColumnBatch,
  createQueryStream,
  defineCapabilities,
  type Engine,
  LakegateError,
} from '@lakegate/engine-api';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { GatewayEnv } from './app-env.js';
import { consoleRoutes, keptFiles } from './console/console-routes.js';
import { GLOBEX_KEY, jsonOf, testApp } from './test-support.js';

/**
 * A test engine: `answer` yields one batch and ends; `mid-stream` yields one batch and then fails; `bug` fails with
 * a plain Error (a bug) before starting.
 */
function faultyEngine(mode: 'answer' | 'mid-stream' | 'bug'): Engine {
  const close = async () => {};
  return {
    id: mode,
    capabilities: defineCapabilities(),
    check: () => ({ supported: true }),
    async execute() {
      if (mode === 'bug') throw new Error('secret internal detail');
      let sent = false;
      return createQueryStream([{ name: 'x', type: { kind: 'integer', sqlType: 'INTEGER' } }], {
        async next(): Promise<ColumnBatch | undefined> {
          if (sent && mode === 'answer') return undefined;
          if (sent) throw new LakegateError('ENGINE_FAILURE', 'disk on fire');
          sent = true;
          return { rowCount: 2, columns: [[1, 2]] };
        },
        close,
      });
    },
    stats: () => ({ activeQueries: 0 }),
    close,
    [Symbol.asyncDispose]: close,
  };
}

describe('POST /v1/query', () => {
  it('answers JSON with columns, rows, rowCount, truncated and stats', async () => {
    const { query } = await testApp();
    const response = await query({ sql: 'SELECT * FROM people' });
    expect(response.status).toBe(200);
    const body = await jsonOf(response);
    expect(body).toMatchObject({
      columns: [
        { name: 'id', type: 'BIGINT' },
        { name: 'name', type: 'VARCHAR' },
      ],
      rows: [
        [1, 'ada'],
        [2, 'brian'],
        [3, null],
      ],
      rowCount: 3,
      truncated: false,
      stats: { engine: 'reference' },
    });
    expect(body.stats.elapsedMs).toBeGreaterThanOrEqual(0);
  });

  it('caps rows at maxRows and says the result was truncated', async () => {
    const { query } = await testApp();
    const body = await jsonOf(await query({ sql: 'SELECT id FROM people', maxRows: 2 }));
    expect(body).toMatchObject({ rows: [[1], [2]], rowCount: 2, truncated: true });
    const exact = await jsonOf(await query({ sql: 'SELECT id FROM people', maxRows: 3 }));
    expect(exact).toMatchObject({ rowCount: 3, truncated: false });
  });

  it('caps results at the tenant’s maxResultRows and maxResultBytes', async () => {
    const byRows = await testApp({ acmeLimits: { maxResultRows: 2 } });
    expect(await jsonOf(await byRows.query({ sql: 'SELECT id FROM people', maxRows: 100 }))).toMatchObject({
      rows: [[1], [2]],
      truncated: true,
    });
    const byBytes = await testApp({ acmeLimits: { maxResultBytes: 10 } });
    const body = await jsonOf(await byBytes.query({ sql: 'SELECT * FROM people' }));
    expect(body).toMatchObject({ rows: [[1, 'ada']], truncated: true });
  });

  it('answers 429 RATE_LIMITED with Retry-After beyond the tenant’s query rate', async () => {
    const { query } = await testApp({ acmeLimits: { queriesPerSecond: 1 } });
    expect((await query({ sql: 'SELECT id FROM people' })).status).toBe(200);
    const limited = await query({ sql: 'SELECT id FROM people' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect((await jsonOf(limited)).error.code).toBe('RATE_LIMITED');
    // Refused before the body is read or the SQL prepared: a flood's refusals cost little.
    const unread = await query({ sql: 'SELEC nonsense' });
    expect(unread.status).toBe(429);
    expect((await jsonOf(unread)).error.code).toBe('RATE_LIMITED');
  });

  it('answers 503 ENGINE_BUSY with Retry-After while the process is above its memory ceiling', async () => {
    // Any running process is above one byte: every query is refused, before its body is read.
    const { query } = await testApp({ config: { limits: { maxMemoryBytes: 1 } } });
    const refused = await query({ sql: 'SELECT id FROM people' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('2');
    expect((await jsonOf(refused)).error).toMatchObject({
      code: 'ENGINE_BUSY',
      message: expect.stringMatching(/memory/),
    });
    const roomy = await testApp({ config: { limits: { maxMemoryBytes: 1e15 } } });
    expect((await roomy.query({ sql: 'SELECT id FROM people' })).status).toBe(200);
  });

  it('answers information_schema.columns with an error a retry may clear, not with columns missing', async () => {
    const describing = (code: 'ENGINE_BUSY' | 'ENGINE_FAILURE'): Engine => {
      const close = async () => {};
      return {
        id: 'duckdb',
        capabilities: defineCapabilities(),
        check: () => ({ supported: true }),
        // Describing a dataset (`LIMIT 0`) fails; the listing itself is answered with one row.
        async execute(request) {
          if (request.sql.includes('LIMIT 0'))
            throw new LakegateError(code, 'describing failed', { retryAfterSeconds: 1 });
          let sent = false;
          return createQueryStream([{ name: 'n', type: { kind: 'integer', sqlType: 'INTEGER' } }], {
            async next(): Promise<ColumnBatch | undefined> {
              if (sent) return undefined;
              sent = true;
              return { rowCount: 1, columns: [[1]] };
            },
            close,
          });
        },
        stats: () => ({ activeQueries: 0 }),
        close,
        [Symbol.asyncDispose]: close,
      };
    };
    const sql = 'SELECT table_name, column_name FROM information_schema.columns';
    // The dataset is described by the tenant's default engine, which is the one failing here.
    const overloaded = await testApp({ engines: [describing('ENGINE_BUSY')], defaultEngine: 'duckdb' });
    const refused = await overloaded.query({ sql });
    expect(refused.status).toBe(503);
    expect((await jsonOf(refused)).error.code).toBe('ENGINE_BUSY');
    // A dataset that cannot be read is left out of the list.
    const broken = await testApp({ engines: [describing('ENGINE_FAILURE')], defaultEngine: 'duckdb' });
    const listed = await broken.query({ sql });
    expect(listed.status).toBe(200);
    expect((await jsonOf(listed)).rows).toEqual([[1]]);
  });

  it('streams NDJSON: a header line, one array per row, then stats', async () => {
    const { query } = await testApp();
    const response = await query({ sql: 'SELECT * FROM people' }, { Accept: 'application/x-ndjson' });
    expect(response.headers.get('content-type')).toContain('application/x-ndjson');
    const lines = (await response.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0]).toEqual({
      columns: [
        { name: 'id', type: 'BIGINT' },
        { name: 'name', type: 'VARCHAR' },
      ],
    });
    expect(lines.slice(1, 4)).toEqual([
      [1, 'ada'],
      [2, 'brian'],
      [3, null],
    ]);
    expect(lines[4].stats).toMatchObject({ rowCount: 3, truncated: false, engine: 'reference' });
  });

  it('streams CSV with a header row', async () => {
    const { query } = await testApp();
    const response = await query({ sql: 'SELECT * FROM people' }, { Accept: 'text/csv' });
    expect(response.headers.get('content-type')).toContain('text/csv');
    expect(await response.text()).toBe('id,name\n1,ada\n2,brian\n3,\n');
  });

  it('serves each tenant its own data under the same dataset name', async () => {
    const { query } = await testApp();
    const body = await jsonOf(
      await query({ sql: 'SELECT name FROM people' }, { Authorization: `Bearer ${GLOBEX_KEY}` }),
    );
    expect(body.rows).toEqual([['globex-only']]);
  });

  it('writes a final error record when the engine fails mid-stream', async () => {
    const { query } = await testApp({ engines: [faultyEngine('mid-stream')] });
    const json = await query({ sql: 'SELECT 1', engine: 'mid-stream' });
    expect(json.status).toBe(200);
    const body = await jsonOf(json);
    expect(body).toMatchObject({ rows: [[1], [2]], error: { code: 'ENGINE_FAILURE', message: 'disk on fire' } });
    expect(body.error.requestId).toBe(json.headers.get('x-request-id'));

    const ndjson = await query({ sql: 'SELECT 1', engine: 'mid-stream' }, { Accept: 'application/x-ndjson' });
    const lines = (await ndjson.text()).trim().split('\n');
    expect(JSON.parse(lines.at(-1) ?? '')).toMatchObject({ error: { code: 'ENGINE_FAILURE' } });

    const csv = await (await query({ sql: 'SELECT 1', engine: 'mid-stream' }, { Accept: 'text/csv' })).text();
    expect(csv.trim().split('\n').at(-1)).toMatch(/^#error ENGINE_FAILURE: disk on fire/);
  });

  it('hides internal errors behind a generic 500', async () => {
    const { query } = await testApp({ engines: [faultyEngine('bug')] });
    const response = await query({ sql: 'SELECT 1', engine: 'bug' });
    expect(response.status).toBe(500);
    const body = await jsonOf(response);
    expect(body.error.code).toBe('INTERNAL');
    expect(JSON.stringify(body)).not.toContain('secret');
  });

  const refusals: [string, Record<string, string>, unknown, number, string][] = [
    ['no API key', { Authorization: '' }, { sql: 'SELECT 1' }, 401, 'UNAUTHENTICATED'],
    ['a wrong API key', { Authorization: 'Bearer wrong-key-123' }, { sql: 'SELECT 1' }, 401, 'UNAUTHENTICATED'],
    ['a malformed Authorization header', { Authorization: 'Basic abc' }, { sql: 'SELECT 1' }, 401, 'UNAUTHENTICATED'],
    ['invalid JSON', {}, '{"sql": ', 400, 'INVALID_REQUEST'],
    ['an empty body', {}, '', 400, 'INVALID_REQUEST'],
    ['a JSON array', {}, '[1]', 400, 'INVALID_REQUEST'],
    ['a missing sql', {}, { maxRows: 3 }, 400, 'INVALID_REQUEST'],
    ['an empty sql', {}, { sql: '   ' }, 400, 'INVALID_REQUEST'],
    ['a non-string sql', {}, { sql: 42 }, 400, 'INVALID_REQUEST'],
    ['an unknown field', {}, { sql: 'SELECT 1', colour: 'red' }, 400, 'INVALID_REQUEST'],
    ['a negative maxRows', {}, { sql: 'SELECT 1', maxRows: -1 }, 400, 'INVALID_REQUEST'],
    ['an unknown engine', {}, { sql: 'SELECT 1', engine: 'spark' }, 400, 'INVALID_REQUEST'],
    ['a syntax error', {}, { sql: 'SELEC * FROM people' }, 400, 'INVALID_SQL'],
    ['an unknown table', {}, { sql: 'SELECT * FROM missing' }, 404, 'UNKNOWN_TABLE'],
    ['a too large body', {}, { sql: `SELECT * FROM people -- ${'x'.repeat(5000)}` }, 413, 'REQUEST_TOO_LARGE'],
    [
      'a body whose Content-Length is too large',
      { 'Content-Length': '5000' },
      { sql: `SELECT * FROM people -- ${'x'.repeat(4970)}` },
      413,
      'REQUEST_TOO_LARGE',
    ],
  ];
  for (const [what, headers, body, status, code] of refusals) {
    it(`refuses ${what} with ${status} ${code}`, async () => {
      const { query } = await testApp();
      const response = await query(body, headers);
      expect(response.status).toBe(status);
      const json = await jsonOf(response);
      expect(json.error).toMatchObject({ code, requestId: response.headers.get('x-request-id') });
      expect(json.error.message.length).toBeGreaterThan(10);
    });
  }

  it('refuses a query shape the engine declines with UNSUPPORTED_QUERY', async () => {
    const { query } = await testApp();
    const response = await query({ sql: 'SELECT count(*) FROM people' });
    expect(response.status).toBe(422);
    expect((await jsonOf(response)).error.code).toBe('UNSUPPORTED_QUERY');
  });
});

describe('engine routing', () => {
  it('falls back to the next engine when the preferred one declines, and says why in stats', async () => {
    const { query } = await testApp({ engines: [faultyEngine('answer')] });
    const body = await jsonOf(await query({ sql: 'SELECT count(*) FROM people' }));
    expect(body.rows).toEqual([[1], [2]]);
    expect(body.stats.engine).toBe('answer');
    expect(body.stats.route).toMatch(/^reference declined: .*; answered by answer$/);
  });

  it('says an engine was requested when it answers as asked', async () => {
    const { query } = await testApp();
    const body = await jsonOf(await query({ sql: 'SELECT * FROM people', engine: 'reference' }));
    expect(body.stats).toMatchObject({ engine: 'reference', route: 'requested' });
  });
});

describe('service routes', () => {
  it('answers liveness and readiness probes', async () => {
    const { app, engines } = await testApp();
    expect((await app.request('/livez')).status).toBe(200);
    expect((await app.request('/readyz')).status).toBe(200);
    await engines.close();
    expect((await app.request('/readyz')).status).toBe(503);
  });

  it('echoes a sane X-Request-Id and replaces an unsafe one', async () => {
    const { app } = await testApp();
    expect((await app.request('/livez', { headers: { 'X-Request-Id': 'abc-123' } })).headers.get('x-request-id')).toBe(
      'abc-123',
    );
    const replaced = (await app.request('/livez', { headers: { 'X-Request-Id': 'bad id\u0001' } })).headers.get(
      'x-request-id',
    );
    expect(replaced).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers unknown routes with a JSON NOT_FOUND', async () => {
    const { app } = await testApp();
    const response = await app.request('/nope');
    expect(response.status).toBe(404);
    expect((await jsonOf(response)).error.code).toBe('NOT_FOUND');
  });
});

describe('the web console’s files', () => {
  it('serves the console under its CSP, and no file outside it, also for a malformed escape', async () => {
    const { app } = await testApp();
    expect((await app.request('/')).headers.get('location')).toBe('/ui/');
    const index = await app.request('/ui/');
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toContain("script-src 'self'");
    for (const path of ['/ui/%E0', '/ui/..%2F..%2Fpackage.json', '/ui/../package.json']) {
      expect((await app.request(path)).status, path).toBe(404);
    }
  });

  it('keeps the files it read, but never a missing one, and no more than its bound', async () => {
    const files = keptFiles(2);
    const app = new Hono<GatewayEnv>();
    consoleRoutes(app, files);
    for (let i = 0; i < 50; i++) expect((await app.request(`/ui/missing-${i}.js`)).status).toBe(404);
    expect(files.size()).toBe(0);
    expect((await app.request('/ui/')).status).toBe(200);
    expect(files.size()).toBe(1);
    for (let i = 0; i < 5; i++) await app.request(`/ui/missing-${i}.css`);
    expect(files.size()).toBeLessThanOrEqual(2);
  });
});
