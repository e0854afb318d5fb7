import { randomBytes } from 'node:crypto';
import { LakegateError } from '@lakegate/engine-api';
import { type PresentedError, presentError } from '../errors/error-presenter.js';
import type { Logger } from '../logging/logger.js';
import type { TraceScope } from '../observability/tracing.js';
import type { ActiveQuery, QueryEnd, QueryInput, QueryLifecycle } from '../query/query-lifecycle.js';
import { RowReader } from '../query/row-reader.js';
import { CATALOG } from '../query/tenant-catalog.js';
import { type TrinoError, trinoError, trinoSessionError } from './trino-errors.js';
import { answerMetadata, type StaticResult } from './trino-metadata.js';
import { exactNumbers, type TrinoColumnType, trinoType } from './trino-types.js';

export type TrinoState = 'QUEUED' | 'RUNNING' | 'FINISHED' | 'FAILED';

export interface TrinoColumn {
  readonly name: string;
  readonly type: string;
  readonly typeSignature: TrinoColumnType['typeSignature'];
}

/**
 * A page of a query's result: Trino's `QueryResults` and its rows, which are encoded as JSON once, when read (each
 * row's text is what measures the page's bytes), and spliced into the response as its `data`.
 */
export interface TrinoPage {
  readonly results: QueryResults;
  /** The rows as UTF-8 JSON arrays joined by commas (no brackets); absent when the page has none. */
  readonly data?: readonly Uint8Array[] | undefined;
}

/** The response body of a page: its `QueryResults` as JSON, with `data` when it has rows. */
export function renderPage(page: TrinoPage): Uint8Array<ArrayBuffer> {
  const text = JSON.stringify(page.results);
  if (page.data === undefined) return Buffer.from(text);
  return Buffer.concat([Buffer.from(`${text.slice(0, -1)},"data":[`), ...page.data, CLOSE_DATA]);
}

const CLOSE_DATA = Buffer.from(']}');

/**
 * Row texts are gathered into chunks of about this many characters before they are encoded as UTF-8: a page is
 * held as a few buffers outside the JavaScript heap rather than as thousands of strings, which would live long
 * enough to be copied by every young-generation collection while the client takes the page before.
 */
const CHUNK_CHARS = 64 * 1024;

/** Encodes JSON row texts as UTF-8 chunks joined by commas, as a page's `data` holds them. */
class RowChunks {
  readonly #chunks: Uint8Array[] = [];
  #parts: string[] = [];
  #chars = 0;

  add(text: string): void {
    this.#parts.push(text);
    this.#chars += text.length + 1;
    if (this.#chars >= CHUNK_CHARS) this.#flush();
  }

  done(): readonly Uint8Array[] {
    if (this.#parts.length > 0) this.#flush();
    return this.#chunks;
  }

  #flush(): void {
    const joined = this.#parts.join(',');
    this.#chunks.push(Buffer.from(this.#chunks.length === 0 ? joined : `,${joined}`));
    this.#parts = [];
    this.#chars = 0;
  }
}

/** Most rows a page may grow to, whatever its bytes. */
const MAX_PAGE_ROWS = 1 << 20;

/** Trino's `QueryResults`, as every client protocol response carries it (its `data` is in `TrinoPage`). */
export interface QueryResults {
  readonly id: string;
  readonly infoUri: string;
  readonly nextUri?: string;
  readonly partialCancelUri?: string;
  readonly columns?: readonly TrinoColumn[];
  readonly stats: Readonly<Record<string, unknown>>;
  readonly error?: TrinoError;
  readonly warnings: readonly never[];
  readonly updateType?: string;
}

export interface TrinoQueryOptions {
  readonly tenant: string;
  readonly sql: string;
  readonly queries: QueryLifecycle;
  readonly schema: string | undefined;
  /** The catalog named by `X-Trino-Catalog`, if any: only `lakegate` exists. */
  readonly catalog?: string | undefined;
  readonly user: string;
  readonly source: string | undefined;
  /** Rows of the first page at most; each next page may hold twice the rows of the one before. */
  readonly pageRows: number;
  /** Bytes (approximate, as JSON) per page at most. */
  readonly pageBytes: number;
  /** The submitting request's trace, which the query's stages add their spans to. */
  readonly trace?: TraceScope | undefined;
  /** The submitting request's logger: the query's `query.done` line goes there when it ends. */
  readonly logger?: Logger | undefined;
}

let sequence = 0;

/** Trino's query id shape: `YYYYMMDD_HHMMSS_NNNNN_xxxxx`. */
function newQueryId(): string {
  const now = new Date();
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
  sequence = (sequence + 1) % 100_000;
  return `${stamp}_${String(sequence).padStart(5, '0')}_${randomBytes(3).toString('hex').slice(0, 5)}`;
}

/**
 * One query in Trino's client protocol: started at once, then read page by page as the client follows nextUri.
 * A page is served only when asked for, so a client that reads slowly holds the query back rather than piling
 * rows up in memory.
 */
export class TrinoQuery {
  readonly id = newQueryId();
  /** Makes nextUri unguessable: knowing a query id is not enough to read or cancel it. */
  readonly slug = randomBytes(8).toString('hex');
  readonly tenant: string;
  readonly sql: string;
  readonly createdAt = Date.now();
  readonly #arrived = performance.now();
  lastAccess = Date.now();
  readonly #options: TrinoQueryOptions;
  readonly #controller = new AbortController();
  #state: TrinoState = 'QUEUED';
  #error: TrinoError | undefined;
  /** Why the query failed, as every protocol presents it. */
  #failure: PresentedError | undefined;
  #columns: readonly TrinoColumn[] | undefined;
  #reader: RowReader | undefined;
  #active: ActiveQuery | undefined;
  #static: StaticResult | undefined;
  /** The result has a bigint column: its rows' texts are passed through exactNumbers. */
  #exact = false;
  #rows = 0;
  /** Result bytes sent so far (as JSON, approximately). */
  #bytes = 0;
  /** How the query ended, once it has. */
  #endSummary: QueryEnd | undefined;
  /** The lifecycle was asked to start the query: it logs the query's end from then on. */
  #handedOver = false;
  #token = 1;
  #last: { token: number; page: TrinoPage } | undefined;
  /** The next page's rows, read ahead (one page at most) while the client takes the one before. */
  #prefetched: Promise<{ rows: number; data: readonly Uint8Array[] }> | undefined;
  /** Rows the next page may hold: the first page is sent early, and the pages grow toward `pageBytes`. */
  #pageRows: number;
  #headers: Readonly<Record<string, string>> = {};
  readonly #ready: Promise<void>;
  #busy: Promise<unknown> = Promise.resolve();

  constructor(options: TrinoQueryOptions) {
    this.#options = options;
    this.#pageRows = options.pageRows;
    this.tenant = options.tenant;
    this.sql = options.sql;
    this.#ready = this.#start();
  }

  get state(): TrinoState {
    return this.#state;
  }

  get done(): boolean {
    return this.#state === 'FINISHED' || this.#state === 'FAILED';
  }

  /**
   * Whether the client has had all of it: it failed, or its last page (the one without nextUri) was built. A query
   * FINISHED by its read-ahead still holds rows its client has not fetched.
   */
  get delivered(): boolean {
    return this.#state === 'FAILED' || (this.done && this.#last?.page.results.nextUri === undefined);
  }

  /** What a finished query keeps (its text, and its last page for a client's retry), in bytes, roughly. */
  get retainedBytes(): number {
    let bytes = this.sql.length;
    for (const chunk of this.#last?.page.data ?? []) bytes += chunk.byteLength;
    return bytes;
  }

  /** Headers for the response that carries the result (session changes). */
  get headers(): Readonly<Record<string, string>> {
    return this.#headers;
  }

  /** The lifecycle's view of this query: the end-of-query line names the protocol and the Trino query id. */
  #input(): QueryInput {
    return {
      queryId: this.id,
      tenant: this.tenant,
      sql: this.sql,
      engine: undefined,
      maxRows: Number.MAX_SAFE_INTEGER - 1,
      signal: this.#controller.signal,
      protocol: 'trino',
      logger: this.#options.logger,
      trace: this.#options.trace,
      // Trino reports a query RUNNING once it leaves the queue, before its first rows.
      onAdmitted: () => {
        if (this.#state === 'QUEUED') this.#state = 'RUNNING';
      },
    };
  }

  async #start(): Promise<void> {
    const { tenant, sql, queries } = this.#options;
    try {
      queries.assertSqlSize(sql);
      this.#checkSession(tenant);
      const metadata = await answerMetadata(sql, {
        tenant,
        catalog: queries.catalog,
        schema: this.#options.schema,
        signal: this.#controller.signal,
      });
      // Cancelled meanwhile: it stays FAILED.
      if (this.done) return;
      if (metadata) {
        this.#static = metadata;
        this.#headers = metadata.headers ?? {};
        this.#columns = metadata.columns.map((c) => ({
          name: c.name,
          type: c.type,
          typeSignature:
            c.type === 'varchar'
              ? { rawType: 'varchar', arguments: [{ kind: 'LONG', value: 2147483647 }] }
              : { rawType: c.type, arguments: [] },
        }));
        this.#state = 'RUNNING';
        return;
      }
      this.#handedOver = true;
      const active = await queries.start(this.#input());
      this.#active = active;
      if (this.#endSummary) {
        // Cancelled while it started.
        await active.end(this.#endSummary);
        return;
      }
      const types = active.stream.schema.map((c) => trinoType(c.type));
      // A bigint anywhere in the row (in an array, a map, a row) may need its digits put back.
      this.#exact = types.some((t) => t.type.includes('bigint'));
      this.#columns = active.stream.schema.map((c, i) => ({
        name: c.name,
        type: types[i]?.type ?? 'varchar',
        typeSignature: types[i]?.typeSignature ?? { rawType: 'varchar', arguments: [] },
      }));
      this.#reader = new RowReader(
        active.stream,
        types.map((t) => t.encode),
      );
      this.#state = 'RUNNING';
    } catch (error) {
      this.#fail(error);
    }
  }

  /** Refuses a session whose catalog or schema does not exist for this tenant, as Trino does. */
  #checkSession(tenant: string): void {
    const { catalog, schema } = this.#options;
    if (catalog !== undefined && catalog.toLowerCase() !== CATALOG) throw trinoSessionError('catalog', catalog);
    if (schema !== undefined && ![tenant, 'information_schema'].includes(schema.toLowerCase())) {
      throw trinoSessionError('schema', schema);
    }
  }

  #fail(error: unknown): void {
    if (this.done) return;
    this.#failure = presentError(error);
    this.#error = trinoError(error, this.sql);
    this.#state = 'FAILED';
    this.#end({ outcome: 'error', rows: this.#rows, bytes: this.#bytes, error });
  }

  /** The query's one end: the lifecycle frees it and writes its line (the gateway's own answers log alike). */
  #end(summary: QueryEnd): void {
    if (this.#endSummary) return;
    this.#endSummary = summary;
    if (this.#active) void this.#active.end(summary);
    // Once handed to the lifecycle, the query is logged there: on a failed start by the lifecycle itself, on a
    // cancel during the start when the start returns.
    else if (!this.#handedOver)
      this.#options.queries.endUnstarted(this.#input(), summary, this.#arrived, this.#static ? 'gateway' : 'none');
  }

  /** Cancels the query (client DELETE, abandonment, shutdown); it stops in the engine. */
  cancel(reason = 'Query was canceled'): void {
    if (this.done) return;
    this.#controller.abort(new LakegateError('QUERY_CANCELLED', reason));
    this.#fail(new LakegateError('QUERY_CANCELLED', reason));
  }

  #uri(base: string, token: number): string {
    return `${base}/v1/statement/executing/${this.id}/${this.slug}/${token}`;
  }

  #stats(): Readonly<Record<string, unknown>> {
    const elapsed = Date.now() - this.createdAt;
    return {
      state: this.#state,
      queued: this.#state === 'QUEUED',
      scheduled: this.#state !== 'QUEUED',
      nodes: 1,
      totalSplits: 1,
      queuedSplits: this.#state === 'QUEUED' ? 1 : 0,
      runningSplits: this.#state === 'RUNNING' ? 1 : 0,
      completedSplits: this.done ? 1 : 0,
      cpuTimeMillis: 0,
      wallTimeMillis: elapsed,
      queuedTimeMillis: 0,
      elapsedTimeMillis: elapsed,
      processedRows: this.#rows,
      processedBytes: 0,
      physicalInputBytes: 0,
      peakMemoryBytes: 0,
      spilledBytes: 0,
      progressPercentage: this.done
        ? 100
        : Math.round((this.#options.queries.progress(this.tenant, this.id) ?? 0) * 1000) / 10,
    };
  }

  /** The first response: the query is queued, data comes from nextUri. */
  initial(base: string): QueryResults {
    return {
      id: this.id,
      infoUri: `${base}/v1/query/${this.id}`,
      nextUri: `${base}/v1/statement/queued/${this.id}/${this.slug}/${this.#token}`,
      stats: this.#stats(),
      warnings: [],
    };
  }

  /**
   * The page for `token`. Asking again for the last token returns the same page (clients retry); a page is built
   * from up to `pageRows` rows, waiting at most `waitMs` for the query to produce them.
   */
  page(token: number, base: string, waitMs: number): Promise<TrinoPage> {
    this.lastAccess = Date.now();
    const run = this.#busy.then(() => this.#page(token, base, waitMs));
    // Accessed until its page is sent: a client waiting on a GET has not walked away.
    const touch = (): void => {
      this.lastAccess = Date.now();
    };
    this.#busy = run.then(touch, touch);
    return run;
  }

  async #page(token: number, base: string, waitMs: number): Promise<TrinoPage> {
    if (this.#last && token === this.#last.token) return this.#last.page;
    if (token !== this.#token) {
      throw new LakegateError('NOT_FOUND', `Query ${this.id} has no page ${token}: the client is out of step.`);
    }
    // One deadline for the whole request: the wait for the start and the wait for rows share `waitMs`.
    const deadline = Date.now() + waitMs;
    const ready = await Promise.race([
      this.#ready.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), waitMs)),
    ]);
    const base0 = { id: this.id, infoUri: `${base}/v1/query/${this.id}`, warnings: [] as never[] };
    let results: QueryResults;
    let data: readonly Uint8Array[] | undefined;
    if (!ready) {
      results = { ...base0, nextUri: this.#uri(base, token + 1), stats: this.#stats() };
    } else if (this.#error) {
      results = { ...base0, stats: this.#stats(), error: this.#error };
    } else {
      // Within `waitMs`, as Trino answers: rows the engine has not given by then go to the next GET, which takes up
      // the same read.
      const reading = this.#prefetched ?? this.#read();
      this.#prefetched = undefined;
      let timer: NodeJS.Timeout | undefined;
      const read = await Promise.race([
        reading,
        new Promise<undefined>((resolve) => {
          timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now()));
        }),
      ]);
      clearTimeout(timer);
      if (read === undefined) {
        this.#prefetched = reading;
        results = {
          ...base0,
          nextUri: this.#uri(base, token + 1),
          ...(this.#columns ? { columns: this.#columns } : {}),
          stats: this.#stats(),
        };
      } else {
        if (read.rows > 0) data = read.data;
        const more = !this.done;
        // The next page is read while the client takes this one: the engine works while the rows travel.
        if (more) this.#prefetched = this.#read();
        results = {
          ...base0,
          ...(more
            ? {
                nextUri: this.#uri(base, token + 1),
                partialCancelUri: `${base}/v1/statement/executing/partialCancel/${this.id}/0/${this.slug}/${token}`,
              }
            : {}),
          ...(this.#columns ? { columns: this.#columns } : {}),
          stats: this.#stats(),
          ...(this.#error ? { error: this.#error } : {}),
        };
      }
    }
    const page: TrinoPage = { results, data };
    this.#last = { token, page };
    this.#token = token + 1;
    return page;
  }

  /**
   * Reads up to a page of rows, as UTF-8 chunks of JSON; marks the query FINISHED when the result is exhausted.
   * Each page may hold twice the rows of the one before, up to `pageBytes` (the row that reaches it is the page's
   * last): the first rows reach the client early, and a large result takes few round trips.
   */
  async #read(): Promise<{ rows: number; data: readonly Uint8Array[] }> {
    const chunks = new RowChunks();
    if (this.#static) {
      const rows = this.#static.rows;
      for (const row of rows) chunks.add(exactNumbers(JSON.stringify(row)));
      this.#rows = rows.length;
      this.#state = 'FINISHED';
      this.#end({ outcome: 'ok', rows: rows.length });
      return { rows: rows.length, data: chunks.done() };
    }
    const reader = this.#reader as RowReader;
    let read: { rows: number; bytes: number };
    try {
      // Each row is encoded once: its text measures the page and is what the page sends.
      read = await reader.each(this.#pageRows, this.#options.pageBytes, (row) => {
        const text = this.#exact ? exactNumbers(JSON.stringify(row)) : JSON.stringify(row);
        chunks.add(text);
        return text.length + 1;
      });
    } catch (error) {
      this.#fail(error);
      return { rows: 0, data: [] };
    }
    // Cancelled while the rows were read (their stream closed under the read): it stays FAILED, without them.
    if (this.done) return { rows: 0, data: [] };
    this.#pageRows = Math.min(MAX_PAGE_ROWS, this.#pageRows * 2);
    this.#rows += read.rows;
    this.#bytes += read.bytes;
    if (reader.exhausted) {
      this.#state = 'FINISHED';
      this.#end({ outcome: 'ok', rows: this.#rows, bytes: this.#bytes });
    }
    return { rows: read.rows, data: chunks.done() };
  }

  info(base: string): Readonly<Record<string, unknown>> {
    return {
      queryId: this.id,
      state: this.#state,
      query: this.sql,
      self: `${base}/v1/query/${this.id}`,
      session: {
        user: this.#options.user,
        source: this.#options.source ?? null,
        catalog: CATALOG,
        schema: this.tenant,
      },
      queryStats: this.#stats(),
      ...(this.#error
        ? {
            errorCode: { code: this.#error.errorCode, name: this.#error.errorName, type: this.#error.errorType },
            failureInfo: this.#error.failureInfo,
          }
        : {}),
    };
  }

  /** Waits briefly for the start; if admission refused it for overload, says so (the route answers 503). */
  async refusedForOverload(waitMs: number): Promise<LakegateError | undefined> {
    const startedError = await Promise.race([
      this.#ready.then(() => 'started' as const),
      new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), waitMs)),
    ]);
    const failure = this.#failure;
    if (startedError === 'pending' || !failure) return undefined;
    // Clients retry 502, 503 and 504: overload is answered as 503, whatever limit refused the query, with the code
    // of the refusal when it is a 503 already (SHUTTING_DOWN, STORAGE_UNAVAILABLE, ...).
    if (failure.status === 503 || failure.code === 'RATE_LIMITED') {
      return new LakegateError(failure.code === 'RATE_LIMITED' ? 'ENGINE_BUSY' : failure.code, failure.message, {
        retryAfterSeconds: failure.retryAfterSeconds ?? 1,
      });
    }
    return undefined;
  }
}

/**
 * Bytes of finished queries kept at most (their last pages, for clients' retries, and their texts): past it, each
 * sweep forgets those least recently read first, so that no burst of queries holds memory for the whole `retainMs`.
 */
export const RETAINED_FINISHED_BYTES = 64 * 1024 * 1024;

/** The queries this gateway serves over the Trino protocol; abandoned ones are cancelled, finished ones forgotten. */
export class TrinoQueryRegistry {
  readonly #queries = new Map<string, TrinoQuery>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(
    readonly abandonAfterMs: number,
    readonly retainMs: number,
    readonly retainedBytes = RETAINED_FINISHED_BYTES,
  ) {
    this.#sweeper = setInterval(() => this.sweep(), Math.min(1000, abandonAfterMs));
    this.#sweeper.unref();
  }

  add(query: TrinoQuery): void {
    this.#queries.set(query.id, query);
  }

  /**
   * Cancels a running query (kept, so that its client reads why it failed), or forgets a finished one its client
   * is done with (a DELETE after its last page).
   */
  remove(query: TrinoQuery): void {
    if (query.done) this.#queries.delete(query.id);
    else query.cancel();
  }

  /** Forgets the least recently read finished queries while those kept hold more than `retainedBytes`. */
  #trimFinished(): void {
    const finished = [...this.#queries.values()].filter((q) => q.delivered);
    let bytes = finished.reduce((sum, q) => sum + q.retainedBytes, 0);
    if (bytes <= this.retainedBytes) return;
    finished.sort((a, b) => a.lastAccess - b.lastAccess);
    for (const query of finished) {
      if (bytes <= this.retainedBytes) break;
      this.#queries.delete(query.id);
      bytes -= query.retainedBytes;
    }
  }

  get(id: string, tenant: string): TrinoQuery {
    const query = this.#queries.get(id);
    if (!query || query.tenant !== tenant) throw new LakegateError('NOT_FOUND', `Query ${id} does not exist.`);
    return query;
  }

  sweep(now = Date.now()): void {
    for (const [id, query] of this.#queries) {
      if (!query.done && now - query.lastAccess > this.abandonAfterMs) {
        query.cancel('Query was abandoned by the client: it stopped fetching results');
      }
      if (query.done && now - query.lastAccess > this.retainMs) this.#queries.delete(id);
    }
    this.#trimFinished();
  }

  close(): void {
    clearInterval(this.#sweeper);
    for (const query of this.#queries.values()) query.cancel('The gateway is shutting down');
  }
}
