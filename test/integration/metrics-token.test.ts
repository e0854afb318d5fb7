import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type RunningGateway, silentLogger, startGateway } from '@lakegate/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const TOKEN = 'metrics-token-0123456789';

/** `/metrics` behind `observability.metricsToken`: it names every tenant, so only the scraper reads it. */
describe('the metrics token', () => {
  let root: string;
  let gateway: RunningGateway;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-metrics-token-'));
    await mkdir(join(root, 'events'));
    await writeFile(join(root, 'events', 'a.csv'), 'n\n1\n');
    const config = parseConfig(
      {
        server: { port: 0, postgres: { enabled: false } },
        storage: { cacheDir: join(root, 'cache'), warming: { enabled: false } },
        observability: { metricsToken: TOKEN },
        tenants: {
          'secret-tenant': {
            apiKeys: ['secret-tenant-key'],
            datasets: { events: { location: 'file:./events/', format: 'csv' } },
          },
        },
      },
      { baseDir: root },
    );
    gateway = await startGateway({ config, logger: silentLogger });
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('answers /metrics only with the token, and names no tenant without it', async () => {
    for (const headers of [{}, { Authorization: 'Bearer wrong-token-0123456789' }, { Authorization: TOKEN }]) {
      const response = await fetch(`${gateway.url}/metrics`, { headers });
      const text = await response.text();
      expect(response.status).toBe(401);
      expect(JSON.parse(text).error.code).toBe('UNAUTHENTICATED');
      expect(text).not.toContain('secret-tenant');
    }
    const scraped = await fetch(`${gateway.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('secret-tenant');
  });
});
