import { type ConfigResult, createReferenceEngine, type EngineFactory } from '@lakegate/engine-api';
import { describe, expect, it } from 'vitest';
import { ConfigError, type EngineSection, type ModuleReference } from '../config/config.js';
import type { ModuleLoad } from './engine-module.js';
import { type EnginePlanInput, planEngines } from './engine-plan.js';

interface Greeting {
  readonly greeting: string;
}

const greeting = (raw: unknown): ConfigResult<Greeting> => {
  const value = (raw as { greeting?: unknown } | undefined)?.greeting ?? 'hello';
  return typeof value === 'string'
    ? { ok: true, config: { greeting: value } }
    : { ok: false, problems: ['greeting: must be a string'] };
};

/** A module's factory: validates `greeting` in its section and in each tenant's options. */
const echo: EngineFactory<Greeting, Greeting> = {
  id: 'echo',
  parseConfig: greeting,
  parseTenantConfig: greeting,
  create: async () => createReferenceEngine({ datasets: {} }),
};
const builtIn = (id: string): EngineFactory => ({
  id,
  parseConfig: (raw) =>
    raw === undefined || typeof raw === 'object'
      ? { ok: true, config: raw ?? 'defaults' }
      : { ok: false, problems: ['must be an object'] },
  create: async () => createReferenceEngine({ datasets: {} }),
});
const BUILT_INS = [builtIn('duckdb'), builtIn('local-agg')];

const at = (specifier: string): ModuleReference => ({ specifier, baseDir: '/etc/lakegate' });
const modules: Record<string, ModuleLoad> = {
  './echo.js': { ok: true, factory: echo as EngineFactory, path: '/etc/lakegate/echo.js' },
  './plain.js': { ok: true, factory: builtIn('plain'), path: '/etc/lakegate/plain.js' },
  './nope.js': { ok: false, problem: 'cannot load module "./nope.js" (relative to /etc/lakegate): not found' },
};
const load = async (module: ModuleReference): Promise<ModuleLoad> =>
  modules[module.specifier] ?? { ok: false, problem: 'unexpected' };

const plan = (
  engines: Record<string, EngineSection>,
  tenants: Record<
    string,
    { defaultEngine?: string; engines?: Record<string, unknown>; engineTables?: Record<string, { engine: string }> }
  > = {},
  gateway: Pick<EnginePlanInput, 'defaultEngine' | 'auditEngine'> = {},
) => {
  const input: EnginePlanInput = {
    ...gateway,
    engines,
    tenants: Object.fromEntries(
      Object.entries(tenants).map(([id, t]) => [
        id,
        { defaultEngine: t.defaultEngine, engines: t.engines ?? {}, engineTables: t.engineTables ?? {} },
      ]),
    ),
    builtIns: BUILT_INS,
    source: 'lakegate.config.json',
    load,
  };
  return planEngines(input);
};
const problemsOf = async (...args: Parameters<typeof plan>): Promise<readonly string[]> => {
  try {
    await plan(...args);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};

describe('planning the engines', () => {
  it('keeps the built-ins, configured or not, and adds each module under its config key', async () => {
    const specs = await plan({
      duckdb: { module: undefined, options: { threads: 1 } },
      echo: { module: at('./echo.js'), options: { greeting: 'hi' } },
      'echo-two': { module: at('./echo.js'), options: {} },
    });
    expect(specs.map((s) => [s.id, s.factory.id, s.config])).toEqual([
      ['duckdb', 'duckdb', { threads: 1 }],
      ['local-agg', 'local-agg', 'defaults'],
      ['echo', 'echo', { greeting: 'hi' }],
      ['echo-two', 'echo', { greeting: 'hello' }],
    ]);
    expect(specs.find((s) => s.id === 'echo')?.module).toEqual(at('./echo.js'));
  });

  it("parses each tenant's options with the factory and hands them over by tenant", async () => {
    const specs = await plan(
      { echo: { module: at('./echo.js'), options: {} } },
      {
        acme: { defaultEngine: 'echo', engines: { echo: { greeting: 'bonjour' } } },
        globex: { defaultEngine: 'echo' },
      },
    );
    const tenantConfigs = specs.find((s) => s.id === 'echo')?.tenantConfigs;
    expect([...(tenantConfigs ?? [])]).toEqual([['acme', { greeting: 'bonjour' }]]);
  });

  it('lists every problem at once, one line each, naming the engine and its module', async () => {
    const problems = await problemsOf(
      {
        mydb: { module: undefined, options: {} },
        duckdb: { module: at('./echo.js'), options: {} },
        missing: { module: at('./nope.js'), options: {} },
        echo: { module: at('./echo.js'), options: { greeting: 3 } },
        plain: { module: at('./plain.js'), options: {} },
      },
      {
        acme: {
          defaultEngine: 'spark',
          engines: { echo: { greeting: 4 }, plain: { x: 1 }, duckdb: { threads: 1 }, ghost: {}, missing: {} },
        },
      },
    );
    expect(problems).toEqual([
      'engines.mydb: no built-in engine is called "mydb" (built-in: duckdb, local-agg); add "module" to load it from a package or file',
      'engines.duckdb: "duckdb" is a built-in engine; register module "./echo.js" (relative to /etc/lakegate) under another id',
      'engines.missing: cannot load module "./nope.js" (relative to /etc/lakegate): not found',
      'tenants.acme.engines.duckdb: the duckdb engine takes no per-tenant options (its factory has no parseTenantConfig)',
      'engines.echo: module "./echo.js" (relative to /etc/lakegate) refused its config: greeting: must be a string',
      'tenants.acme.engines.echo: module "./echo.js" (relative to /etc/lakegate) refused the tenant\'s options: greeting: must be a string',
      'tenants.acme.engines.plain: module "./plain.js" (relative to /etc/lakegate) takes no per-tenant options (its factory has no parseTenantConfig)',
      'tenants.acme.engines.ghost: no engine "ghost" is configured (engines: duckdb, local-agg, missing, echo, plain)',
      'tenants.acme.defaultEngine: "spark" is not one of duckdb, local-agg, missing, echo, plain',
    ]);
  });

  it('refuses a dataset held by an engine that is not configured', async () => {
    expect(
      await problemsOf(
        { echo: { module: at('./echo.js'), options: {} } },
        { acme: { engineTables: { events: { engine: 'echo' }, orders: { engine: 'clickhouse' } } } },
      ),
    ).toEqual(['tenants.acme.datasets.orders.engine: "clickhouse" is not one of duckdb, local-agg, echo']);
  });

  it('checks that the default engine and the rollup audit engine are engines of the gateway', async () => {
    const echo = { echo: { module: at('./echo.js'), options: {} } };
    expect(await problemsOf(echo, {}, { defaultEngine: 'echo', auditEngine: 'echo' })).toEqual([]);
    expect(await problemsOf(echo, {}, { defaultEngine: 'spark', auditEngine: 'trino' })).toEqual([
      'query.defaultEngine: "spark" is not one of duckdb, local-agg, echo',
      'rollups.auditEngine: "trino" is not one of duckdb, local-agg, echo',
    ]);
  });

  it("keeps a built-in engine's problems under their own paths", async () => {
    expect(
      await problemsOf({ duckdb: { module: undefined, options: 5 as unknown as Record<string, unknown> } }),
    ).toEqual(['engines.duckdb.must be an object']);
  });

  it('turns a factory that throws or answers nonsense into one line', async () => {
    modules['./throws.js'] = {
      ok: true,
      path: '/etc/lakegate/throws.js',
      factory: {
        id: 'throws',
        parseConfig: () => {
          throw new Error('boom\nstack');
        },
        create: async () => createReferenceEngine({ datasets: {} }),
      },
    };
    modules['./odd.js'] = {
      ok: true,
      path: '/etc/lakegate/odd.js',
      factory: {
        id: 'odd',
        parseConfig: () => 'yes' as unknown as ConfigResult<unknown>,
        create: echo.create as EngineFactory['create'],
      },
    };
    expect(
      await problemsOf({ a: { module: at('./throws.js'), options: {} }, b: { module: at('./odd.js'), options: {} } }),
    ).toEqual([
      'engines.a: module "./throws.js" (relative to /etc/lakegate) failed to validate its config: boom',
      'engines.b: module "./odd.js" (relative to /etc/lakegate) returned no { ok, ... } result when validating its config',
    ]);
  });
});
