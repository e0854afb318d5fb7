import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type RunningGateway, silentLogger, startGateway } from '@lakegate/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeParquet } from '../support/duckdb-data.js';
import { LONG_SQL, livyClient } from '../support/sessions-client.js';

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses Prometheus text exposition format strictly enough to fail on malformed output. */
function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ') || line.startsWith('# UNIT ')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)(?: \d+)?$/.exec(line);
    if (!match) throw new Error(`not Prometheus text: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g) ?? []) {
      const eq = pair.indexOf('=');
      labels[pair.slice(0, eq)] = JSON.parse(pair.slice(eq + 1)) as string;
    }
    samples.push({ name: match[1] ?? '', labels, value: Number(match[3]) });
  }
  return samples;
}

const TOKEN = 'metrics-token-0123456789';

/** GET /metrics: Prometheus text that parses, and moves as queries run, behind `observability.metricsToken`. */
describe('metrics', () => {
  let root: string;
  let gateway: RunningGateway;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-metrics-'));
    await mkdir(join(root, 'events'));
    await writeParquet(join(root, 'events', 'p.parquet'), 'SELECT i FROM range(100) t(i)');
    const config = parseConfig(
      {
        server: { port: 0 },
        storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
        observability: { metricsToken: TOKEN },
        tenants: {
          acme: {
            apiKeys: ['acme-metrics-key'],
            datasets: { events: { location: 'file:./events/', format: 'parquet' } },
          },
        },
      },
      { baseDir: root },
    );
    gateway = await startGateway({ config, logger: silentLogger });
  });
  afterAll(async () => {
    await gateway?.close();
    await rm(root, { recursive: true, force: true });
  });

  const scrape = async () => {
    const response = await fetch(`${gateway.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(response.headers.get('content-type')).toContain('text/plain');
    return parsePrometheus(await response.text());
  };
  const value = (samples: Sample[], name: string, labels: Record<string, string>) =>
    samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((sum, s) => sum + s.value, 0);

  it('answers only with the metrics token, and names no tenant without it', async () => {
    for (const headers of [{}, { Authorization: 'Bearer wrong-token-0123456789' }, { Authorization: TOKEN }]) {
      const response = await fetch(`${gateway.url}/metrics`, { headers });
      const text = await response.text();
      expect(response.status).toBe(401);
      expect(JSON.parse(text).error.code).toBe('UNAUTHENTICATED');
      expect(text).not.toContain('acme');
    }
    expect((await scrape()).some((s) => s.labels.tenant === 'acme')).toBe(true);
  });

  it('parses as Prometheus text and moves as queries run', async () => {
    const query = () =>
      fetch(`${gateway.url}/v1/query`, {
        method: 'POST',
        headers: { Authorization: 'Bearer acme-metrics-key' },
        body: JSON.stringify({ sql: 'SELECT count(*) FROM events' }),
      });
    await (await query()).text();
    const before = await scrape();
    for (let i = 0; i < 3; i++) await (await query()).text();
    const after = await scrape();
    const count = 'lakegate_query_duration_seconds_count';
    expect(
      value(after, count, { tenant: 'acme', engine: 'duckdb', outcome: 'ok' }) -
        value(before, count, { tenant: 'acme', engine: 'duckdb', outcome: 'ok' }),
    ).toBe(3);
    // Buckets in seconds: these quick queries all fall under one second, and the bounds go down to a millisecond.
    const buckets = after.filter(
      (s) =>
        s.name === 'lakegate_query_duration_seconds_bucket' && s.labels.tenant === 'acme' && s.labels.outcome === 'ok',
    );
    expect(buckets.map((s) => s.labels.le)).toEqual(expect.arrayContaining(['0.001', '0.01', '0.1', '1', '+Inf']));
    expect(value(after, 'lakegate_query_duration_seconds_bucket', { tenant: 'acme', outcome: 'ok', le: '1' })).toBe(
      value(after, count, { tenant: 'acme', engine: 'duckdb', outcome: 'ok' }),
    );
    expect(
      value(after, 'lakegate_cache_hits_total', { tenant: 'acme' }) -
        value(before, 'lakegate_cache_hits_total', { tenant: 'acme' }),
    ).toBe(3);
    expect(
      value(after, 'lakegate_http_request_duration_seconds_count', { route: '/v1/query', status: '200' }),
    ).toBeGreaterThanOrEqual(4);
    expect(value(after, 'lakegate_engine_gauge', { engine: 'duckdb', gauge: 'instancesOpen' })).toBe(1);
    expect(after.some((s) => s.name === 'lakegate_cache_bytes' && s.labels.tenant === 'acme' && s.value > 0)).toBe(
      true,
    );
  });

  it('reports how late the event loop ran since the previous scrape', async () => {
    await scrape();
    const stalledUntil = performance.now() + 250;
    while (performance.now() < stalledUntil) {
      // Holds the loop, as a synchronous parse of a hostile text would.
    }
    // The monitor notes a delay when its next timer runs, a few milliseconds after the stall.
    await new Promise((resolve) => setTimeout(resolve, 30));
    const stalled = await scrape();
    const delay = (samples: Sample[], quantile: string) =>
      value(samples, 'lakegate_event_loop_delay_seconds', { quantile });
    expect(delay(stalled, '1')).toBeGreaterThan(0.2);
    expect(delay(stalled, '0.5')).toBeLessThanOrEqual(delay(stalled, '1'));
    // Each scrape starts a new window, so the stall shows once.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(delay(await scrape(), '1')).toBeLessThan(0.2);
  });

  it('counts sessions, statements waiting and running, and statement outcomes', async () => {
    const livy = livyClient(() => gateway.url, 'acme-metrics-key');
    const created = await livy.call('POST', '/sessions', { kind: 'sql' });
    expect(created.status).toBe(201);
    const session = created.body.id as number;
    const before = await scrape();
    expect(value(before, 'lakegate_sessions', { tenant: 'acme' })).toBe(1);
    const submitted = await livy.call('POST', `/sessions/${session}/statements`, { code: LONG_SQL });
    await livy.waitFor(session, submitted.body.id, (state) => state === 'running');
    const running = await scrape();
    expect(value(running, 'lakegate_statements', { tenant: 'acme', state: 'running' })).toBe(1);
    expect((await livy.call('POST', `/sessions/${session}/statements/${submitted.body.id}/cancel`)).status).toBe(200);
    await livy.waitFor(session, submitted.body.id);
    const quick = await livy.call('POST', `/sessions/${session}/statements`, { code: 'SELECT 1' });
    await livy.waitFor(session, quick.body.id);
    const after = await scrape();
    expect(value(after, 'lakegate_statements', { tenant: 'acme', state: 'running' })).toBe(0);
    const count = 'lakegate_statement_duration_seconds_count';
    expect(value(after, count, { tenant: 'acme', state: 'cancelled' })).toBe(1);
    expect(value(after, count, { tenant: 'acme', state: 'available' })).toBe(1);
    expect((await livy.call('DELETE', `/sessions/${session}`)).status).toBe(200);
    expect(value(await scrape(), 'lakegate_sessions', { tenant: 'acme' })).toBe(0);
  });
});
