import type { ConfigResult, EngineFactory } from '@lakegate/engine-api';
import { ConfigError, type EngineSection, type ModuleReference } from '../config/config.js';
import { describeModule, firstLine, loadEngineModule, type ModuleLoad } from './engine-module.js';

/** One engine to create: its factory, validated config and tenants' options, under the id the config gives it. */
export interface EngineSpec {
  /** The name tenants and requests use: the `engines.<id>` key, or a built-in engine's own id. */
  readonly id: string;
  readonly factory: EngineFactory;
  /** What the factory's `parseConfig` returned. */
  readonly config: unknown;
  /** What the factory's `parseTenantConfig` returned for each tenant that set options, by tenant id. */
  readonly tenantConfigs: ReadonlyMap<string, unknown>;
  /** The module it was loaded from, or `undefined` for a built-in engine. */
  readonly module: ModuleReference | undefined;
}

export interface EnginePlanInput {
  /** `engines.<id>` sections by id. */
  readonly engines: Readonly<Record<string, EngineSection>>;
  /** Each tenant's `defaultEngine` and per-engine options. */
  readonly tenants: Readonly<
    Record<
      string,
      {
        readonly defaultEngine: string | undefined;
        readonly engines: Readonly<Record<string, unknown>>;
        /** Datasets held inside an engine: that engine must exist. */
        readonly engineTables?: Readonly<Record<string, { readonly engine: string }>>;
      }
    >
  >;
  /** The engine queries go to when neither request nor tenant names one (`query.defaultEngine`). */
  readonly defaultEngine?: string | undefined;
  /** The engine that counts raw rows for rollup audits (`rollups.auditEngine`), when rollups are configured. */
  readonly auditEngine?: string | undefined;
  /** The engines that need no module, always present; a section under their id configures them. */
  readonly builtIns: readonly EngineFactory[];
  /** Named in the error, e.g. the config file. */
  readonly source: string;
  /** Loads a module's factory (tests replace it). */
  readonly load?: (module: ModuleReference) => Promise<ModuleLoad>;
}

/**
 * Decides which engines the gateway runs, before anything starts: the built-in engines, then every
 * `engines.<id>` with a `module`, each factory validating its section and each tenant's options. Throws one
 * {@link ConfigError} listing every problem, each on one line naming the engine (and its module).
 */
export async function planEngines(input: EnginePlanInput): Promise<readonly EngineSpec[]> {
  const problems: string[] = [];
  const { sources, ids } = await engineSources(input, problems);
  const specs = [...sources].flatMap(([id, source]) => planEngine(id, source, input, problems) ?? []);
  if (input.defaultEngine !== undefined && !ids.includes(input.defaultEngine)) {
    problems.push(`query.defaultEngine: "${input.defaultEngine}" is not one of ${ids.join(', ')}`);
  }
  if (input.auditEngine !== undefined && !ids.includes(input.auditEngine)) {
    problems.push(`rollups.auditEngine: "${input.auditEngine}" is not one of ${ids.join(', ')}`);
  }
  problems.push(...tenantProblems(input.tenants, ids));
  if (problems.length > 0) throw new ConfigError(input.source, problems);
  return specs;
}

interface EngineSource {
  readonly factory: EngineFactory;
  readonly module: ModuleReference | undefined;
}

/**
 * Where each engine's factory comes from: the built-ins, then the modules in config order. `ids` holds every id
 * meant to exist, also those whose module failed, so that their tenants' sections are not reported a second time.
 */
async function engineSources(
  input: EnginePlanInput,
  problems: string[],
): Promise<{ readonly sources: ReadonlyMap<string, EngineSource>; readonly ids: readonly string[] }> {
  const { engines, builtIns, load = loadEngineModule } = input;
  const builtInIds = builtIns.map((f) => f.id);
  const sources = new Map<string, EngineSource>(
    builtIns.map((factory) => [factory.id, { factory, module: undefined }]),
  );
  const modules = Object.entries(engines).flatMap(([id, { module }]) => {
    if (module === undefined) {
      if (!builtInIds.includes(id)) {
        problems.push(
          `engines.${id}: no built-in engine is called "${id}" (built-in: ${builtInIds.join(', ')}); add "module" to load it from a package or file`,
        );
      }
      return [];
    }
    if (builtInIds.includes(id)) {
      // The gateway relies on its built-in engines (rollups, dataset schemas): a module may not take their place.
      problems.push(`engines.${id}: "${id}" is a built-in engine; register ${describeModule(module)} under another id`);
      return [];
    }
    return [{ id, module }];
  });
  const loads = await Promise.all(modules.map(({ module }) => load(module)));
  for (const [i, { id, module }] of modules.entries()) {
    const loaded = loads[i];
    if (loaded?.ok) sources.set(id, { factory: loaded.factory, module });
    else problems.push(`engines.${id}: ${loaded?.problem ?? 'not loaded'}`);
  }
  return { sources, ids: [...builtInIds, ...modules.map((m) => m.id)] };
}

/** Validates one engine's section and its tenants' options with its factory; `undefined` if the section fails. */
function planEngine(
  id: string,
  { factory, module }: EngineSource,
  input: EnginePlanInput,
  problems: string[],
): EngineSpec | undefined {
  // A built-in engine without a section validates `undefined`, as it always has (its defaults).
  const parsed = validate(() => factory.parseConfig(input.engines[id]?.options), {
    path: `engines.${id}`,
    module,
    what: 'its config',
    problems,
  });
  const tenantConfigs = new Map<string, unknown>();
  for (const [tenant, { engines: options }] of Object.entries(input.tenants)) {
    if (!(id in options)) continue;
    const path = `tenants.${tenant}.engines.${id}`;
    const { parseTenantConfig } = factory;
    if (!parseTenantConfig) {
      const who = module ? describeModule(module) : `the ${id} engine`;
      problems.push(`${path}: ${who} takes no per-tenant options (its factory has no parseTenantConfig)`);
      continue;
    }
    const raw = options[id];
    const result = validate(() => parseTenantConfig.call(factory, raw), {
      path,
      module,
      what: "the tenant's options",
      problems,
    });
    if (result) tenantConfigs.set(tenant, result.config);
  }
  return parsed ? { id, factory, config: parsed.config, tenantConfigs, module } : undefined;
}

/** Tenants' sections and default engines that name no engine of the gateway. */
function tenantProblems(tenants: EnginePlanInput['tenants'], ids: readonly string[]): string[] {
  const problems: string[] = [];
  for (const [tenant, { defaultEngine, engines, engineTables = {} }] of Object.entries(tenants)) {
    for (const [name, { engine }] of Object.entries(engineTables)) {
      if (!ids.includes(engine)) {
        problems.push(`tenants.${tenant}.datasets.${name}.engine: "${engine}" is not one of ${ids.join(', ')}`);
      }
    }
    for (const id of Object.keys(engines)) {
      if (!ids.includes(id)) {
        problems.push(`tenants.${tenant}.engines.${id}: no engine "${id}" is configured (engines: ${ids.join(', ')})`);
      }
    }
    if (defaultEngine !== undefined && !ids.includes(defaultEngine)) {
      problems.push(`tenants.${tenant}.defaultEngine: "${defaultEngine}" is not one of ${ids.join(', ')}`);
    }
  }
  return problems;
}

interface Validation {
  /** Where the section is in the config, e.g. `engines.echo`. */
  readonly path: string;
  readonly module: ModuleReference | undefined;
  /** What is validated, for messages: `its config`, `the tenant's options`. */
  readonly what: string;
  /** Where refusals go. */
  readonly problems: string[];
}

/**
 * Runs a factory's validation and adds what it refuses to `problems`. A built-in engine's problems keep their
 * paths (`engines.duckdb.threads: ...`); a module's also name the module, since its author is who must read them.
 */
function validate<T>(parse: () => ConfigResult<T>, v: Validation): { readonly config: T } | undefined {
  const who = v.module ? describeModule(v.module) : 'the engine';
  let result: ConfigResult<T>;
  try {
    result = parse();
  } catch (error) {
    v.problems.push(`${v.path}: ${who} failed to validate ${v.what}: ${firstLine(error)}`);
    return undefined;
  }
  if (typeof result !== 'object' || result === null || typeof result.ok !== 'boolean') {
    v.problems.push(`${v.path}: ${who} returned no { ok, ... } result when validating ${v.what}`);
    return undefined;
  }
  if (result.ok) return { config: result.config };
  const refused = Array.isArray(result.problems) && result.problems.length > 0 ? result.problems : ['refused'];
  for (const problem of refused) {
    v.problems.push(v.module ? `${v.path}: ${who} refused ${v.what}: ${problem}` : `${v.path}.${problem}`);
  }
  return undefined;
}
