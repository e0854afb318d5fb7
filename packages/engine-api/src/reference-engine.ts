import { defineCapabilities, type Engine, type EngineStats } from './engine.js';
import { abortError, LakegateError, throwIfAborted } from './errors.js';
import { createQueryStream } from './query-stream.js';
import {
  type CheckResult,
  type Column,
  type ColumnBatch,
  type ExecuteOptions,
  isFileBinding,
  type QueryRequest,
  type QueryStream,
} from './types.js';

/** An in-memory table: columns and rows in the batch value representation of {@link ValueKind}. */
export interface InMemoryTable {
  readonly columns: readonly Column[];
  readonly rows: readonly (readonly unknown[])[];
}

export interface ReferenceEngineOptions {
  /**
   * Tables by tenant, then by name. A file binding's `snapshot.dataset` selects the table; an engine table binding
   * (a dataset configured as living in this engine) selects it by its `table`.
   */
  readonly datasets: Readonly<Record<string, Readonly<Record<string, InMemoryTable>>>>;
  /** Rows per batch. Default 1024. */
  readonly batchSize?: number;
}

// SELECT * | col, col FROM name | "name" [LIMIT n] [;]
const GRAMMAR =
  /^\s*select\s+(\*|[a-z_][a-z0-9_]*(?:\s*,\s*[a-z_][a-z0-9_]*)*)\s+from\s+("?)([a-z_][a-z0-9_]*)\2(?:\s+limit\s+(\d+))?\s*;?\s*$/i;

interface ParsedQuery {
  readonly columns: readonly string[] | '*';
  readonly table: string;
  readonly limit: number | undefined;
}

function parse(sql: string): ParsedQuery | undefined {
  const match = GRAMMAR.exec(sql);
  if (!match) return undefined;
  const [, columns = '*', , table = '', limit] = match;
  return {
    columns: columns === '*' ? '*' : columns.split(',').map((c) => c.trim().toLowerCase()),
    table: table.toLowerCase(),
    limit: limit === undefined ? undefined : Number(limit),
  };
}

/**
 * A small engine over in-memory tables that passes the conformance kit. It understands only
 * `SELECT * | columns FROM table [LIMIT n]`, which is all the gateway's unit tests need, and shows engine
 * authors the whole contract in one file.
 */
export function createReferenceEngine(options: ReferenceEngineOptions): Engine {
  const batchSize = options.batchSize ?? 1024;
  const active = new Set<AbortController>();
  let closed = false;

  // A SELECT outside the grammar is a shape this engine declines (another engine may run it); anything else
  // is not a query at all, and execute() reports it as INVALID_SQL.
  const check = (request: QueryRequest): CheckResult => {
    // A row filter it cannot apply is a query it must not run.
    if (request.tables.some((t) => t.rowFilter)) {
      return { supported: false, reason: 'The reference engine does not apply row filters.' };
    }
    if (request.parameters?.length) {
      return { supported: false, reason: 'The reference engine does not bind parameters.' };
    }
    return parse(request.sql) || !/^\s*select\b/i.test(request.sql)
      ? { supported: true }
      : { supported: false, reason: 'The reference engine runs only SELECT <columns> FROM <table> [LIMIT n].' };
  };

  async function execute(request: QueryRequest, { signal }: ExecuteOptions): Promise<QueryStream> {
    if (closed) throw new LakegateError('ENGINE_CLOSED', 'The engine is closed.');
    throwIfAborted(signal);
    const query = parse(request.sql);
    if (!query)
      throw new LakegateError('INVALID_SQL', 'Syntax error: expected SELECT <columns> FROM <table> [LIMIT n].');
    if (request.tables.some((t) => t.rowFilter))
      throw new LakegateError('UNSUPPORTED_QUERY', 'The reference engine does not apply row filters.');
    const binding = request.tables.find((t) => t.name.toLowerCase() === query.table);
    // Files name their dataset in the snapshot; a table held by the engine is found by its configured name.
    const table = binding
      ? options.datasets[request.tenant]?.[isFileBinding(binding) ? binding.snapshot.dataset : binding.table]
      : undefined;
    if (!table) throw new LakegateError('UNKNOWN_TABLE', `Table "${query.table}" does not exist.`);

    const indexes =
      query.columns === '*'
        ? table.columns.map((_, i) => i)
        : query.columns.map((name) => {
            const index = table.columns.findIndex((c) => c.name.toLowerCase() === name);
            if (index < 0)
              throw new LakegateError('INVALID_SQL', `Column "${name}" does not exist in "${query.table}".`);
            return index;
          });
    const schema = indexes.map((i) => table.columns[i] as Column);
    const end = Math.min(
      table.rows.length,
      query.limit ?? Number.POSITIVE_INFINITY,
      request.maxRows ?? Number.POSITIVE_INFINITY,
    );

    // One controller per query so that close() can stop streams that are mid-flight.
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    active.add(controller);
    let offset = 0;

    return createQueryStream(schema, {
      async next(): Promise<ColumnBatch | undefined> {
        // Yield to the event loop between batches, as a real engine would, so aborts can land.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (controller.signal.aborted) throw abortError(controller.signal);
        if (offset >= end) return undefined;
        const stop = Math.min(end, offset + batchSize);
        const rows = table.rows.slice(offset, stop);
        offset = stop;
        return { rowCount: rows.length, columns: indexes.map((i) => rows.map((row) => row[i])) };
      },
      close(): void {
        signal.removeEventListener('abort', onAbort);
        active.delete(controller);
      },
    });
  }

  async function close(): Promise<void> {
    closed = true;
    const reason = new LakegateError('QUERY_CANCELLED', 'The query was cancelled because the engine is closing.');
    for (const controller of active) controller.abort(reason);
  }

  return {
    id: 'reference',
    capabilities: defineCapabilities({ generalSql: false }),
    check,
    execute,
    stats: (): EngineStats => ({ activeQueries: active.size }),
    close,
    [Symbol.asyncDispose]: close,
  };
}
