import type { Engine, EngineDeps } from '@lakegate/engine-api';
import { LakegateError } from '@lakegate/engine-api';
import { ConfigError } from '../config/config.js';
import { describeModule, engineProblems, firstLine } from './engine-module.js';
import type { EngineSpec } from './engine-plan.js';
import { type ExtensionGuard, ManagedEngine, type ManagedEngineOptions } from './managed-engine.js';

export interface RegistryOptions {
  /** The engines to create, in order (see `planEngines`). */
  readonly specs: readonly EngineSpec[];
  /** What every engine gets; each also gets its tenants' options as `tenantConfigs`. */
  readonly deps: Omit<EngineDeps, 'tenantConfigs'>;
  /** Each engine's concurrency limits. */
  readonly limits: Omit<ManagedEngineOptions, 'id'>;
  /** Named in the error when a module's engine fails to start, e.g. the config file. */
  readonly source?: string;
}

/** How long an answer of the engines' health stands (see {@link EngineRegistry.health}). */
export const HEALTH_TTL_MS = 1000;

/** The engines a gateway runs, by the id the config gives them, each wrapped in its managed layer. */
export class EngineRegistry {
  readonly #engines: ReadonlyMap<string, ManagedEngine>;
  /** The last ask of the engines' health, under way or answered, and when it began. */
  #health: { readonly at: number; readonly states: Promise<Record<string, 'up' | 'down'>> } | undefined;

  private constructor(engines: ReadonlyMap<string, ManagedEngine>) {
    this.#engines = engines;
  }

  /**
   * Creates the planned engines in order. If one fails, those already created are closed. A module's engine that
   * fails is a {@link ConfigError} naming the engine and module in one line; a built-in's failure is the
   * gateway's own bug and keeps its stack.
   */
  static async create(options: RegistryOptions): Promise<EngineRegistry> {
    const engines = new Map<string, ManagedEngine>();
    for (const spec of options.specs) {
      let engine: Engine;
      try {
        engine = await createEngine(spec, options);
      } catch (error) {
        await Promise.all([...engines.values()].map((e) => e.close(0)));
        throw error;
      }
      engines.set(spec.id, new ManagedEngine(engine, { ...options.limits, id: spec.id }));
    }
    return new EngineRegistry(engines);
  }

  /** Wraps already-created engines (tests, embedding). */
  static of(engines: readonly ManagedEngine[]): EngineRegistry {
    return new EngineRegistry(new Map(engines.map((e) => [e.id, e])));
  }

  get ids(): readonly string[] {
    return [...this.#engines.keys()];
  }

  get(id: string): ManagedEngine {
    const engine = this.#engines.get(id);
    if (!engine) {
      throw new LakegateError('INVALID_REQUEST', `Unknown engine "${id}". Available engines: ${this.ids.join(', ')}.`);
    }
    return engine;
  }

  /** The first engine that offers its own SQL analysis (DuckDB's parser), for syntax node-sql-parser lacks. */
  analyzer(): ManagedEngine | undefined {
    return [...this.#engines.values()].find((e) => e.analyze !== undefined);
  }

  /** The first engine, in config order, that implements the extension `guard` recognises. */
  offering<T extends object>(guard: ExtensionGuard<T>): ManagedEngine | undefined {
    return [...this.#engines.values()].find((e) => e.offers(guard));
  }

  /**
   * Each engine's health, by id: `up` or `down`. Asked once at a time and kept for {@link HEALTH_TTL_MS}: `/readyz` needs no key, and
   * each ask of a remote engine is a request to it, through the connections its queries use.
   */
  health(now = Date.now()): Promise<Record<string, 'up' | 'down'>> {
    if (this.#health && now - this.#health.at < HEALTH_TTL_MS) return this.#health.states;
    const engines = [...this.#engines.values()];
    const states = Promise.all(engines.map((e) => e.healthy())).then((up) =>
      Object.fromEntries(engines.map((e, i) => [e.id, up[i] ? 'up' : 'down'] as const)),
    );
    this.#health = { at: now, states };
    return states;
  }

  get ready(): boolean {
    return [...this.#engines.values()].every((e) => !e.closed);
  }

  async close(graceMs = 0): Promise<void> {
    await Promise.all([...this.#engines.values()].map((e) => e.close(graceMs)));
  }
}

/** Runs a spec's factory; a module whose `create()` throws, or returns no engine, is named in one line. */
async function createEngine(spec: EngineSpec, options: RegistryOptions): Promise<Engine> {
  const deps: EngineDeps = { ...options.deps, tenantConfigs: spec.tenantConfigs };
  const { module } = spec;
  if (!module) return spec.factory.create(spec.config, deps);
  const fail = (why: string): ConfigError =>
    new ConfigError(options.source ?? 'configuration', [`engines.${spec.id}: ${describeModule(module)} ${why}`]);
  let engine: Engine;
  try {
    engine = await spec.factory.create(spec.config, deps);
  } catch (error) {
    throw fail(`failed to create its engine: ${firstLine(error)}`);
  }
  const problems = engineProblems(engine);
  if (problems.length > 0) {
    // Whatever it did create may hold resources; close it if it can be closed at all.
    await Promise.resolve()
      .then(() => (engine as Partial<Engine> | undefined)?.close?.())
      .catch(() => undefined);
    throw fail(`returned no engine from create(): ${problems.join(', ')}`);
  }
  return engine;
}
