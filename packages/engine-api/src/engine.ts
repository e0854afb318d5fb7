import type { CheckResult, DatasetFormat, ExecuteOptions, QueryRequest, QueryStream } from './types.js';

/**
 * What an engine can do. Every flag is documented and has a default ({@link DEFAULT_CAPABILITIES}), so an engine
 * declares only where it differs. The conformance kit and the gateway decide by these flags, never by engine id.
 */
export interface EngineCapabilities {
  /** Batches are produced while the query runs, not after it has finished. Default `true`. */
  readonly streaming: boolean;
  /**
   * How far cancellation reaches: `native` interrupts a query that is still computing its first batch,
   * `between-batches` stops at the next batch boundary. Default `between-batches`.
   */
  readonly cancellation: 'native' | 'between-batches';
  /** Dataset formats the engine reads. Default `['parquet', 'csv']`. */
  readonly formats: readonly DatasetFormat[];
  /** The engine accepts general SQL (`true`) or only the shapes its `check` admits (`false`). Default `true`. */
  readonly generalSql: boolean;
  /** The engine offers `analyze(sql)` from its own parser. Default `false`. */
  readonly analyzesSql: boolean;
  /**
   * The engine binds `QueryRequest.parameters` as real parameters of the statement (`$1`, `$2`, ...). An engine
   * that does not declines requests carrying parameters in `check()`. Default `false`.
   */
  readonly parameters: boolean;
  /**
   * The engine has a boolean type. An engine without one (ClickHouse before 21.12) answers true and false as the
   * integers 1 and 0, of kind `integer`. Default `true`.
   */
  readonly booleanType: boolean;
}

export const DEFAULT_CAPABILITIES: EngineCapabilities = Object.freeze({
  streaming: true,
  cancellation: 'between-batches',
  formats: Object.freeze(['parquet', 'csv'] as const),
  generalSql: true,
  analyzesSql: false,
  parameters: false,
  booleanType: true,
});

/** Fills the defaults of the flags an engine did not declare, and freezes the result. */
export function defineCapabilities(overrides: Partial<EngineCapabilities> = {}): EngineCapabilities {
  return Object.freeze({ ...DEFAULT_CAPABILITIES, ...overrides });
}

/** Figures an engine reports about itself, for metrics and for the conformance kit. */
export interface EngineStats {
  /** Queries started and not yet freed (running or streaming). */
  readonly activeQueries: number;
  /** Engine-specific gauges, e.g. `{ instancesOpen: 3 }`. */
  readonly gauges?: Readonly<Record<string, number>>;
}

export interface SqlTableReference {
  readonly name: string;
  readonly schema?: string;
  readonly catalog?: string;
  /** Character offset of the reference in the SQL text, when the parser reports it. */
  readonly position?: number;
  /** The alias written after it, if any. */
  readonly alias?: string;
  /** True when it names a CTE in scope where it appears (so it is not a table at all). */
  readonly cte?: boolean;
}

/** What an engine's own parser says about a statement, so the gateway can validate syntax it cannot parse. */
export interface SqlAnalysis {
  /** Number of statements in the text. */
  readonly statementCount: number;
  /** Statement type of the first statement, upper case (`SELECT`, `INSERT`, `PRAGMA`, ...). */
  readonly statementType: string;
  /** Base tables referenced, as written (qualified names keep their schema and catalog). */
  readonly tables: readonly SqlTableReference[];
  /** Table functions referenced, such as `read_csv`. */
  readonly tableFunctions: readonly { readonly name: string; readonly position?: number }[];
  /** Names of CTEs defined anywhere in the statement. */
  readonly ctes: readonly string[];
  /**
   * Whether the statement calls a function whose result may change from one run to the next (`now()`,
   * `random()`, `current_date`): its result is then never reused from a cache. Absent means false.
   */
  readonly volatile?: boolean;
}

export interface Engine extends AsyncDisposable {
  /**
   * The engine's own name, for its logs and messages. Tenants and requests name an engine by its key in the
   * gateway's config (`engines.<id>`), which may differ: one module can be registered under two ids.
   */
  readonly id: string;
  readonly capabilities: EngineCapabilities;
  /** Refuses, before anything runs, query shapes this engine does not handle. Never throws for user SQL. */
  check(request: QueryRequest): CheckResult | Promise<CheckResult>;
  /**
   * Starts the query. Resolves once the schema is known; rejects with a Lakegate error
   * (INVALID_SQL, UNKNOWN_TABLE, QUERY_CANCELLED, ...) if it cannot start.
   */
  execute(request: QueryRequest, options: ExecuteOptions): Promise<QueryStream>;
  /** Present when `capabilities.analyzesSql`. */
  analyze?(sql: string, options: ExecuteOptions): Promise<SqlAnalysis>;
  stats(): EngineStats;
  /**
   * Optional diagnostic: the state the engine keeps for a tenant that queries could change (catalog objects,
   * settings, variables), as plain JSON. Tenant SQL must never change it; tests compare it before and after.
   */
  inspectTenant?(tenant: string): Promise<Readonly<Record<string, unknown>>>;
  /**
   * How far a running query is, from 0 to 1 (`request.queryId`), when the engine can tell; `undefined` when it
   * cannot (unknown, finished, or no estimate yet). Protocols show it (Livy's `progress`, Trino's percentage).
   */
  progress?(queryId: string): number | undefined;
  /**
   * Whether the engine can run queries now (a remote engine: its server answers). `/readyz` reports it per engine.
   * Optional: an engine without it is healthy while open. Resolve quickly (within a second or two).
   */
  healthy?(): Promise<boolean>;
  /**
   * Problems with the tables tenants configured as held by this engine (`{ "engine", "table", "rowFilter" }`), each
   * one line naming the setting: a row filter the engine's server cannot enforce fails the start this way. Optional.
   */
  tableProblems?(tables: readonly HeldTableConfig[]): Promise<readonly string[]>;
  /** Cancels running queries and frees every resource. Idempotent. */
  close(): Promise<void>;
}

/**
 * Services and settings the gateway injects into engines. Engines depend on these interfaces, never on the gateway.
 * `T` is the type of a tenant's options, as the factory's `parseTenantConfig` returns them.
 */
export interface EngineDeps<T = unknown> {
  readonly storage: StorageAccess;
  readonly logger?: EngineLogger;
  /**
   * Each tenant's options for this engine (`tenants.<tenant>.engines.<id>` in the gateway's config), by tenant id,
   * as the factory's `parseTenantConfig` returned them. A tenant that set no options is absent: apply your
   * defaults. The gateway always passes it; it is optional so that tests can build deps without it.
   *
   * @example
   * const greeting = deps.tenantConfigs?.get(request.tenant)?.greeting ?? config.greeting;
   */
  readonly tenantConfigs?: ReadonlyMap<string, T>;
}

export interface StorageAccess {
  /** Local directories an engine may read for a tenant: the tenant's cache and data roots, nothing else. */
  tenantDirectories(tenant: string): readonly string[];
}

export interface EngineLogger {
  debug(event: string, fields?: Readonly<Record<string, unknown>>): void;
  info(event: string, fields?: Readonly<Record<string, unknown>>): void;
  warn(event: string, fields?: Readonly<Record<string, unknown>>): void;
  error(event: string, fields?: Readonly<Record<string, unknown>>): void;
}

/** Result of validating an engine's configuration: every problem at once, not just the first. */
export type ConfigResult<C> =
  | { readonly ok: true; readonly config: C }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * Creates engines of one kind. The factory validates its own config section (`engines.<id>` in the gateway's
 * config, without `module`) and each tenant's options for it, so the gateway can report every problem at start-up.
 * A package or file that default-exports a factory (or exports it as `engineFactory`) is loaded by naming it in
 * `engines.<id>.module`.
 *
 * @example
 * const result = duckdbEngineFactory.parseConfig({ threads: 2 });
 * if (result.ok) await using engine = await duckdbEngineFactory.create(result.config, deps);
 */
export interface EngineFactory<C = unknown, T = unknown> {
  /**
   * The factory's own name. The gateway names each engine by its config key, which for a built-in engine is this
   * id and for a loaded module is whatever `<id>` the operator chose.
   */
  readonly id: string;
  /** Validates `engines.<id>` (without `module`; `undefined` when a built-in engine has no section). */
  parseConfig(raw: unknown): ConfigResult<C>;
  /**
   * Validates one tenant's options for this engine, `tenants.<tenant>.engines.<id>` (an object), reporting every
   * problem. The results reach the engine as `deps.tenantConfigs`. Optional: for a factory without it, a tenant
   * section for the engine is a configuration error.
   */
  parseTenantConfig?(raw: unknown): ConfigResult<T>;
  create(config: C, deps: EngineDeps<T>): Promise<Engine>;
  /**
   * Operator commands the engine offers on the gateway's command line (`lakegate <name> [args]`), each printing
   * what it computes from the gateway's configuration: ClickHouse's `clickhouse-users` writes the users, profiles
   * and grants the gateway expects. Optional.
   */
  readonly commands?: Readonly<
    Record<string, (context: EngineCommandContext<C, T>, args: readonly string[]) => string>
  >;
}

/** A dataset a tenant configured as held by an engine. */
export interface HeldTableConfig {
  readonly tenant: string;
  /** The dataset's name. */
  readonly name: string;
  readonly table: string;
  readonly rowFilter?: string | undefined;
}

/** What an engine command sees of the gateway's configuration: the engine's own section and its tenants. */
export interface EngineCommandContext<C = unknown, T = unknown> {
  /** The engine's id in the configuration (`engines.<id>`). */
  readonly engineId: string;
  readonly config: C;
  /** Every tenant with options for this engine or tables held by it. */
  readonly tenants: readonly {
    readonly tenant: string;
    /** `tenants.<tenant>.engines.<id>` as `parseTenantConfig` returned it, if set. */
    readonly options: T | undefined;
    /** The tenant's limits, for engines that enforce them themselves. */
    readonly limits: {
      readonly queryTimeoutMs?: number | undefined;
      readonly maxResultRows?: number | undefined;
      readonly maxResultBytes?: number | undefined;
    };
    /** The tenant's datasets held by this engine. */
    readonly tables: readonly { readonly name: string; readonly table: string; readonly rowFilter?: string }[];
  }[];
}
