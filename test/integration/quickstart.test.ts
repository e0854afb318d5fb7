import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { launcherFlags } from '../support/gateway-process.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const main = join(repo, 'packages', 'gateway', 'bin', 'lakegate.cjs');
const built = join(repo, 'packages', 'gateway', 'dist', 'main.js');

/**
 * The README's quick start: with no config file, the built gateway generates the demo, prints a curl command,
 * and that very command returns rows. Runs the real entry point in an empty folder, on an ephemeral port.
 */
describe('quick start (embedded demo)', () => {
  let cwd: string;
  let child: ChildProcess | undefined;

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  it('starts with no config, prints a curl and a psql that return rows, and stops cleanly on SIGTERM', async () => {
    expect(existsSync(built), 'packages/gateway/dist/main.js is missing: run `npm run build` (npm test does)').toBe(
      true,
    );
    cwd = await mkdtemp(join(tmpdir(), 'lakegate-quickstart-'));
    const env: NodeJS.ProcessEnv = { ...process.env, LAKEGATE_PORT: '0' };
    delete env.LAKEGATE_CONFIG;
    const gateway = spawn(process.execPath, [...launcherFlags(), main], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child = gateway;
    const output: string[] = [];
    // The quick start ends with the psql line, after the curl.
    const psql = await new Promise<string>((resolve, reject) => {
      gateway.once('exit', (code) => reject(new Error(`gateway exited with ${code}:\n${output.join('\n')}`)));
      createInterface({ input: gateway.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        output.push(line);
        // Every line the process writes is one JSON event; the demo's ends with a curl and a psql line.
        const event = JSON.parse(line) as { event: string; try?: string; tryPsql?: string };
        if (event.event === 'gateway.demo' && event.tryPsql) resolve(event.tryPsql);
      });
    });
    const events = output.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events.find((e) => e.event === 'gateway.listening')?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const demo = events.find((e) => e.event === 'gateway.demo');
    expect(demo?.tenants).toEqual([
      { tenant: 'acme', apiKey: 'acme-demo-key' },
      { tenant: 'globex', apiKey: 'globex-demo-key' },
    ]);
    const curl = String(demo?.try);

    const { stdout } = await promisify(execFile)('sh', ['-c', curl]);
    const body = JSON.parse(stdout) as { rows: [string, number, number][]; rowCount: number };
    expect(body.rowCount).toBe(5);
    const total = body.rows.reduce((sum, [, requests]) => sum + requests, 0);
    expect(total).toBeGreaterThan(5 * 100_000);
    const viaPsql = await promisify(execFile)('sh', ['-c', psql]);
    expect(viaPsql.stdout).toMatch(/\(5 rows\)/);

    // The demo's events hold at least a million rows per tenant.
    const url = /curl -s (\S+)\/v1\/query/.exec(curl)?.[1];
    const count = await fetch(`${url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: 'Bearer globex-demo-key' },
      body: JSON.stringify({ sql: 'SELECT count(*) FROM events' }),
    });
    expect(((await count.json()) as { rows: number[][] }).rows[0]?.[0]).toBeGreaterThanOrEqual(1_000_000);

    gateway.removeAllListeners('exit');
    const exited = new Promise<number | null>((resolve) => gateway.once('exit', (code) => resolve(code)));
    gateway.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 120_000);
});
