import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../harness/services.js';
import { writeParquet } from '../support/duckdb-data.js';
import { type GatewayProcess, startGatewayProcess } from '../support/gateway-process.js';
import { livyClient } from '../support/sessions-client.js';

const ATTACKER = 'acme-flood-key';
const QUIET = 'globex-quiet-key';
const FLOOD_MS = 4000;

/**
 * One tenant floods every protocol with the texts that once stalled the gateway (a LIKE of many `%`, a huge
 * expression under and over the size limit, a very wide SELECT, nested comments), while a quiet tenant sends a
 * trivial query. The gateway runs as its own process, as in production, and reports its own event loop's delay in
 * /metrics, so the figure is the gateway's and not this test's clients'.
 */
describe('no tenant input stalls the others', () => {
  let root: string;
  let gateway: GatewayProcess;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-flood-'));
    for (const tenant of ['acme', 'globex']) {
      await mkdir(join(root, tenant), { recursive: true });
      await writeParquet(join(root, tenant, 'p.parquet'), 'SELECT i AS id FROM range(100) t(i)');
    }
    const dataset = (tenant: string) => ({
      events: { location: `file:./${tenant}/`, format: 'parquet' },
    });
    const port = await freePort();
    const config = {
      server: { port, maxBodyBytes: 2_000_000, shutdownGraceMs: 1000 },
      storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
      engines: { duckdb: { threads: 1 } },
      tenants: {
        acme: { apiKeys: [ATTACKER], datasets: dataset('acme') },
        globex: { apiKeys: [QUIET], datasets: dataset('globex') },
      },
    };
    gateway = await startGatewayProcess(join(root, 'lakegate.json'), config, port);
  });
  afterAll(async () => {
    await gateway?.kill('SIGTERM');
    await rm(root, { recursive: true, force: true });
  });

  const hostile = [
    `SELECT ${'1+'.repeat(450_000)}1`,
    `SELECT ${'1+'.repeat(120_000)}1`,
    `SELECT ${'1,'.repeat(120_000)}1`,
    `SELECT ${'('.repeat(5000)}1${')'.repeat(5000)}`,
    `/* ${'/* '.repeat(20_000)} */ SELECT 1`,
    `SELECT '${"''".repeat(100_000)}'`,
  ];
  const trinoOnly = ["SHOW SCHEMAS LIKE '%%%%%%%%%%%%%%%%%%%%%%%%%%%%z'", `SHOW TABLES LIKE '${'%'.repeat(5000)}z'`];

  const livy = livyClient(() => gateway.url, ATTACKER);
  let session: number | undefined;

  /** Sends `sql` on /v1/query (0), the Trino protocol (1) or as a session statement (2); the last status seen. */
  const send = async (key: string, tenant: string, protocol: number, sql: string): Promise<number> => {
    if (protocol === 2) {
      session ??= (await livy.call('POST', '/sessions', { kind: 'sql' })).body.id as number;
      const submitted = await livy.call('POST', `/sessions/${session}/statements`, { code: sql });
      if (submitted.status !== 201) return submitted.status;
      const statement = await livy.waitFor(session, submitted.body.id as number);
      // A refused statement ends in `error` with the same code as on /v1/query, never an internal one.
      return statement.state === 'available' ? 200 : statement.output?.ename === 'INTERNAL' ? 500 : 400;
    }
    if (protocol === 0) {
      const r = await fetch(`${gateway.url}/v1/query`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${key}` },
        body: JSON.stringify({ sql }),
      });
      await r.arrayBuffer();
      return r.status;
    }
    const auth = `Basic ${Buffer.from(`${tenant}:${key}`).toString('base64')}`;
    let r = await fetch(`${gateway.url}/v1/statement`, { method: 'POST', headers: { Authorization: auth }, body: sql });
    let body = (await r.json()) as { nextUri?: string };
    while (body.nextUri) {
      r = await fetch(body.nextUri, { headers: { Authorization: auth } });
      body = (await r.json()) as { nextUri?: string };
    }
    return r.status;
  };

  /** The gateway's event loop delay since the previous call, from its own /metrics. */
  const loopDelay = async (): Promise<{ p99Ms: number; maxMs: number }> => {
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    const read = (quantile: string) => {
      const line = text
        .split('\n')
        .find((l) => l.startsWith(`lakegate_event_loop_delay_seconds{quantile="${quantile}"}`));
      if (!line) throw new Error(`no event loop delay for ${quantile} in /metrics`);
      return Number(line.split(' ')[1]) * 1000;
    };
    return { p99Ms: read('0.99'), maxMs: read('1') };
  };

  it('keeps the event loop and a quiet tenant’s latency while another floods hostile texts', async () => {
    const quietAlone: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t = performance.now();
      expect(await send(QUIET, 'globex', 0, 'SELECT count(*) FROM events')).toBe(200);
      quietAlone.push(performance.now() - t);
    }
    await loopDelay(); // opens a new window
    const end = Date.now() + FLOOD_MS;
    let attacks = 0;
    const attacker = async (worker: number): Promise<void> => {
      for (let i = worker; Date.now() < end; i++) {
        const texts = [...hostile, ...trinoOnly];
        const sql = texts[i % texts.length] as string;
        const protocol = trinoOnly.includes(sql) ? 1 : i % 3;
        const status = await send(ATTACKER, 'acme', protocol, sql);
        expect(status, sql.slice(0, 40)).toBeLessThan(500);
        attacks++;
      }
    };
    const quiet: number[] = [];
    const quietClient = async (): Promise<void> => {
      while (Date.now() < end) {
        const t = performance.now();
        expect(await send(QUIET, 'globex', 0, 'SELECT count(*) FROM events')).toBe(200);
        quiet.push(performance.now() - t);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    await Promise.all([attacker(0), attacker(1), attacker(2), quietClient()]);
    const delay = await loopDelay();
    const p99 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.ceil(values.length * 0.99) - 1] ?? 0;
    console.log(
      `flood: ${attacks} hostile requests; gateway event loop delay max ${delay.maxMs.toFixed(1)} ms, p99 ${delay.p99Ms.toFixed(1)} ms; quiet tenant p99 ${p99(quiet).toFixed(1)} ms under the flood (${quiet.length} queries) vs ${p99(quietAlone).toFixed(1)} ms alone`,
    );
    expect(attacks).toBeGreaterThan(20);
    expect(quiet.length).toBeGreaterThan(20);
    // The goal is a loop that never stalls for more than 50 ms; the bound on the max leaves room for a shared CI
    // machine's scheduling hiccups (measured: max 18-23 ms, p99 12-13 ms), not for the stalls of seconds
    // these texts once caused.
    expect(delay.p99Ms).toBeLessThan(50);
    expect(delay.maxMs).toBeLessThan(100);
    expect(p99(quiet)).toBeLessThan(Math.max(250, 3 * p99(quietAlone)));
  }, 60_000);
});
