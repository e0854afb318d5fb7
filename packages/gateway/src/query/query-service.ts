import { LakegateError, type QueryStream, type TableBinding } from '@lakegate/engine-api';
import type { Storage } from '@lakegate/storage';
import type { GatewayConfig } from '../config/config.js';
import type { EngineRegistry } from '../engines/engine-registry.js';

export interface QueryInput {
  readonly queryId: string;
  readonly tenant: string;
  readonly sql: string;
  /** Engine asked for by the client; else the tenant's default, else `duckdb`. */
  readonly engine: string | undefined;
  readonly maxRows: number;
  readonly signal: AbortSignal;
}

export interface StartedQuery {
  readonly stream: QueryStream;
  readonly engine: string;
}

export interface QueryServiceDeps {
  readonly config: GatewayConfig;
  readonly storage: Storage;
  readonly engines: EngineRegistry;
}

/** Runs tenant queries: picks the engine, binds the tenant's datasets to snapshots, and starts the query. */
export class QueryService {
  readonly #deps: QueryServiceDeps;

  constructor(deps: QueryServiceDeps) {
    this.#deps = deps;
  }

  async start(input: QueryInput): Promise<StartedQuery> {
    const { config, engines } = this.#deps;
    const engineId = input.engine ?? config.tenants[input.tenant]?.defaultEngine ?? 'duckdb';
    const engine = engines.get(engineId);
    const request = {
      queryId: input.queryId,
      tenant: input.tenant,
      sql: input.sql,
      tables: await this.#bindings(input.tenant, input.signal),
      // One row more than the client's cap tells the writer whether the result was truncated.
      maxRows: input.maxRows + 1,
    };
    const check = await engine.check(request);
    if (!check.supported) {
      throw new LakegateError('UNSUPPORTED_QUERY', `The ${engineId} engine cannot run this query: ${check.reason}`);
    }
    const stream = await engine.execute(request, { signal: input.signal, timeoutMs: config.query.timeoutMs });
    return { stream, engine: engineId };
  }

  /** Every dataset of the tenant, bound to its current snapshot. */
  async #bindings(tenant: string, signal: AbortSignal): Promise<TableBinding[]> {
    const { storage } = this.#deps;
    return Promise.all(
      storage
        .datasetNames(tenant)
        .map(async (name) => ({ name, snapshot: await storage.resolve(tenant, name, signal) })),
    );
  }
}
