import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../harness/services.js';
import { writeParquet } from '../support/duckdb-data.js';
import { type GatewayProcess, startGatewayProcess } from '../support/gateway-process.js';
import { trafficRollup, writeTrafficFiles } from '../support/traffic-csv.js';

/** A running gateway takes a new configuration by SIGHUP or POST /v1/admin/reload, without dropping anything. */
describe('configuration reload', () => {
  let root: string;
  let gateway: GatewayProcess;
  let configPath: string;
  const ADMIN = 'admin-reload-key-0123456789';
  const OLD_KEY = 'acme-reload-key-1';
  const NEW_KEY = 'acme-reload-key-2';
  const GLOBEX = 'globex-reload-key';
  const base = (port: number) => ({
    server: { port, postgres: { port: pgPort } },
    admin: { apiKeys: [ADMIN] },
    storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
    rollups: { location: `file:${join(root, 'rollups')}/`, tickSeconds: 0.3 },
    engines: { duckdb: { threads: 1 } },
  });
  const dataset = (folder: string) => ({ location: `file:${join(root, folder)}/`, format: 'parquet' });
  let port: number;
  let pgPort: number;
  // Half an hour of API traffic, ending on a 5-minute boundary an hour ago.
  const TRAFFIC_START = Math.floor(Date.now() / 300_000) * 300_000 - 5_400_000;
  /** Logs in over the Postgres protocol with `key`; the SQLSTATE of a refusal, or 'ok'. */
  const pgLogin = async (tenant: string, key: string): Promise<string> => {
    const client = new pg.Client({
      host: '127.0.0.1',
      port: pgPort,
      user: tenant,
      password: key,
      database: 'lakegate',
    });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return 'ok';
    } catch (error) {
      return (error as { code?: string }).code ?? String(error);
    } finally {
      await client.end().catch(() => undefined);
    }
  };

  const query = (key: string, sql: string) =>
    fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}` },
      body: JSON.stringify({ sql }),
    }).then(async (r) => ({
      status: r.status,
      body: (await r.json()) as { rows?: unknown[][]; error?: { code: string } },
    }));
  const reload = (key: string) =>
    fetch(`${gateway.url}/v1/admin/reload`, { method: 'POST', headers: { Authorization: `Bearer ${key}` } }).then(
      async (r) => ({
        status: r.status,
        body: (await r.json()) as Record<string, unknown> & {
          error?: { code: string; details?: { problems: string[] } };
        },
      }),
    );
  const configVersion = async () => {
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    return /lakegate_config_info\{version="([0-9a-f]+)"\} 1/.exec(text)?.[1];
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-reload-'));
    for (const [folder, rows] of [
      ['events', 1000],
      ['orders', 7],
      ['later', 3],
    ] as const) {
      await mkdir(join(root, folder));
      await writeParquet(join(root, folder, 'p.parquet'), `SELECT i FROM range(${rows}) t(i)`);
    }
    await mkdir(join(root, 'traffic'));
    await writeTrafficFiles(join(root, 'traffic'), TRAFFIC_START, TRAFFIC_START + 1_800_000, 600_000, 200);
    port = await freePort();
    pgPort = await freePort();
    configPath = join(root, 'lakegate.config.json');
    gateway = await startGatewayProcess(
      configPath,
      { ...base(port), tenants: { acme: { apiKeys: [OLD_KEY], datasets: { events: dataset('events') } } } },
      port,
    );
  });
  afterAll(async () => {
    await gateway?.kill('SIGTERM');
    await rm(root, { recursive: true, force: true });
  });

  it('changes keys, tenants and datasets on POST /v1/admin/reload while a query runs on', async () => {
    const before = await configVersion();
    expect(before).toMatch(/^[0-9a-f]{12}$/);
    const running = query(OLD_KEY, 'SELECT count(*) FROM events, range(400000) r WHERE (i + r.range) % 7 = 3');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await writeFile(
      configPath,
      JSON.stringify({
        ...base(port),
        tenants: {
          acme: { apiKeys: [NEW_KEY], datasets: { events: dataset('events') } },
          globex: { apiKeys: [GLOBEX], datasets: { orders: dataset('orders') } },
        },
      }),
    );
    // Only an operator may reload: a tenant's key is refused.
    expect((await reload(NEW_KEY)).status).toBe(401);
    expect((await reload(OLD_KEY)).status).toBe(401);
    const reloaded = await reload(ADMIN);
    expect(reloaded.status).toBe(200);
    expect(reloaded.body).toMatchObject({ datasets: { added: ['globex/orders'], removed: [] }, restartNeeded: [] });
    expect(reloaded.body.version).not.toBe(before);
    expect(await configVersion()).toBe(reloaded.body.version);

    const finished = await running;
    expect(finished.status).toBe(200);
    expect(finished.body.rows?.[0]?.[0]).toBeGreaterThan(0);
    expect((await query(OLD_KEY, 'SELECT count(*) FROM events')).status).toBe(401);
    // The Postgres protocol checks the keys serving now too: the removed one no longer logs in.
    expect(await pgLogin('acme', NEW_KEY)).toBe('ok');
    expect(await pgLogin('acme', OLD_KEY)).toBe('28P01');
    expect(await pgLogin('globex', GLOBEX)).toBe('ok');
    expect((await query(NEW_KEY, 'SELECT count(*) FROM events')).body.rows).toEqual([[1000]]);
    expect((await query(GLOBEX, 'SELECT count(*) FROM orders')).body.rows).toEqual([[7]]);
    expect((await query(GLOBEX, 'SELECT count(*) FROM events')).body.error?.code).toBe('UNKNOWN_TABLE');
  });

  it('keeps the configuration serving when the new one is invalid, and says why', async () => {
    const serving = await configVersion();
    await writeFile(configPath, JSON.stringify({ ...base(port), tenants: { 'Bad Id': { apiKeys: [GLOBEX] } } }));
    const refused = await reload(ADMIN);
    expect(refused.status).toBe(400);
    expect(refused.body.error?.details?.problems).toEqual([
      'tenants.Bad Id: tenant ids are lower case letters, digits, - and _',
    ]);
    expect(await configVersion()).toBe(serving);
    expect((await query(NEW_KEY, 'SELECT count(*) FROM events')).status).toBe(200);
  });

  it('reloads on SIGHUP, and names what only a restart changes', async () => {
    await writeFile(
      configPath,
      JSON.stringify({
        ...base(port),
        query: { defaultMaxRows: 5 },
        tenants: { acme: { apiKeys: [NEW_KEY], datasets: { events: dataset('events'), later: dataset('later') } } },
      }),
    );
    gateway.child.kill('SIGHUP');
    await expect
      .poll(async () => (await query(NEW_KEY, 'SELECT count(*) FROM later')).body.rows, { timeout: 10_000 })
      .toEqual([[3]]);
    expect((await query(GLOBEX, 'SELECT count(*) FROM orders')).status).toBe(401);
    const logged = gateway
      .output()
      .split('\n')
      .filter((line) => line.includes('"config.reloaded"'))
      .map((line) => JSON.parse(line) as { restartNeeded: string[]; added: string[]; removed: string[] });
    expect(logged.at(-1)).toMatchObject({
      added: ['acme/later'],
      removed: ['globex/orders'],
      restartNeeded: ['query'],
    });
    expect(gateway.child.exitCode).toBeNull();
  });

  it('starts the first rollup a reload adds, with no restart', async () => {
    const rollupList = async () =>
      (await (
        await fetch(`${gateway.url}/v1/rollups`, { headers: { Authorization: `Bearer ${NEW_KEY}` } })
      ).json()) as { rollups?: { name: string; intervals: Record<string, number> }[] };
    expect((await rollupList()).rollups).toEqual([]);
    await writeFile(
      configPath,
      JSON.stringify({
        ...base(port),
        tenants: {
          acme: {
            apiKeys: [NEW_KEY],
            datasets: { events: dataset('events'), traffic: { ...dataset('traffic'), format: 'csv' } },
            rollups: { traffic_5m: trafficRollup(TRAFFIC_START) },
          },
        },
      }),
    );
    expect((await reload(ADMIN)).status).toBe(200);
    // Six intervals of 5 minutes in the half hour of traffic: all computed by the orchestration the reload started.
    await expect
      .poll(async () => (await rollupList()).rollups?.[0]?.intervals.done, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(6);
  });
});
