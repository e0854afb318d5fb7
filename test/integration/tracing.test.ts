import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, parseConfig, type RunningGateway, startGateway } from '@lakegate/gateway';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeParquet } from '../support/duckdb-data.js';

/** One trace per request, spans for each stage with the right parents, W3C traceparent honoured; log lines. */
describe('tracing and logs', () => {
  let root: string;
  let gateway: RunningGateway;
  const spans = new InMemorySpanExporter();
  const lines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-tracing-'));
    await mkdir(join(root, 'events'));
    await writeParquet(join(root, 'events', 'p.parquet'), 'SELECT i FROM range(10) t(i)');
    const config = parseConfig(
      {
        server: { port: 0 },
        storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
        tenants: {
          acme: {
            apiKeys: ['acme-trace-key'],
            datasets: { events: { location: 'file:./events/', format: 'parquet' } },
          },
        },
      },
      { baseDir: root },
    );
    gateway = await startGateway({
      config,
      logger: createLogger({ write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) }),
      spanExporter: spans,
    });
  });
  afterAll(async () => {
    await gateway?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('joins the caller’s trace and records each stage under the request span', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    spans.reset();
    const response = await fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: 'Bearer acme-trace-key', traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      body: JSON.stringify({ sql: 'SELECT count(*) FROM events' }),
    });
    await response.text();
    expect(response.headers.get('traceparent')).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const finished = spans.getFinishedSpans();
    const byName = new Map(finished.map((s) => [s.name, s]));
    const root = byName.get('POST /v1/query');
    expect(root?.spanContext().traceId).toBe(traceId);
    expect(root?.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    for (const stage of [
      'auth',
      'sql.prepare',
      'admission.wait',
      'storage.acquire',
      'engine.execute',
      'result.stream',
    ]) {
      const span = byName.get(stage);
      expect(span, stage).toBeDefined();
      expect(span?.spanContext().traceId, stage).toBe(traceId);
      expect(span?.parentSpanContext?.spanId, stage).toBe(root?.spanContext().spanId);
    }
  });

  it('records the stages of a Trino-protocol query under the submitting request', async () => {
    spans.reset();
    const response = await fetch(`${gateway.url}/v1/statement`, {
      method: 'POST',
      headers: { Authorization: 'Bearer acme-trace-key' },
      body: 'SELECT count(*) FROM events',
    });
    expect(response.status).toBe(200);
    await response.text();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const finished = spans.getFinishedSpans();
    const root = finished.find((s) => s.name === 'POST /v1/statement');
    expect(root).toBeDefined();
    for (const stage of ['sql.prepare', 'admission.wait', 'storage.acquire', 'engine.execute']) {
      const span = finished.find((s) => s.name === stage);
      expect(span?.parentSpanContext?.spanId, stage).toBe(root?.spanContext().spanId);
    }
  });

  it('puts the trace id in error bodies', async () => {
    const response = await fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: 'Bearer acme-trace-key' },
      body: JSON.stringify({ sql: 'SELECT * FROM nowhere' }),
    });
    const body = (await response.json()) as { error: { traceId: string } };
    expect(body.error.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(response.headers.get('traceparent')).toContain(body.error.traceId);
  });

  it('logs each query as one JSON line with its figures, and neither its SQL nor the key', async () => {
    lines.length = 0;
    const sql = "SELECT count(*) AS n FROM events WHERE i > 3 AND 'secret-literal' <> ''";
    const ok = await fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: 'Bearer acme-trace-key', 'x-request-id': 'log-test-1' },
      body: JSON.stringify({ sql }),
    });
    expect(ok.status).toBe(200);
    await ok.text();
    const bad = await fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: 'Bearer acme-trace-key', 'x-request-id': 'log-test-2' },
      body: JSON.stringify({ sql: "SELECT * FROM nowhere WHERE x = 'another-literal'" }),
    });
    expect(bad.status).toBe(404);
    await bad.text();
    const done = lines.find((l) => l.event === 'query.done' && l.requestId === 'log-test-1');
    expect(done).toMatchObject({
      level: 'info',
      tenant: 'acme',
      engine: 'duckdb',
      rows: 1,
      outcome: 'ok',
      truncated: false,
    });
    expect(done?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(done?.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    for (const field of ['bytes', 'durationMs', 'waitMs']) expect(typeof done?.[field], field).toBe('number');
    // A query refused before an engine ran it has its one line too.
    expect(lines.filter((l) => l.event === 'query.done' && l.requestId === 'log-test-2')).toEqual([
      expect.objectContaining({ protocol: 'http', engine: 'none', outcome: 'error', code: 'UNKNOWN_TABLE' }),
    ]);
    expect(lines.find((l) => l.event === 'request' && l.requestId === 'log-test-1')).toMatchObject({
      method: 'POST',
      path: '/v1/query',
      status: 200,
      tenant: 'acme',
    });
    expect(lines.find((l) => l.event === 'request' && l.requestId === 'log-test-2')).toMatchObject({
      status: 404,
      tenant: 'acme',
      code: 'UNKNOWN_TABLE',
    });
    const text = lines.map((l) => JSON.stringify(l)).join('\n');
    for (const secret of ['secret-literal', 'another-literal', 'acme-trace-key', 'SELECT']) {
      expect(text, secret).not.toContain(secret);
    }
  });

  it('logs an unknown route with its real status, authenticated or not', async () => {
    lines.length = 0;
    for (const headers of [{}, { Authorization: 'Bearer acme-trace-key' }] as Record<string, string>[]) {
      const response = await fetch(`${gateway.url}/no/such/route`, {
        headers: { ...headers, 'x-request-id': 'nowhere' },
      });
      expect(response.status).toBe(404);
      await response.text();
    }
    const logged = lines.filter((l) => l.event === 'request' && l.requestId === 'nowhere');
    expect(logged).toEqual([
      expect.objectContaining({ status: 404, code: 'NOT_FOUND' }),
      expect.objectContaining({ status: 404, code: 'NOT_FOUND' }),
    ]);
  });

  it('logs a Trino-protocol query and a session statement as one line each when they end', async () => {
    lines.length = 0;
    const auth = { Authorization: 'Bearer acme-trace-key' };
    let page = (await (
      await fetch(`${gateway.url}/v1/statement`, {
        method: 'POST',
        headers: auth,
        body: "SELECT count(*) FROM events WHERE 'trino-literal' <> ''",
      })
    ).json()) as { nextUri?: string };
    for (let n = 0; page.nextUri && n < 100; n++) {
      page = (await (await fetch(page.nextUri, { headers: auth })).json()) as { nextUri?: string };
    }
    const trinoLines = lines.filter((l) => l.event === 'query.done' && l.protocol === 'trino');
    expect(trinoLines).toHaveLength(1);
    const trino = trinoLines[0];
    expect(trino).toMatchObject({ tenant: 'acme', engine: 'duckdb', rows: 1, outcome: 'ok' });
    expect(trino?.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(typeof trino?.bytes).toBe('number');

    const session = (await (
      await fetch(`${gateway.url}/sessions`, { method: 'POST', headers: auth, body: JSON.stringify({ kind: 'sql' }) })
    ).json()) as { id: number };
    const statementOf = async (code: string) => {
      const created = (await (
        await fetch(`${gateway.url}/sessions/${session.id}/statements`, {
          method: 'POST',
          headers: auth,
          body: JSON.stringify({ code }),
        })
      ).json()) as { id: number };
      for (let n = 0; n < 200; n++) {
        const state = (
          (await (
            await fetch(`${gateway.url}/sessions/${session.id}/statements/${created.id}`, { headers: auth })
          ).json()) as { state: string }
        ).state;
        if (state !== 'waiting' && state !== 'running') break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return created.id;
    };
    const ok = await statementOf("SELECT i FROM events WHERE 'livy-literal' <> '' ORDER BY i LIMIT 4");
    const failed = await statementOf('SELECT * FROM nowhere');
    const statementLines = (id: number) =>
      lines.filter((l) => l.event === 'query.done' && l.protocol === 'livy' && l.statement === id);
    expect(statementLines(ok)).toEqual([
      expect.objectContaining({ tenant: 'acme', session: session.id, engine: 'duckdb', rows: 4, outcome: 'ok' }),
    ]);
    expect(statementLines(failed)).toEqual([expect.objectContaining({ outcome: 'error', code: 'UNKNOWN_TABLE' })]);
    await fetch(`${gateway.url}/sessions/${session.id}`, { method: 'DELETE', headers: auth });
    const text = lines.map((l) => JSON.stringify(l)).join('\n');
    for (const secret of ['trino-literal', 'livy-literal', 'acme-trace-key'])
      expect(text, secret).not.toContain(secret);
  });
});
