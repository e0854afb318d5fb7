import { availableParallelism } from 'node:os';
import {
  DuckDBMaterializedResult,
  type DuckDBPreparedStatement,
  type DuckDBResult,
  StatementType,
} from '@duckdb/node-api';
import {
  abortError,
  type CheckResult,
  type ColumnBatch,
  type ConfigResult,
  createQueryStream,
  defineCapabilities,
  type Engine,
  type EngineDeps,
  type EngineFactory,
  type EngineStats,
  type ExecuteOptions,
  isFileBinding,
  LakegateError,
  type QueryRequest,
  type QueryStream,
  type Schema,
  Slots,
  type SqlAnalysis,
  throwIfAborted,
  type VirtualTable,
} from '@lakegate/engine-api';
import { CostModel } from './cost-model.js';
import { mapDuckDBError } from './error-mapping.js';
import { parserOn, SqlAnalyzer } from './sql-analysis.js';
import { type AllowedQuery, allowTenantQuery, assertStatementType, type PolicyNamespace } from './sql-policy.js';
import {
  cachedStatement,
  type InstanceLimits,
  keepStatement,
  type PooledConnection,
  quoteIdent,
  quoteString,
  TenantInstance,
} from './tenant-instance.js';
import { type Mapping, mapType, readChunk } from './type-mapping.js';

export interface TenantOverrides {
  readonly threads?: number;
  readonly memoryLimit?: string;
  readonly connections?: number;
}

export interface DuckDBEngineConfig {
  /** DuckDB worker threads per tenant instance. Default: half the cores, at least 1. */
  readonly threads: number;
  /** DuckDB `memory_limit` per tenant instance, e.g. `"1GB"`. Default `"1GB"`. */
  readonly memoryLimit: string;
  /** Queries one tenant may run at once (its pooled connections). Default 4. */
  readonly connections: number;
  /**
   * Queries running at once across all tenants. Each running DuckDB call holds one of libuv's threads, so keep
   * this below UV_THREADPOOL_SIZE (the gateway's launcher sets 64 unless told otherwise). Default 32.
   */
  readonly maxConcurrentQueries: number;
  /** Tenant instances kept open; the least recently used idle one closes beyond this. Default 16. */
  readonly maxInstances: number;
  /** An instance idle this long closes (it reopens on demand). Default 600. */
  readonly idleSeconds: number;
  /** A query whose recent runs all took this long counts as long. Default 100 (ten dashboard queries). */
  readonly longQueryMs: number;
  /**
   * Long queries running at once across all tenants (the rest wait, first come first served), so that short
   * queries keep the CPU: by default as many as fill half the cores at `threads` each, at least 1.
   */
  readonly longQueryConcurrency: number;
  /** Per-tenant overrides of `threads`, `memoryLimit` and `connections`. */
  readonly tenants: Readonly<Record<string, TenantOverrides>>;
}

const CORES = availableParallelism();
/** A result of at most this many rows last time (one DuckDB vector) is read whole next time. */
const SMALL_RESULT_ROWS = 2048;
const DEFAULT_THREADS = Math.max(1, Math.floor(CORES / 2));

const DEFAULTS: DuckDBEngineConfig = {
  threads: DEFAULT_THREADS,
  memoryLimit: '1GB',
  connections: 4,
  maxConcurrentQueries: 32,
  maxInstances: 16,
  idleSeconds: 600,
  longQueryMs: 100,
  longQueryConcurrency: Math.max(1, Math.floor(CORES / (2 * DEFAULT_THREADS))),
  tenants: {},
};

const SIZE = /^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i;

/** Allowed queries kept per engine: dashboards repeat their texts, and the verdict depends on nothing else. */
const ALLOWED_CACHE_SIZE = 4096;

const sqlLiteral = (value: string | number | null): string =>
  value === null ? 'NULL' : typeof value === 'number' ? String(value) : quoteString(value);

/** A virtual table as a typed constant query (`VALUES`), typed even when it has no rows. */
function virtualTableSql(table: VirtualTable): string {
  const names = table.columns.map((c) => quoteIdent(c.name)).join(', ');
  const row = (values: readonly (string | number | null)[]): string =>
    `(${table.columns.map((c, i) => `CAST(${sqlLiteral(values[i] ?? null)} AS ${c.sqlType})`).join(', ')})`;
  if (table.rows.length === 0) {
    return `SELECT * FROM (VALUES ${row([])}) AS t(${names}) WHERE false`;
  }
  return `SELECT * FROM (VALUES ${table.rows.map(row).join(', ')}) AS t(${names})`;
}

interface ResultShape {
  readonly mappings: readonly Mapping[];
  readonly schema: Schema;
}

/** The columns of a result, as DuckDB reads them and as the gateway names their types. */
function shapeOf(result: DuckDBResult): ResultShape {
  const mappings = result.columnTypes().map(mapType);
  const schema = result
    .columnNames()
    .map((name, i) => ({ name, type: mappings[i]?.type ?? mapType(result.columnType(i)).type }));
  return { mappings, schema };
}

/** The columns of each kept statement's results, once a run without parameters has read them. */
const resultShapes = new WeakMap<DuckDBPreparedStatement, ResultShape>();

/** Kept statements that take no parameters: nothing to clear or bind before their runs. */
const withoutParameters = new WeakSet<DuckDBPreparedStatement>();

/**
 * Binds a request's parameters to the statement, each with the DuckDB type of its JavaScript value: DuckDB casts a
 * value to the type its place in the query needs (a VARCHAR `'42'` compared with a BIGINT column becomes 42), as
 * it would a literal, while the value never becomes part of the text. A statement kept from an earlier run of the
 * same text is cleared first, so that no value of that run is bound to this one.
 */
function bindParameters(prepared: DuckDBPreparedStatement, parameters: readonly unknown[]): void {
  // A dashboard's statement usually takes none: two calls into DuckDB fewer on each of its runs.
  if (parameters.length === 0 && withoutParameters.has(prepared)) return;
  prepared.clearBindings();
  const count = prepared.parameterCount;
  if (count === 0) withoutParameters.add(prepared);
  if (parameters.length !== count) {
    throw new LakegateError(
      'INVALID_REQUEST',
      `The query has ${count} parameter${count === 1 ? '' : 's'} and ${parameters.length} value${parameters.length === 1 ? ' was' : 's were'} given: give one value for each of $1..$${count}.`,
    );
  }
  parameters.forEach((value, i) => {
    const index = i + 1;
    if (value === null || value === undefined) prepared.bindNull(index);
    else if (typeof value === 'boolean') prepared.bindBoolean(index, value);
    else if (typeof value === 'bigint') prepared.bindBigInt(index, value);
    else if (typeof value === 'number') {
      if (Number.isSafeInteger(value)) prepared.bindBigInt(index, BigInt(value));
      else prepared.bindDouble(index, value);
    } else if (typeof value === 'string') prepared.bindVarchar(index, value);
    else if (value instanceof Uint8Array) prepared.bindBlob(index, value);
    else {
      throw new LakegateError(
        'INVALID_REQUEST',
        `Parameter $${index} is a ${typeof value}: parameters are null, booleans, numbers, bigints, strings or bytes.`,
      );
    }
  });
}

/** DuckDB reads datasets of files; a dataset held inside another engine is a refusal, naming it. */
function heldElsewhere(request: QueryRequest): LakegateError | undefined {
  const held = request.tables.find((t) => !isFileBinding(t));
  if (!held) return undefined;
  return new LakegateError(
    'UNSUPPORTED_QUERY',
    `DuckDB reads datasets of files; "${held.name}" is a table held by another engine.`,
  );
}

/** The names a request may read, as the policy sees them. */
function namespaceOf(request: QueryRequest): PolicyNamespace {
  return {
    datasets: new Map(request.tables.map((t) => [t.name.toLowerCase(), { filtered: Boolean(t.rowFilter) }])),
    qualifiers: (request.qualifiers ?? []).map((q) => q.map((part) => part.toLowerCase())),
    virtualTables: new Map(
      (request.virtualTables ?? []).map((v) => [`${v.schema}.${v.name}`.toLowerCase(), virtualTableSql(v)]),
    ),
    listing: request.tables.map((t) => t.name).sort(),
  };
}

function parseConfig(raw: unknown): ConfigResult<DuckDBEngineConfig> {
  if (raw === undefined || raw === null) return { ok: true, config: DEFAULTS };
  if (typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, problems: ['must be an object'] };
  const input = raw as Record<string, unknown>;
  const problems: string[] = [];
  const positiveInt = (source: Record<string, unknown>, key: string, fallback: number, path: string): number => {
    const value = source[key] ?? fallback;
    if (!Number.isInteger(value) || (value as number) < 1) problems.push(`${path}${key}: must be a positive integer`);
    return value as number;
  };
  const size = (source: Record<string, unknown>, fallback: string, path: string): string => {
    const value = source.memoryLimit ?? fallback;
    if (typeof value !== 'string' || !SIZE.test(value))
      problems.push(`${path}memoryLimit: must be a size such as "512MB" or "2GB"`);
    return value as string;
  };
  const config = {
    threads: positiveInt(input, 'threads', DEFAULTS.threads, ''),
    memoryLimit: size(input, DEFAULTS.memoryLimit, ''),
    connections: positiveInt(input, 'connections', DEFAULTS.connections, ''),
    maxConcurrentQueries: positiveInt(input, 'maxConcurrentQueries', DEFAULTS.maxConcurrentQueries, ''),
    maxInstances: positiveInt(input, 'maxInstances', DEFAULTS.maxInstances, ''),
    idleSeconds: positiveInt(input, 'idleSeconds', DEFAULTS.idleSeconds, ''),
    longQueryMs: positiveInt(input, 'longQueryMs', DEFAULTS.longQueryMs, ''),
    longQueryConcurrency: positiveInt(input, 'longQueryConcurrency', DEFAULTS.longQueryConcurrency, ''),
    tenants: {} as Record<string, TenantOverrides>,
  };
  const tenants = input.tenants ?? {};
  if (typeof tenants !== 'object' || Array.isArray(tenants)) problems.push('tenants: must be an object of tenant ids');
  else {
    for (const [tenant, value] of Object.entries(tenants as Record<string, unknown>)) {
      const path = `tenants.${tenant}.`;
      if (typeof value !== 'object' || value === null) {
        problems.push(`${path.slice(0, -1)}: must be an object`);
        continue;
      }
      const o = value as Record<string, unknown>;
      for (const key of Object.keys(o)) {
        if (!['threads', 'memoryLimit', 'connections'].includes(key)) problems.push(`${path}${key}: unknown setting`);
      }
      config.tenants[tenant] = {
        ...(o.threads !== undefined ? { threads: positiveInt(o, 'threads', 1, path) } : {}),
        ...(o.memoryLimit !== undefined ? { memoryLimit: size(o, '', path) } : {}),
        ...(o.connections !== undefined ? { connections: positiveInt(o, 'connections', 1, path) } : {}),
      };
    }
  }
  for (const key of Object.keys(input)) {
    if (!(key in DEFAULTS)) problems.push(`${key}: unknown setting (known: ${Object.keys(DEFAULTS).join(', ')})`);
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, config: Object.freeze(config) };
}

class DuckDBEngine implements Engine {
  readonly id = 'duckdb';
  readonly capabilities = defineCapabilities({
    cancellation: 'native',
    formats: Object.freeze(['parquet', 'csv', 'tsv', 'ndjson'] as const),
    analyzesSql: true,
    parameters: true,
  });
  readonly #config: DuckDBEngineConfig;
  readonly #deps: EngineDeps;
  readonly #instances = new Map<string, Promise<TenantInstance>>();
  readonly #active = new Set<AbortController>();
  /** The connection of each running query, by query id: its progress is read there. */
  readonly #running = new Map<string, PooledConnection>();
  readonly #slots: Slots;
  /** Admission for queries known to be long: few at a time, so short ones are never stuck behind them. */
  readonly #longLane: Slots;
  readonly #costs: CostModel;
  readonly #analyzer = new SqlAnalyzer();
  readonly #allowed = new Map<string, AllowedQuery>();
  readonly #sweeper: NodeJS.Timeout;
  #closed = false;
  /** Statements prepared since the engine started (a repeated query on a connection reuses its statement). */
  #statementsPrepared = 0;
  /** Queries whose result was forecast small and read whole (see SMALL_RESULT_ROWS). */
  #resultsReadWhole = 0;

  constructor(config: DuckDBEngineConfig, deps: EngineDeps) {
    this.#config = config;
    this.#deps = deps;
    this.#slots = new Slots(config.maxConcurrentQueries);
    this.#longLane = new Slots(config.longQueryConcurrency);
    this.#costs = new CostModel(config.longQueryMs);
    this.#sweeper = setInterval(() => void this.#closeIdle(), Math.min(60, config.idleSeconds) * 1000);
    this.#sweeper.unref();
  }

  progress(queryId: string): number | undefined {
    const pooled = this.#running.get(queryId);
    if (!pooled) return undefined;
    const { percentage } = pooled.connection.progress;
    // DuckDB answers -1 while it has no estimate (between pipelines, or for sources it cannot measure).
    return percentage >= 0 ? Math.min(1, percentage / 100) : undefined;
  }

  check(request: QueryRequest): CheckResult {
    const held = heldElsewhere(request);
    return held ? { supported: false, reason: held.message } : { supported: true };
  }

  stats(): EngineStats {
    return {
      activeQueries: this.#active.size,
      gauges: {
        instancesOpen: this.#instances.size,
        queriesRunning: this.#slots.used,
        queriesWaiting: this.#slots.waiting,
        longQueriesRunning: this.#longLane.used,
        longQueriesWaiting: this.#longLane.waiting,
        statementsPrepared: this.#statementsPrepared,
        resultsReadWhole: this.#resultsReadWhole,
      },
    };
  }

  analyze(sql: string, { signal }: ExecuteOptions): Promise<SqlAnalysis> {
    if (this.#closed) return Promise.reject(new LakegateError('ENGINE_CLOSED', 'The DuckDB engine is closed.'));
    return this.#analyzer.analyze(sql, signal);
  }

  /**
   * What the tenant's text may do, decided by DuckDB's parser on this connection (see sql-policy.ts): the text to
   * run, or a refusal. Verdicts are kept by text and namespace, not by connection.
   */
  async #allow(pooled: PooledConnection, request: QueryRequest): Promise<AllowedQuery> {
    const namespace = namespaceOf(request);
    const key =
      namespace.virtualTables.size > 0
        ? undefined
        : `${request.tenant}\0${JSON.stringify([[...namespace.datasets], namespace.qualifiers])}\0${request.sql}`;
    const known = key === undefined ? undefined : this.#allowed.get(key);
    if (known) return known;
    const catalog = await this.#analyzer.catalog();
    const allowed = await allowTenantQuery(request.sql, namespace, catalog, parserOn(pooled.connection));
    if (key !== undefined) {
      if (this.#allowed.size >= ALLOWED_CACHE_SIZE) this.#allowed.delete(this.#allowed.keys().next().value as string);
      this.#allowed.set(key, allowed);
    }
    return allowed;
  }

  /**
   * Plans the allowed text on the connection and checks DuckDB's own statement type before anything runs; the
   * statement is kept there for the query's next runs (see {@link PooledConnection.prepared}).
   */
  async #prepare(pooled: PooledConnection, allowed: AllowedQuery): Promise<DuckDBPreparedStatement> {
    const extracted = await pooled.connection.extractStatements(allowed.sql);
    if (extracted.count !== 1) {
      throw new LakegateError('FORBIDDEN_STATEMENT', 'Send exactly one statement.');
    }
    const prepared = await extracted.prepare(0);
    try {
      assertStatementType(StatementType[prepared.statementType] ?? 'UNKNOWN', allowed.explain);
    } catch (error) {
      prepared.destroySync();
      throw error;
    }
    keepStatement(pooled, allowed.sql, prepared);
    this.#statementsPrepared++;
    return prepared;
  }

  async execute(request: QueryRequest, { signal }: ExecuteOptions): Promise<QueryStream> {
    if (this.#closed) throw new LakegateError('ENGINE_CLOSED', 'The DuckDB engine is closed.');
    throwIfAborted(signal);

    const controller = new AbortController();
    const forward = (): void => controller.abort(signal.reason);
    signal.addEventListener('abort', forward, { once: true });
    this.#active.add(controller);

    let slot = false;
    let longSlot = false;
    let started = 0;
    let completed = false;
    const costKey = CostModel.key(request.tenant, request.sql);
    // A query that runs past the threshold is known as long from that moment, for its next runs.
    let longTimer: NodeJS.Timeout | undefined;
    let provisional = false;
    /** The rows of a run read to its end. */
    let rowsReturned: number | undefined;
    let instance: TenantInstance | undefined;
    let pooled: PooledConnection | undefined;
    let broken = false;
    // DuckDB clears an interrupt when a query starts, so one that lands between our steps (parse, prepare, start)
    // would be lost: keep interrupting until the query is freed.
    let interrupting: NodeJS.Timeout | undefined;
    const interrupt = (): void => {
      pooled?.connection.interrupt();
      interrupting ??= setInterval(() => pooled?.connection.interrupt(), 20);
    };
    let freed = false;
    const free = (): void => {
      if (freed) return;
      freed = true;
      signal.removeEventListener('abort', forward);
      controller.signal.removeEventListener('abort', interrupt);
      clearInterval(interrupting);
      clearTimeout(longTimer);
      if (started > 0 && (completed || performance.now() - started >= this.#costs.longMs)) {
        this.#costs.record(costKey, performance.now() - started, provisional, rowsReturned);
      }
      if (instance && pooled) instance.release(pooled, broken);
      if (slot) this.#slots.release();
      if (longSlot) this.#longLane.release();
      this.#active.delete(controller);
      if (pooled && this.#running.get(request.queryId) === pooled) this.#running.delete(request.queryId);
      if (this.#closed && instance && instance.active === 0) instance.close();
    };
    const fail = (error: unknown): LakegateError => {
      const hiddenPaths = this.#deps.storage.tenantDirectories(request.tenant);
      const mapped = mapDuckDBError(error, { signal: controller.signal, hiddenPaths });
      // A failure that is neither the query's fault nor a cancel may have left the connection unusable.
      if (mapped.kind === 'engine' || mapped.kind === 'internal') broken = true;
      return mapped;
    };

    try {
      // The tenant's own connection first, then the shared lanes: a query waiting for its tenant's pool holds
      // nothing other tenants need, and its wait is not counted as running time.
      instance = await this.#instanceFor(request.tenant);
      pooled = await instance.acquire(controller.signal);
      if (this.#costs.isLong(costKey)) {
        await this.#longLane.acquire(controller.signal);
        longSlot = true;
      }
      await this.#slots.acquire(controller.signal);
      slot = true;
      started = performance.now();
      longTimer = setTimeout(() => {
        this.#costs.record(costKey, this.#costs.longMs);
        provisional = true;
        // Known as long now: it counts against the long queries' slots from here, so that the next ones wait.
        if (!longSlot && this.#costs.isLong(costKey)) {
          this.#longLane.occupy();
          longSlot = true;
        }
      }, this.#costs.longMs);
      longTimer.unref();
      controller.signal.addEventListener('abort', interrupt, { once: true });
      const held = heldElsewhere(request);
      if (held) throw held;
      this.#running.set(request.queryId, pooled);
      await instance.bind(pooled, request.tables.filter(isFileBinding));
      throwIfAborted(controller.signal);

      const allowed = await this.#allow(pooled, request);
      throwIfAborted(controller.signal);
      const prepared = cachedStatement(pooled, allowed.sql) ?? (await this.#prepare(pooled, allowed));
      bindParameters(prepared, request.parameters ?? []);
      if (request.describeOnly) {
        // The prepared statement knows its columns: nothing runs.
        const described = Array.from({ length: prepared.columnCount }, (_, i) => ({
          name: prepared.columnName(i),
          type: mapType(prepared.columnType(i)).type,
        }));
        completed = true;
        return createQueryStream(described, { next: async () => undefined, close: free });
      }
      // A query whose last run returned few rows (a dashboard's aggregate) runs to its end in one call, and its rows
      // are read from the result held in memory: streamed, it would take two more calls into DuckDB's threads, a
      // tenth of a 10 ms query. Unknown, large or parameterised queries stream.
      const lastRows = this.#costs.lastRows(costKey);
      const small = lastRows !== undefined && lastRows <= SMALL_RESULT_ROWS && !request.parameters?.length;
      if (small) this.#resultsReadWhole++;
      const result = small ? await prepared.run() : await prepared.stream();
      throwIfAborted(controller.signal);
      let chunkIndex = 0;
      const fetchChunk =
        result instanceof DuckDBMaterializedResult
          ? async () => (chunkIndex < result.chunkCount ? result.getChunk(chunkIndex++) : null)
          : () => result.fetchChunk();
      let rows = 0;

      let shape = resultShapes.get(prepared);
      if (!shape) {
        shape = shapeOf(result);
        // A statement without parameters gives every run the same columns: they are read from DuckDB once.
        if (!request.parameters?.length) resultShapes.set(prepared, shape);
      }
      const { mappings, schema } = shape;
      let remaining = request.maxRows ?? Number.POSITIVE_INFINITY;

      return createQueryStream(schema, {
        next: async (): Promise<ColumnBatch | undefined> => {
          if (controller.signal.aborted) throw abortError(controller.signal);
          if (remaining <= 0) return undefined;
          try {
            const chunk = await fetchChunk();
            if (controller.signal.aborted) throw abortError(controller.signal);
            if (!chunk || chunk.rowCount === 0) {
              completed = true;
              rowsReturned = rows;
              return undefined;
            }
            const rowCount = Math.min(chunk.rowCount, remaining);
            remaining -= rowCount;
            rows += rowCount;
            return { rowCount, columns: readChunk(chunk, mappings, rowCount) };
          } catch (error) {
            throw fail(error);
          }
        },
        close: free,
      });
    } catch (error) {
      const mapped = fail(error);
      free();
      throw mapped;
    }
  }

  /** Resolves once the SQL policy's catalog is loaded. */
  async ready(): Promise<void> {
    await this.#analyzer.catalog();
  }

  async inspectTenant(tenant: string): Promise<Readonly<Record<string, unknown>>> {
    const pending = this.#instances.get(tenant);
    if (!pending) return { connections: [] };
    return (await pending).inspect();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweeper);
    const reason = new LakegateError('QUERY_CANCELLED', 'The query was cancelled because the engine is closing.');
    for (const controller of this.#active) controller.abort(reason);
    const instances = await Promise.allSettled(this.#instances.values());
    this.#instances.clear();
    for (const settled of instances) {
      if (settled.status === 'fulfilled' && settled.value.active === 0) settled.value.close();
    }
    await this.#analyzer.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #limitsFor(tenant: string): InstanceLimits {
    const overrides = this.#config.tenants[tenant] ?? {};
    return {
      threads: overrides.threads ?? this.#config.threads,
      memoryLimit: overrides.memoryLimit ?? this.#config.memoryLimit,
      connections: overrides.connections ?? this.#config.connections,
    };
  }

  #instanceFor(tenant: string): Promise<TenantInstance> {
    let pending = this.#instances.get(tenant);
    if (!pending) {
      pending = TenantInstance.open(tenant, this.#deps.storage.tenantDirectories(tenant), this.#limitsFor(tenant));
      this.#instances.set(tenant, pending);
      // A failed open is not cached: the next query retries.
      pending.catch(() => this.#instances.delete(tenant));
      void this.#closeIdle();
    }
    return pending;
  }

  /** Closes idle instances: those idle past `idleSeconds`, and the least recently used beyond `maxInstances`. */
  async #closeIdle(): Promise<void> {
    const idle: TenantInstance[] = [];
    for (const pending of this.#instances.values()) {
      const settled = await Promise.race([pending, Promise.resolve(undefined)]).catch(() => undefined);
      if (settled && settled.active === 0) idle.push(settled);
    }
    idle.sort((a, b) => a.lastUsed - b.lastUsed);
    const expired = Date.now() - this.#config.idleSeconds * 1000;
    for (const instance of idle) {
      if (this.#instances.size <= this.#config.maxInstances && instance.lastUsed > expired) continue;
      this.#instances.delete(instance.tenant);
      instance.close();
    }
  }
}

/** Creates DuckDB engines: one locked-down DuckDB instance per active tenant. */
export const duckdbEngineFactory: EngineFactory<DuckDBEngineConfig> = {
  id: 'duckdb',
  parseConfig,
  async create(config, deps) {
    const engine = new DuckDBEngine(config, deps);
    // What tenant SQL may call is read once, at start, so that no query waits for it.
    await engine.ready();
    return engine;
  },
};
