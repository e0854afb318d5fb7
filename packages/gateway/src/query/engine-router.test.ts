import { createReferenceEngine, type Engine, type QueryRequest } from '@lakegate/engine-api';
import { describe, expect, it } from 'vitest';
import { EngineRegistry } from '../engines/engine-registry.js';
import { ManagedEngine } from '../engines/managed-engine.js';
import { EngineRouter } from './engine-router.js';

/** An engine that accepts a query only when `accepts` says so, and counts the checks it was asked. */
function engine(id: string, accepts: (request: QueryRequest) => boolean): Engine & { checks: number } {
  const inner = createReferenceEngine({ datasets: {} });
  const fake = {
    id,
    capabilities: inner.capabilities,
    checks: 0,
    check(request: QueryRequest) {
      fake.checks++;
      return accepts(request) ? { supported: true as const } : { supported: false as const, reason: `${id} says no` };
    },
    execute: inner.execute.bind(inner),
    stats: inner.stats.bind(inner),
    close: inner.close.bind(inner),
    [Symbol.asyncDispose]: () => inner.close(),
  };
  return fake;
}

const request = (tenant: string, sql = 'SELECT 1'): QueryRequest => ({ queryId: 'q', tenant, sql, tables: [] });

function router(engines: readonly Engine[], defaultEngine: string, tenantDefaults: Record<string, string> = {}) {
  const registry = EngineRegistry.of(engines.map((e) => new ManagedEngine(e, { maxConcurrent: 1, maxQueued: 1 })));
  return new EngineRouter(registry, { defaultEngine, tenantDefault: (tenant) => tenantDefaults[tenant] });
}

describe('engine router', () => {
  const all = () => [engine('alpha', () => true), engine('beta', () => true), engine('gamma', () => true)];

  it('prefers the requested engine, then the tenant’s default, then the gateway’s', async () => {
    const r = router(all(), 'beta', { acme: 'gamma' });
    expect(await r.route(request('acme'), 'alpha')).toMatchObject({ engine: { id: 'alpha' }, route: 'requested' });
    expect(await r.route(request('acme'), undefined)).toMatchObject({
      engine: { id: 'gamma' },
      route: 'tenant default',
    });
    expect(await r.route(request('globex'), undefined)).toMatchObject({ engine: { id: 'beta' }, route: 'default' });
    expect(r.preferred('acme')).toBe('gamma');
    expect(r.preferred('globex')).toBe('beta');
  });

  it('falls through engines that decline, in order, and says who declined and why', async () => {
    const picky = engine('alpha', (q) => q.sql.includes('alpha'));
    const r = router([picky, engine('beta', () => false), engine('gamma', () => true)], 'alpha');
    const choice = await r.route(request('acme'), undefined);
    expect(choice.engine.id).toBe('gamma');
    expect(choice.route).toBe('alpha declined: alpha says no; beta declined: beta says no; answered by gamma');
    expect((await r.route(request('acme', 'SELECT alpha'), undefined)).engine.id).toBe('alpha');
  });

  it('refuses an unknown engine name instead of falling back, and a query no engine accepts', async () => {
    const r = router(all(), 'alpha');
    await expect(r.route(request('acme'), 'delta')).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    const none = router([engine('alpha', () => false)], 'alpha');
    await expect(none.route(request('acme'), undefined)).rejects.toMatchObject({
      code: 'UNSUPPORTED_QUERY',
      message: expect.stringContaining('alpha declined: alpha says no'),
    });
  });

  it('asks only the engines that can read the query’s datasets when they live in one engine', async () => {
    const engines = all();
    const r = router(engines, 'alpha');
    expect((await r.route(request('acme'), undefined, ['gamma'])).engine.id).toBe('gamma');
    expect(engines[0]?.checks).toBe(0);
    expect((await r.route(request('acme'), 'alpha', ['gamma'])).route).toBe(
      'alpha declined: the query reads datasets that live in gamma; answered by gamma',
    );
    expect(engines[0]?.checks).toBe(0);
    await expect(r.route(request('acme'), undefined, ['delta'])).rejects.toMatchObject({
      code: 'UNSUPPORTED_QUERY',
      message: expect.stringContaining('live in delta, which is not configured'),
    });
  });
});
