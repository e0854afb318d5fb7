import { createReferenceEngine, type Engine, type EngineDeps, type EngineFactory } from '@lakegate/engine-api';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config/config.js';
import type { EngineSpec } from './engine-plan.js';
import { EngineRegistry } from './engine-registry.js';

const storage = { tenantDirectories: () => [] };
const limits = { maxConcurrent: 1, maxQueued: 1 };
const module = { specifier: './echo.js', baseDir: '/etc/lakegate' };

/** A factory that records what it was given and creates whatever `make` returns. */
function factory(make: () => Promise<unknown>, seen: EngineDeps[] = []): EngineFactory {
  return {
    id: 'echo',
    parseConfig: (raw) => ({ ok: true, config: raw }),
    create: async (_config, deps) => {
      seen.push(deps);
      return (await make()) as Engine;
    },
  };
}
const spec = (id: string, f: EngineFactory, tenantConfigs = new Map<string, unknown>()): EngineSpec => ({
  id,
  factory: f,
  config: {},
  tenantConfigs,
  module,
});
const startError = async (specs: EngineSpec[]): Promise<string> => {
  const error = await EngineRegistry.create({ specs, deps: { storage }, limits, source: 'lakegate.config.json' }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return (error as ConfigError).message;
};

describe('the engine registry', () => {
  it("names each engine by its config key and hands it its tenants' options", async () => {
    const seen: EngineDeps[] = [];
    const make = async () => createReferenceEngine({ datasets: {} });
    const registry = await EngineRegistry.create({
      specs: [
        spec('echo', factory(make, seen), new Map([['acme', { greeting: 'hi' }]])),
        spec('echo-two', factory(make, seen)),
      ],
      deps: { storage },
      limits,
    });
    expect(registry.ids).toEqual(['echo', 'echo-two']);
    expect(registry.get('echo-two').id).toBe('echo-two');
    expect(seen[0]?.tenantConfigs?.get('acme')).toEqual({ greeting: 'hi' });
    expect(seen[1]?.tenantConfigs?.size).toBe(0);
    expect(seen[0]?.storage).toBe(storage);
    await registry.close();
  });

  it('asks the engines for their health once at a time, and keeps the answer for a second', async () => {
    let asked = 0;
    const make = async () => {
      const engine = createReferenceEngine({ datasets: {} });
      return Object.assign(engine, {
        healthy: async () => {
          asked++;
          await new Promise((resolve) => setTimeout(resolve, 50));
          return true;
        },
      });
    };
    const registry = await EngineRegistry.create({ specs: [spec('echo', factory(make))], deps: { storage }, limits });
    // Many asks at once (as many /readyz calls) share one.
    const answers = await Promise.all(Array.from({ length: 100 }, () => registry.health(1_000)));
    expect(answers.every((a) => a.echo === 'up')).toBe(true);
    expect(asked).toBe(1);
    expect(await registry.health(1_500)).toEqual({ echo: 'up' });
    expect(asked).toBe(1);
    // A second later the engines are asked again.
    await registry.health(2_000);
    expect(asked).toBe(2);
    await registry.close();
  });

  it("fails a module's start in one line when create() throws or returns no engine, closing those created", async () => {
    const first = createReferenceEngine({ datasets: {} });
    const ok = spec(
      'first',
      factory(async () => first),
    );
    const thrown = await startError([
      ok,
      spec(
        'broken',
        factory(async () => {
          throw new Error('cannot reach the cluster\n    at connect (x.js:1:1)');
        }),
      ),
    ]);
    expect(thrown).toBe(
      'Invalid configuration in lakegate.config.json:\n  - engines.broken: module "./echo.js" (relative to /etc/lakegate) failed to create its engine: cannot reach the cluster',
    );
    await expect(
      first.execute({ queryId: 'q', tenant: 't', sql: 'SELECT 1', tables: [] }, { signal: AbortSignal.timeout(1000) }),
    ).rejects.toMatchObject({
      code: 'ENGINE_CLOSED',
    });
    expect(
      await startError([
        spec(
          'hollow',
          factory(async () => ({ close: async () => {} })),
        ),
      ]),
    ).toMatch(
      /engines\.hollow: module "\.\/echo\.js" .* returned no engine from create\(\): check\(\) is missing, execute\(\) is missing, stats\(\) is missing, "capabilities" is missing$/,
    );
  });

  it("lets a built-in engine's failure through as it is", async () => {
    const failing = {
      ...spec(
        'duckdb',
        factory(async () => Promise.reject(new TypeError('bug'))),
      ),
      module: undefined,
    };
    await expect(EngineRegistry.create({ specs: [failing], deps: { storage }, limits })).rejects.toThrow(TypeError);
  });

  it('finds an engine by the extension it implements, the first in config order', async () => {
    const plain = async () => createReferenceEngine({ datasets: {} });
    const tagged = async () => Object.assign(createReferenceEngine({ datasets: {} }), { tag: () => 'mine' });
    const isTagged = (e: object): e is { tag(): string } => 'tag' in e;
    const registry = await EngineRegistry.create({
      specs: [spec('plain', factory(plain)), spec('tagged', factory(tagged)), spec('tagged-too', factory(tagged))],
      deps: { storage },
      limits,
    });
    expect(registry.offering(isTagged)?.id).toBe('tagged');
    expect(registry.offering((e): e is { other: true } => 'other' in e)).toBeUndefined();
    await registry.close();
  });
});
