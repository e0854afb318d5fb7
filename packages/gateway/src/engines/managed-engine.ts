import { setMaxListeners } from 'node:events';
import {
  abortError,
  type CheckResult,
  type Engine,
  type EngineStats,
  type HeldTableConfig,
  isLakegateError,
  LakegateError,
  type QueryRequest,
  type QueryStream,
  Slots,
  type SqlAnalysis,
  throwIfAborted,
  toLakegateError,
  type WrapOptions,
  wrapQueryStream,
} from '@lakegate/engine-api';

export interface ManagedEngineOptions {
  /**
   * The name tenants and requests use for this engine: its key in the config (`engines.<id>`). Default: the
   * engine's own `id`. The config key wins because one module may be registered under two ids.
   */
  readonly id?: string;
  /** Queries running at once on this engine. */
  readonly maxConcurrent: number;
  /** Queries waiting for a slot; beyond this, ENGINE_BUSY. */
  readonly maxQueued: number;
}

export interface RunOptions {
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
}

/**
 * Recognises an engine extension: an interface beyond {@link Engine} that some engines implement, such as rollup
 * computation (`isRollupComputer` of `@lakegate/engine-local-agg`). The gateway finds engines by these, never by id.
 */
export type ExtensionGuard<T extends object> = (engine: object) => engine is T;

/** One admitted piece of work: its combined signal, how to map its failures, and how to give its slot back. */
interface Admitted {
  readonly signal: AbortSignal;
  failure(error: unknown): LakegateError;
  release(): void;
}

/**
 * The gateway's wrapper around every engine: it owns the lifecycle (refuse after close), the concurrency
 * limit and queue, the per-query time limit, and the freeing of slots, so engine authors write none of it.
 */
export class ManagedEngine {
  readonly #engine: Engine;
  readonly #id: string;
  readonly #options: ManagedEngineOptions;
  readonly #shutdown = new AbortController();
  readonly #slots: Slots;
  #closing: Promise<void> | undefined;

  constructor(engine: Engine, options: ManagedEngineOptions) {
    this.#engine = engine;
    this.#id = options.id ?? engine.id;
    this.#options = options;
    this.#slots = new Slots(options.maxConcurrent);
    // Every running query listens for shutdown: as many listeners as queries is expected, not a leak.
    setMaxListeners(0, this.#shutdown.signal);
  }

  get id(): string {
    return this.#id;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Whether the engine can run queries now: open, and healthy by its own account (within 2 s). */
  async healthy(): Promise<boolean> {
    if (this.closed) return false;
    const own = this.#engine.healthy?.bind(this.#engine);
    if (!own) return true;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), 2000);
    });
    try {
      return await Promise.race([own().catch(() => false), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The engine's own SQL analysis, when it offers one (`capabilities.analyzesSql`). */
  get analyze(): ((sql: string, signal: AbortSignal) => Promise<SqlAnalysis>) | undefined {
    const engine = this.#engine;
    if (!engine.analyze || this.#closing) return undefined;
    return (sql, signal) => engine.analyze?.(sql, { signal }) ?? Promise.reject(new Error('no analyzer'));
  }

  async check(request: QueryRequest): Promise<CheckResult> {
    return this.#engine.check(request);
  }

  /** How far a running query is (0 to 1), when the engine can tell. */
  progress(queryId: string): number | undefined {
    return this.#engine.progress?.(queryId);
  }

  /** The engine's problems with the tables tenants configured as held by it (see `Engine.tableProblems`). */
  tableProblems(tables: readonly HeldTableConfig[]): Promise<readonly string[]> {
    return this.#engine.tableProblems?.(tables) ?? Promise.resolve([]);
  }

  /** The engine's diagnostic of what it keeps for a tenant (see `Engine.inspectTenant`), if it offers one. */
  inspectTenant(tenant: string): Promise<Readonly<Record<string, unknown>>> | undefined {
    return this.#engine.inspectTenant?.(tenant);
  }

  stats(): EngineStats & { readonly running: number; readonly queued: number } {
    return { ...this.#engine.stats(), running: this.#slots.used, queued: this.#slots.waiting };
  }

  /**
   * Runs a query within the engine's limits. The returned stream must be read to the end or closed. `stream`, the
   * caller's own error mapping and cleanup, is applied by the same wrapper as the engine's limits: one layer fewer
   * for each batch to pass through.
   */
  async execute(request: QueryRequest, options: RunOptions & { readonly stream?: WrapOptions }): Promise<QueryStream> {
    const admitted = await this.#admit(options);
    try {
      const inner = await this.#engine.execute(request, { signal: admitted.signal });
      const outer = options.stream ?? {};
      return wrapQueryStream(inner, {
        mapError: (error) => {
          const failure = admitted.failure(error);
          return outer.mapError ? outer.mapError(failure) : failure;
        },
        onClose: async () => {
          admitted.release();
          await outer.onClose?.();
        },
      });
    } catch (error) {
      admitted.release();
      throw admitted.failure(error);
    }
  }

  /** Whether the engine implements the extension that `guard` recognises. */
  offers<T extends object>(guard: ExtensionGuard<T>): boolean {
    return guard(this.#engine);
  }

  /**
   * Runs `work` on the engine's extension (an entry point other than `execute`) within the same limits as a query:
   * a slot or ENGINE_BUSY, the time limit, cancellation by `options.signal` or shutdown. The slot is held until
   * `work` settles, so work must not hand out anything that keeps computing afterwards.
   */
  async run<T extends object, R>(
    guard: ExtensionGuard<T>,
    work: (extension: T, signal: AbortSignal) => Promise<R>,
    options: RunOptions,
  ): Promise<R> {
    const engine = this.#engine;
    if (!guard(engine)) throw new LakegateError('UNSUPPORTED_QUERY', `The ${this.id} engine does not offer this.`);
    const admitted = await this.#admit(options);
    try {
      return await work(engine, admitted.signal);
    } catch (error) {
      throw admitted.failure(error);
    } finally {
      admitted.release();
    }
  }

  /** Takes a slot for work bounded by `options`: refused once closing, ENGINE_BUSY when the queue is full. */
  async #admit(options: RunOptions): Promise<Admitted> {
    if (this.#closing)
      throw new LakegateError('ENGINE_CLOSED', `The ${this.id} engine is shutting down.`, { retryAfterSeconds: 5 });
    throwIfAborted(options.signal);

    const controller = new AbortController();
    const abort = (reason: unknown): void => controller.abort(reason);
    const onClient = (): void => abort(options.signal.reason);
    const onShutdown = (): void => abort(this.#shutdown.signal.reason);
    options.signal.addEventListener('abort', onClient, { once: true });
    this.#shutdown.signal.addEventListener('abort', onShutdown, { once: true });
    const timer = setTimeout(
      () => abort(new LakegateError('QUERY_TIMEOUT', `The query exceeded its time limit of ${options.timeoutMs} ms.`)),
      options.timeoutMs,
    );
    let slot = false;
    const release = (): void => {
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onClient);
      this.#shutdown.signal.removeEventListener('abort', onShutdown);
      if (slot) {
        slot = false;
        this.#slots.release();
      }
    };
    const failure = (error: unknown): LakegateError =>
      controller.signal.aborted && !(isLakegateError(error) && error.kind === 'user')
        ? abortError(controller.signal)
        : toLakegateError(error);

    try {
      await this.#acquire(controller.signal);
      slot = true;
    } catch (error) {
      release();
      throw failure(error);
    }
    return { signal: controller.signal, failure, release };
  }

  async #acquire(signal: AbortSignal): Promise<void> {
    const full = this.#slots.used >= this.#options.maxConcurrent;
    if (full && this.#slots.waiting >= this.#options.maxQueued) {
      throw new LakegateError('ENGINE_BUSY', `The ${this.id} engine is at capacity; retry shortly.`, {
        retryAfterSeconds: 1,
      });
    }
    await this.#slots.acquire(signal);
  }

  /**
   * Stops accepting queries, lets running ones finish for up to `graceMs`, then cancels the rest and closes
   * the engine. Idempotent.
   */
  close(graceMs = 0): Promise<void> {
    this.#closing ??= (async () => {
      const deadline = Date.now() + graceMs;
      while (this.#slots.used > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      this.#shutdown.abort(
        new LakegateError('QUERY_CANCELLED', 'The query was cancelled because the gateway is shutting down.'),
      );
      await this.#engine.close();
    })();
    return this.#closing;
  }
}
