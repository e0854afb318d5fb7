import type { EngineDeps, EngineFactory } from '@lakegate/engine-api';
import { LakegateError } from '@lakegate/engine-api';
import { ConfigError } from '../config/config.js';
import { ManagedEngine, type ManagedEngineOptions } from './managed-engine.js';

/** The engines a gateway runs, by id, each wrapped in its managed layer. */
export class EngineRegistry {
  readonly #engines: ReadonlyMap<string, ManagedEngine>;

  private constructor(engines: ReadonlyMap<string, ManagedEngine>) {
    this.#engines = engines;
  }

  /**
   * Validates every engine's config section (`engines.<id>`) and creates the engines. Config problems of all
   * engines are reported together; a section for an unknown engine is a problem too.
   */
  static async create(
    factories: readonly EngineFactory<unknown>[],
    sections: Readonly<Record<string, unknown>>,
    deps: EngineDeps,
    options: ManagedEngineOptions,
  ): Promise<EngineRegistry> {
    const problems: string[] = [];
    const known = new Set(factories.map((f) => f.id));
    for (const id of Object.keys(sections)) {
      if (!known.has(id)) problems.push(`engines.${id}: unknown engine (known: ${[...known].join(', ')})`);
    }
    const configs = factories.map((factory) => {
      const parsed = factory.parseConfig(sections[factory.id]);
      if (!parsed.ok) for (const p of parsed.problems) problems.push(`engines.${factory.id}.${p}`);
      return parsed.ok ? parsed.config : undefined;
    });
    if (problems.length > 0) throw new ConfigError('configuration', problems);

    const engines = new Map<string, ManagedEngine>();
    for (const [i, factory] of factories.entries()) {
      engines.set(factory.id, new ManagedEngine(await factory.create(configs[i], deps), options));
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

  get ready(): boolean {
    return [...this.#engines.values()].every((e) => !e.closed);
  }

  async close(graceMs = 0): Promise<void> {
    await Promise.all([...this.#engines.values()].map((e) => e.close(graceMs)));
  }
}
