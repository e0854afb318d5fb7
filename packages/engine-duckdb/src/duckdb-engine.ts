import { type DuckDBConnection, StatementType } from '@duckdb/node-api';
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
  LakegateError,
  type QueryRequest,
  type QueryStream,
  throwIfAborted,
} from '@lakegate/engine-api';
import { mapDuckDBError } from './error-mapping.js';
import { TenantInstance } from './tenant-instance.js';
import { mapType, readChunk } from './type-mapping.js';

export interface DuckDBEngineConfig {
  /** DuckDB worker threads per tenant instance. Default 2. */
  readonly threads: number;
  /** DuckDB `memory_limit` per tenant instance, e.g. `"1GB"`. Default `"1GB"`. */
  readonly memoryLimit: string;
  /** Tenant instances kept open; the least recently used idle one closes beyond this. Default 16. */
  readonly maxInstances: number;
}

const DEFAULTS: DuckDBEngineConfig = { threads: 2, memoryLimit: '1GB', maxInstances: 16 };

/** Statement types a tenant may run. Everything else is refused before it executes. */
const READ_STATEMENTS = new Set<StatementType>([StatementType.SELECT, StatementType.EXPLAIN]);

function parseConfig(raw: unknown): ConfigResult<DuckDBEngineConfig> {
  if (raw === undefined || raw === null) return { ok: true, config: DEFAULTS };
  if (typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, problems: ['must be an object'] };
  const input = raw as Record<string, unknown>;
  const problems: string[] = [];
  const positiveInt = (key: keyof DuckDBEngineConfig): number => {
    const value = input[key] ?? DEFAULTS[key];
    if (!Number.isInteger(value) || (value as number) < 1) problems.push(`${key}: must be a positive integer`);
    return value as number;
  };
  const threads = positiveInt('threads');
  const maxInstances = positiveInt('maxInstances');
  const memoryLimit = input.memoryLimit ?? DEFAULTS.memoryLimit;
  if (typeof memoryLimit !== 'string' || !/^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i.test(memoryLimit)) {
    problems.push('memoryLimit: must be a size such as "512MB" or "2GB"');
  }
  for (const key of Object.keys(input)) {
    if (!(key in DEFAULTS)) problems.push(`${key}: unknown setting (known: ${Object.keys(DEFAULTS).join(', ')})`);
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, config: Object.freeze({ threads, maxInstances, memoryLimit: memoryLimit as string }) };
}

class DuckDBEngine implements Engine {
  readonly id = 'duckdb';
  readonly capabilities = defineCapabilities({
    cancellation: 'native',
    formats: Object.freeze(['parquet', 'csv', 'tsv', 'ndjson'] as const),
  });
  readonly #config: DuckDBEngineConfig;
  readonly #deps: EngineDeps;
  readonly #instances = new Map<string, Promise<TenantInstance>>();
  readonly #active = new Set<AbortController>();
  #closed = false;

  constructor(config: DuckDBEngineConfig, deps: EngineDeps) {
    this.#config = config;
    this.#deps = deps;
  }

  check(_request: QueryRequest): CheckResult {
    return { supported: true };
  }

  stats(): EngineStats {
    return { activeQueries: this.#active.size, gauges: { instancesOpen: this.#instances.size } };
  }

  async execute(request: QueryRequest, { signal }: ExecuteOptions): Promise<QueryStream> {
    if (this.#closed) throw new LakegateError('ENGINE_CLOSED', 'The DuckDB engine is closed.');
    throwIfAborted(signal);

    const controller = new AbortController();
    const forward = (): void => controller.abort(signal.reason);
    signal.addEventListener('abort', forward, { once: true });
    this.#active.add(controller);

    let instance: TenantInstance | undefined;
    let connection: DuckDBConnection | undefined;
    let freed = false;
    const free = (): void => {
      if (freed) return;
      freed = true;
      signal.removeEventListener('abort', forward);
      connection?.disconnectSync();
      this.#active.delete(controller);
      if (instance) {
        instance.active--;
        instance.lastUsed = Date.now();
        if (this.#closed && instance.active === 0) instance.close();
      }
    };
    const hiddenPaths = this.#deps.storage.tenantDirectories(request.tenant);

    try {
      instance = await this.#instanceFor(request.tenant);
      instance.active++;
      await instance.bind(request.tables);
      const conn = await instance.connect();
      connection = conn;
      controller.signal.addEventListener('abort', () => conn.interrupt(), { once: true });
      throwIfAborted(controller.signal);

      const extracted = await conn.extractStatements(request.sql);
      if (extracted.count !== 1) {
        throw new LakegateError(
          extracted.count === 0 ? 'INVALID_SQL' : 'FORBIDDEN_STATEMENT',
          extracted.count === 0
            ? 'The query is empty.'
            : `Send exactly one statement; this text holds ${extracted.count}.`,
        );
      }
      const prepared = await extracted.prepare(0);
      if (!READ_STATEMENTS.has(prepared.statementType)) {
        throw new LakegateError(
          'FORBIDDEN_STATEMENT',
          `${StatementType[prepared.statementType] ?? 'This'} statements are not allowed: only SELECT queries run here.`,
        );
      }
      const result = await prepared.stream();
      throwIfAborted(controller.signal);

      const mappings = result.columnTypes().map(mapType);
      const schema = result
        .columnNames()
        .map((name, i) => ({ name, type: mappings[i]?.type ?? mapType(result.columnType(i)).type }));
      let remaining = request.maxRows ?? Number.POSITIVE_INFINITY;

      return createQueryStream(schema, {
        next: async (): Promise<ColumnBatch | undefined> => {
          if (controller.signal.aborted) throw abortError(controller.signal);
          if (remaining <= 0) return undefined;
          try {
            const chunk = await result.fetchChunk();
            if (controller.signal.aborted) throw abortError(controller.signal);
            if (!chunk || chunk.rowCount === 0) return undefined;
            const rowCount = Math.min(chunk.rowCount, remaining);
            remaining -= rowCount;
            return { rowCount, columns: readChunk(chunk, mappings, rowCount) };
          } catch (error) {
            throw mapDuckDBError(error, { signal: controller.signal, hiddenPaths });
          }
        },
        close: free,
      });
    } catch (error) {
      free();
      throw mapDuckDBError(error, { signal: controller.signal, hiddenPaths });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const reason = new LakegateError('QUERY_CANCELLED', 'The query was cancelled because the engine is closing.');
    for (const controller of this.#active) controller.abort(reason);
    const instances = await Promise.allSettled(this.#instances.values());
    this.#instances.clear();
    for (const settled of instances) {
      if (settled.status === 'fulfilled' && settled.value.active === 0) settled.value.close();
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #instanceFor(tenant: string): Promise<TenantInstance> {
    let pending = this.#instances.get(tenant);
    if (!pending) {
      pending = TenantInstance.open(tenant, this.#deps.storage.tenantDirectories(tenant), this.#config);
      this.#instances.set(tenant, pending);
      // A failed open is not cached: the next query retries.
      pending.catch(() => this.#instances.delete(tenant));
      void this.#evictIdle();
    }
    return pending;
  }

  /** Closes least recently used idle instances beyond `maxInstances`. */
  async #evictIdle(): Promise<void> {
    if (this.#instances.size <= this.#config.maxInstances) return;
    const open: TenantInstance[] = [];
    for (const pending of this.#instances.values()) {
      const settled = await Promise.race([pending, Promise.resolve(undefined)]);
      if (settled && settled.active === 0) open.push(settled);
    }
    open.sort((a, b) => a.lastUsed - b.lastUsed);
    for (const instance of open) {
      if (this.#instances.size <= this.#config.maxInstances) break;
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
    return new DuckDBEngine(config, deps);
  },
};
