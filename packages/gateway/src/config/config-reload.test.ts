import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.js';
import { configVersion, planReload } from './config-reload.js';

const config = (extra: Record<string, unknown>, tenants: Record<string, unknown>) =>
  parseConfig({ ...extra, tenants }, { baseDir: '/srv/lakegate' });

describe('planning a reload', () => {
  const acme = { apiKeys: ['acme-secret-1'], datasets: {} };

  it('takes the new tenants and keeps gateway-wide sections, naming each that needs a restart', () => {
    const running = config({ server: { port: 8080 } }, { acme });
    const next = config(
      { server: { port: 9090 }, query: { maxSqlBytes: 1000 } },
      { acme: { ...acme, apiKeys: ['acme-secret-2'] }, globex: { apiKeys: ['globex-secret-1'], datasets: {} } },
    );
    const plan = planReload(running, next);
    expect(Object.keys(plan.config.tenants)).toEqual(['acme', 'globex']);
    expect(plan.config.tenants.acme?.apiKeys).toEqual(['acme-secret-2']);
    expect(plan.config.server.port).toBe(8080);
    expect(plan.config.query.maxSqlBytes).toBe(running.query.maxSqlBytes);
    expect(plan.restartNeeded).toEqual(['server', 'query']);
  });

  it("keeps a tenant's engine options, which engines took at start, and says so", () => {
    const running = config({}, { acme: { ...acme, engines: { echo: { greeting: 'hi' } } } });
    const next = config({}, { acme: { ...acme, engines: { echo: { greeting: 'bonjour' } } } });
    const plan = planReload(running, next);
    expect(plan.config.tenants.acme?.engines).toEqual({ echo: { greeting: 'hi' } });
    expect(plan.restartNeeded).toEqual(['tenants.acme.engines']);
  });

  it('names a configuration by its content', () => {
    const a = config({}, { acme });
    expect(configVersion(a)).toBe(configVersion(config({}, { acme })));
    expect(configVersion(a)).not.toBe(configVersion(config({}, { acme: { ...acme, apiKeys: ['acme-secret-9'] } })));
  });
});
