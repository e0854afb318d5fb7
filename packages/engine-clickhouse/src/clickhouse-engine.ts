import { randomBytes } from 'node:crypto';
import { Agent, type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import {
  abortError,
  type CheckResult,
  createQueryStream,
  defineCapabilities,
  type Engine,
  type EngineDeps,
  type EngineStats,
  type ExecuteOptions,
  type HeldTableConfig,
  isFileBinding,
  isLakegateError,
  LakegateError,
  type QueryRequest,
  type QueryStream,
} from '@lakegate/engine-api';
import type { ClickHouseConfig, ClickHouseTenantConfig } from './clickhouse-config.js';
import { clickhouseError } from './clickhouse-errors.js';
import { refuseSystemTables } from './system-guard.js';
import { TsvStream } from './tsv-stream.js';

/** Rows per batch handed to the gateway (a network chunk usually holds fewer). */
const BATCH_ROWS = 8192;
/** How long a KILL QUERY may take before the engine stops waiting for it. */
const KILL_TIMEOUT_MS = 5_000;

export interface ClickHouseEngineOptions {
  /**
   * Leaves out the gateway's own refusal of the `system` database. Only tests set it, to show what ClickHouse
   * refuses by itself.
   */
  readonly withoutSystemGuard?: boolean;
}

/** One response of the server: its status and body, or the stream of its body. */
interface Exchange {
  readonly request: ClientRequest;
  readonly response: IncomingMessage;
}

/**
 * An engine on a ClickHouse server or cluster, over its HTTP interface. It holds tables, not files: a tenant's
 * datasets `{ "engine": "<id>", "table": "<name>" }` are tables of the tenant's own ClickHouse database, and every
 * query runs as the tenant's own ClickHouse user, whose profile (readonly, limits) and grants are ClickHouse's
 * isolation. Tenant SQL is ClickHouse's dialect, passed as written.
 */
export class ClickHouseEngine implements Engine {
  readonly id: string;
  readonly capabilities = defineCapabilities({
    cancellation: 'native',
    formats: [],
    parameters: false,
    booleanType: false,
  });
  readonly #config: ClickHouseConfig;
  readonly #tenants: ReadonlyMap<string, ClickHouseTenantConfig>;
  readonly #agent: Agent;
  readonly #options: ClickHouseEngineOptions;
  readonly #running = new Map<string, AbortController>();
  /** This engine's own mark in its query ids: the request ids of two gateways may be the same. */
  readonly #instance = randomBytes(6).toString('hex');
  #closed = false;
  /** The server enforces row filters itself, as row policies (checked by `tableProblems` at start). */
  #rowPolicies = false;

  constructor(
    id: string,
    config: ClickHouseConfig,
    deps: EngineDeps<ClickHouseTenantConfig>,
    options: ClickHouseEngineOptions = {},
  ) {
    this.id = id;
    this.#config = config;
    this.#tenants = deps.tenantConfigs ?? new Map();
    this.#options = options;
    this.#agent = new Agent({ keepAlive: true, maxSockets: config.maxConnections });
  }

  check(request: QueryRequest): CheckResult {
    if (!this.#tenants.has(request.tenant)) {
      return { supported: false, reason: `tenant ${request.tenant} has no ClickHouse user (tenants.<id>.engines)` };
    }
    if (request.tables.length === 0) return { supported: false, reason: 'it reads no ClickHouse table' };
    for (const table of request.tables) {
      if (isFileBinding(table)) return { supported: false, reason: `${table.name} is a dataset of files` };
      // The server's row policies apply a row filter (checked at start); without them it cannot be applied.
      if (table.rowFilter && !this.#rowPolicies) {
        return {
          supported: false,
          reason: `${table.name} has a row filter, which this ClickHouse server cannot apply`,
        };
      }
      if (table.table !== table.name) {
        return { supported: false, reason: `dataset ${table.name} names table ${table.table}: name it as its table` };
      }
    }
    if (request.virtualTables?.length) return { supported: false, reason: 'it reads tables the gateway serves' };
    if (request.parameters?.length) return { supported: false, reason: 'it has parameters' };
    return { supported: true };
  }

  async execute(request: QueryRequest, { signal }: ExecuteOptions): Promise<QueryStream> {
    if (this.#closed) throw new LakegateError('ENGINE_CLOSED', `The ${this.id} engine is closed.`);
    const tenant = this.#tenants.get(request.tenant);
    if (!tenant) throw new LakegateError('UNSUPPORTED_QUERY', `Tenant ${request.tenant} has no ClickHouse user.`);
    if (signal.aborted) throw abortError(signal);
    if (!this.#options.withoutSystemGuard) refuseSystemTables(request.sql);
    // Unique across gateways and restarts: ClickHouse refuses a second query of one id (current servers across
    // users, naming the other's), and a cancel's KILL by id must find this query, not another gateway's.
    const queryId = `lakegate-${this.#instance}-${request.queryId.replace(/[^A-Za-z0-9_.~-]/g, '_')}`;
    const controller = new AbortController();
    const abort = (): void => controller.abort(signal.reason);
    if (signal.aborted) abort();
    signal.addEventListener('abort', abort, { once: true });
    this.#running.set(queryId, controller);
    let killed = false;
    const kill = (): void => {
      if (killed) return;
      killed = true;
      // A closed connection alone leaves the query running on ClickHouse 18.16: kill it by id, as its own user.
      void this.#send(tenant, `KILL QUERY WHERE query_id = '${queryId}' SYNC`, {}, KILL_TIMEOUT_MS)
        .then(({ response }) => response.resume())
        .catch(() => undefined);
    };
    controller.signal.addEventListener('abort', kill, { once: true });
    const done = (): void => {
      signal.removeEventListener('abort', abort);
      this.#running.delete(queryId);
    };
    const fail = (error: unknown): LakegateError => {
      if (controller.signal.aborted) return abortError(controller.signal) as LakegateError;
      if (isLakegateError(error)) return error;
      // A value this gateway could not read is not a server out of reach, nor worth a retry.
      if (error instanceof RangeError || error instanceof TypeError || error instanceof SyntaxError)
        return new LakegateError('ENGINE_FAILURE', `The gateway could not read ClickHouse's answer: ${error.message}`, {
          cause: error,
        });
      return new LakegateError('ENGINE_UNAVAILABLE', `The ClickHouse server cannot be reached: ${String(error)}`, {
        cause: error,
        retryAfterSeconds: 5,
      });
    };
    // The server's exceptions, also one written into a response already begun.
    const exception = (text: string): never => {
      throw clickhouseError(text, request.sql, this.id);
    };

    let exchange: Exchange;
    try {
      exchange = await this.#send(
        tenant,
        request.sql,
        { query_id: queryId, default_format: 'TabSeparatedWithNamesAndTypes' },
        this.#config.requestTimeoutMs,
        controller,
      );
    } catch (error) {
      done();
      if (!controller.signal.aborted) kill();
      throw fail(error);
    }
    const { response } = exchange;
    const decoder = new StringDecoder('utf8');
    if (response.statusCode !== 200) {
      let text = '';
      try {
        for await (const chunk of response) text += decoder.write(chunk as Buffer);
      } catch (error) {
        done();
        throw fail(error);
      }
      done();
      exception(text + decoder.end());
    }
    const tsv = new TsvStream(exception);
    const iterator = response[Symbol.asyncIterator]();
    let ended = false;
    let remaining = request.maxRows ?? Number.POSITIVE_INFINITY;
    /** Reads until a batch is gathered or the response ends. */
    const fill = async (): Promise<void> => {
      while (!ended && (tsv.header === undefined || tsv.rowCount < BATCH_ROWS)) {
        const { value, done: finished } = await this.#withTimeout(iterator.next(), controller);
        if (finished) {
          ended = true;
          tsv.push(decoder.end());
          tsv.finish();
          return;
        }
        tsv.push(decoder.write(value as Buffer));
        if (tsv.header && tsv.rowCount > 0 && response.readableLength === 0) return;
      }
    };
    const close = async (): Promise<void> => {
      if (!ended) {
        // The client went away before the end: stop ClickHouse too.
        ended = true;
        exchange.request.destroy();
        kill();
      }
      done();
    };
    try {
      await fill();
    } catch (error) {
      await close();
      throw fail(error);
    }
    const header = tsv.header;
    if (!header) {
      await close();
      throw new LakegateError('ENGINE_FAILURE', 'ClickHouse answered without a result header.');
    }
    return createQueryStream(header.schema, {
      next: async () => {
        try {
          // A cancel ends the stream even when the rest of the response is already here.
          if (controller.signal.aborted) throw abortError(controller.signal);
          if (tsv.rowCount === 0) await fill();
          if (remaining <= 0) return undefined;
          const batch = tsv.takeBatch();
          if (!batch) return undefined;
          if (batch.rowCount <= remaining) {
            remaining -= batch.rowCount;
            return batch;
          }
          const rowCount = remaining;
          remaining = 0;
          return { rowCount, columns: batch.columns.map((column) => column.slice(0, rowCount)) };
        } catch (error) {
          await close();
          throw fail(error);
        }
      },
      close,
    });
  }

  /** Waits for `step`, but no longer than `requestTimeoutMs` and never past the query's cancel. */
  async #withTimeout<T>(step: Promise<T>, controller: AbortController): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      return await Promise.race([
        step,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new LakegateError(
                  'ENGINE_UNAVAILABLE',
                  `ClickHouse sent nothing for ${this.#config.requestTimeoutMs} ms (engines.${this.id}.requestTimeoutMs): a server or a shard of its cluster is not answering.`,
                  { retryAfterSeconds: 5 },
                ),
              ),
            this.#config.requestTimeoutMs,
          );
          onAbort = () => reject(abortError(controller.signal));
          controller.signal.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (onAbort) controller.signal.removeEventListener('abort', onAbort);
    }
  }

  /** Sends one query as the tenant's user; resolves with the response once its headers arrive. */
  #send(
    tenant: ClickHouseTenantConfig,
    sql: string,
    parameters: Readonly<Record<string, string>>,
    timeoutMs: number,
    controller?: AbortController,
  ): Promise<Exchange> {
    const url = new URL(this.#config.url);
    url.searchParams.set('database', tenant.database);
    for (const [key, value] of Object.entries(parameters)) url.searchParams.set(key, value);
    return new Promise<Exchange>((resolve, reject) => {
      const request = httpRequest(
        url,
        {
          method: 'POST',
          agent: this.#agent,
          headers: {
            'X-ClickHouse-User': tenant.user,
            'X-ClickHouse-Key': tenant.password,
            'Content-Type': 'text/plain; charset=UTF-8',
          },
        },
        (response) => {
          clearTimeout(timer);
          controller?.signal.removeEventListener('abort', onAbort);
          resolve({ request, response });
        },
      );
      const onAbort = (): void => {
        clearTimeout(timer);
        request.destroy();
        reject(controller ? abortError(controller.signal) : new Error('aborted'));
      };
      const timer = setTimeout(() => {
        request.destroy();
        reject(
          new LakegateError(
            'ENGINE_UNAVAILABLE',
            `ClickHouse did not start answering within ${timeoutMs} ms (engines.${this.id}.requestTimeoutMs): a server or a shard of its cluster is not answering.`,
            { retryAfterSeconds: 5 },
          ),
        );
      }, timeoutMs);
      controller?.signal.addEventListener('abort', onAbort, { once: true });
      request.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      request.end(sql);
    });
  }

  /**
   * A row filter needs ClickHouse's row policies (from 20.5, created with `clickhouse-users --sql`): on an older
   * server (18.16 has none), or one whose version cannot be read, a row-filtered dataset is a configuration error.
   */
  async tableProblems(tables: readonly HeldTableConfig[]): Promise<readonly string[]> {
    const filtered = tables.filter((t) => t.rowFilter);
    if (filtered.length === 0) return [];
    const version = await this.serverVersion(filtered[0]?.tenant as string);
    const [major = 0, minor = 0] = (version ?? '').split('.').map(Number);
    if (version && (major > 20 || (major === 20 && minor >= 5))) {
      this.#rowPolicies = true;
      return [];
    }
    return filtered.map(
      (t) =>
        `tenants.${t.tenant}.datasets.${t.name}.rowFilter: ${version ? `ClickHouse ${version}` : 'the ClickHouse server (its version could not be read)'} has no row policies (they came in 20.5), so engines.${this.id} cannot enforce a row filter: give the tenant its own table instead`,
    );
  }

  /** The server's version (`SELECT version()`, as one tenant's user), or undefined when it cannot be read. */
  async serverVersion(tenant: string): Promise<string | undefined> {
    const user = this.#tenants.get(tenant);
    if (!user) return undefined;
    try {
      const { response } = await this.#send(user, 'SELECT version()', { default_format: 'TabSeparated' }, 5000);
      let text = '';
      for await (const chunk of response) text += String(chunk);
      return response.statusCode === 200 ? text.trim() : undefined;
    } catch {
      return undefined;
    }
  }

  stats(): EngineStats {
    return { activeQueries: this.#running.size, gauges: { queriesRunning: this.#running.size } };
  }

  /** Whether the server answers now (`/ping`), for readiness. */
  async healthy(): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const request = httpRequest(`${this.#config.url}/ping`, { agent: this.#agent, timeout: 2000 }, (response) => {
        response.resume();
        resolve(response.statusCode === 200);
      });
      request.on('timeout', () => request.destroy());
      request.on('error', () => resolve(false));
      request.end();
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const controller of this.#running.values()) {
      controller.abort(new LakegateError('ENGINE_CLOSED', `The ${this.id} engine is shutting down.`));
    }
    // Let the kills go out before the connections close.
    await new Promise((resolve) => setTimeout(resolve, 50));
    this.#agent.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
