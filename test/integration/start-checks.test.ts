import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../harness/services.js';
import { runGatewayProcess, startGatewayProcess } from '../support/gateway-process.js';

/** What the built binary says at start about mistakes an operator makes, each as one JSON line. */
describe('start-time checks', () => {
  let root: string;
  const KEY = 'acme-start-key';
  const tenant = (datasets: Record<string, unknown>) => ({ acme: { apiKeys: [KEY], datasets } });

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-start-'));
    await mkdir(join(root, 'events'));
    await writeFile(join(root, 'events', 'part-0.csv'), 'a\n1\n');
    await writeFile(join(root, 'a-file.csv'), 'a\n1\n');
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  /** Runs the binary with `config` (port and cache filled in); it must stop with exit 1 and one JSON line. */
  const refused = async (name: string, config: Record<string, unknown>) => {
    const run = await runGatewayProcess(join(root, `${name}.json`), {
      server: { port: await freePort() },
      storage: { cacheDir: join(root, `cache-${name}`), warming: { enabled: false } },
      ...config,
    });
    expect(run.code).toBe(1);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines, run.stderr).toHaveLength(1);
    const event = JSON.parse(lines[0] ?? '') as { event: string; message: string; problems: string[] };
    expect(event.event).toBe('gateway.start_failed');
    expect(run.stderr).not.toMatch(/\n\s+at /);
    return event;
  };

  it('says in one line that the port is in use, and exits 1', async () => {
    const port = await freePort();
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
    try {
      const event = await refused('port', { server: { port }, tenants: tenant({}) });
      expect(event.message).toBe('Cannot listen');
      expect(event.problems).toEqual([
        `server.port: 127.0.0.1:${port} is already in use by another process: stop it, or choose another port (server.port or LAKEGATE_PORT)`,
      ]);
    } finally {
      holder.close();
    }
  });

  it('says what a tenant id may contain, and refuses a location that is a file', async () => {
    const badId = await refused('bad-id', { tenants: { 'Acme Corp': { apiKeys: [KEY], datasets: {} } } });
    expect(badId.problems).toEqual(['tenants.Acme Corp: tenant ids are lower case letters, digits, - and _']);
    const file = await refused('file', {
      tenants: tenant({ events: { location: `file:${join(root, 'a-file.csv')}`, format: 'csv' } }),
    });
    expect(file.problems).toEqual([
      `tenants.acme.datasets.events.location: ${join(root, 'a-file.csv')} is a file; a location is the folder that holds the dataset's files`,
    ]);
  });

  it('starts with a missing folder, warns once in JSON, and lists the dataset as unavailable with the reason', async () => {
    const port = await freePort();
    const gateway = await startGatewayProcess(
      join(root, 'missing.json'),
      {
        server: { port },
        storage: { cacheDir: join(root, 'cache-missing'), warming: { enabled: false } },
        tenants: tenant({
          events: { location: `file:${join(root, 'events')}/`, format: 'csv' },
          later: { location: `file:${join(root, 'not-yet')}/`, format: 'csv' },
        }),
      },
      port,
    );
    try {
      const response = await fetch(`${gateway.url}/v1/datasets`, { headers: { Authorization: `Bearer ${KEY}` } });
      const { datasets } = (await response.json()) as {
        datasets: { name: string; available: boolean; lastError: string | null }[];
      };
      expect(datasets.find((d) => d.name === 'events')).toMatchObject({ available: true, lastError: null });
      const later = datasets.find((d) => d.name === 'later');
      expect(later?.available).toBe(false);
      expect(later?.lastError).toMatch(/does not exist/);
      const lines = gateway.output().trimEnd().split('\n');
      // Every line the process wrote is one JSON event.
      const events = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(events.filter((e) => e.event === 'dataset.unavailable')).toEqual([
        expect.objectContaining({ level: 'warn', tenant: 'acme', dataset: 'later', reason: 'does not exist' }),
      ]);
      expect(events.some((e) => e.event === 'gateway.listening')).toBe(true);
    } finally {
      await gateway.kill('SIGTERM');
    }
  });
});
