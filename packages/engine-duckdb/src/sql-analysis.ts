import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import {
  abortError,
  LakegateError,
  lineAndColumn,
  type SqlAnalysis,
  type SqlTableReference,
} from '@lakegate/engine-api';
import { mapDuckDBError } from './error-mapping.js';
import { quoteString } from './tenant-instance.js';

interface SerializedSql {
  readonly error: boolean;
  readonly error_type?: string;
  readonly error_message?: string;
  readonly position?: string;
  readonly statements?: readonly unknown[];
}

interface Node {
  readonly type?: unknown;
  readonly [key: string]: unknown;
}

/** The statement's first keyword, after comments and parentheses: what a non-SELECT statement is. */
export function leadingKeyword(sql: string): string {
  const stripped = sql.replace(/\/\*[\s\S]*?\*\/|--[^\n]*/g, ' ').replace(/^[\s(;]+/, '');
  return (/^[A-Za-z_]+/.exec(stripped)?.[0] ?? '').toUpperCase();
}

/** Walks DuckDB's serialized parse tree for the tables, table functions and CTEs it references. */
export interface CollectedReferences extends Omit<SqlAnalysis, 'statementCount' | 'statementType'> {
  /** Scalar and aggregate functions called (lower case). */
  readonly functions: readonly string[];
}

function collect(statements: readonly unknown[]): CollectedReferences {
  const tables: SqlTableReference[] = [];
  const tableFunctions: { name: string; position?: number }[] = [];
  const functions = new Set<string>();
  const ctes = new Set<string>();
  // Tracks the CTE names in scope: a CTE sees those defined before it, the query body sees all of them.
  const walk = (value: unknown, scope: ReadonlySet<string>): void => {
    if (Array.isArray(value)) {
      for (const item of value) walk(item, scope);
      return;
    }
    if (!value || typeof value !== 'object') return;
    const node = value as Node;
    let inner = scope;
    const cteMap = (node.cte_map as { map?: { key: unknown; value: unknown }[] } | undefined)?.map;
    if (cteMap && cteMap.length > 0) {
      const names = new Set(scope);
      for (const entry of cteMap) {
        walk(entry.value, names);
        names.add(String(entry.key).toLowerCase());
        ctes.add(String(entry.key));
      }
      inner = names;
    }
    if (node.type === 'BASE_TABLE') {
      const schema = String(node.schema_name ?? '');
      const catalog = String(node.catalog_name ?? '');
      const name = String(node.table_name);
      const alias = String(node.alias ?? '');
      tables.push({
        name,
        ...(schema ? { schema } : {}),
        ...(catalog ? { catalog } : {}),
        ...(typeof node.query_location === 'number' ? { position: node.query_location } : {}),
        ...(alias ? { alias } : {}),
        cte: !schema && !catalog && inner.has(name.toLowerCase()),
      });
    } else if (node.type === 'TABLE_FUNCTION') {
      const fn = node.function as { function_name?: unknown } | undefined;
      tableFunctions.push({
        name: String(fn?.function_name ?? ''),
        ...(typeof node.query_location === 'number' ? { position: node.query_location } : {}),
      });
    }
    if (node.class === 'FUNCTION' && typeof node.function_name === 'string')
      functions.add(node.function_name.toLowerCase());
    for (const [key, child] of Object.entries(node)) {
      if (key !== 'cte_map') walk(child, inner);
    }
  };
  walk(statements, new Set());
  return { tables, tableFunctions, ctes: [...ctes], functions: [...functions] };
}

export type ParsedSql =
  | ({ readonly kind: 'select' } & CollectedReferences)
  | { readonly kind: 'other'; readonly keyword: string }
  | { readonly kind: 'syntax-error'; readonly message: string; readonly position: number };

/** Parses SQL with DuckDB's serializer on `connection` (no binding, no execution). */
export async function parseWithDuckDB(connection: DuckDBConnection, sql: string): Promise<ParsedSql> {
  const reader = await connection.runAndReadAll(`SELECT json_serialize_sql(${quoteString(sql)})`);
  const serialized = JSON.parse(String(reader.getRows()[0]?.[0])) as SerializedSql;
  if (!serialized.error) return { kind: 'select', ...collect(serialized.statements ?? []) };
  if (serialized.error_type === 'parser') {
    return {
      kind: 'syntax-error',
      message: serialized.error_message ?? 'invalid SQL',
      position: Number(serialized.position ?? 0),
    };
  }
  // Only SELECT statements serialize: anything else is named by its keyword.
  return { kind: 'other', keyword: leadingKeyword(sql) || 'UNKNOWN' };
}

/**
 * SQL analysis from DuckDB's own parser (`json_serialize_sql`), for syntax a generic parser does not know.
 * Runs on a private, locked-down instance that has no access to any file; it parses, never executes.
 */
export class SqlAnalyzer {
  #ready: Promise<{ instance: DuckDBInstance; connection: DuckDBConnection }> | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  #open(): Promise<{ instance: DuckDBInstance; connection: DuckDBConnection }> {
    this.#ready ??= (async () => {
      const instance = await DuckDBInstance.create(':memory:', { threads: '1', memory_limit: '64MB' });
      const connection = await instance.connect();
      await connection.run('SET enable_external_access = false');
      await connection.run('SET lock_configuration = true');
      return { instance, connection };
    })();
    return this.#ready;
  }

  analyze(sql: string, signal: AbortSignal): Promise<SqlAnalysis> {
    // One parse at a time on the analysis connection; they take microseconds.
    const run = this.#queue.then(() => this.#analyze(sql, signal));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #analyze(sql: string, signal: AbortSignal): Promise<SqlAnalysis> {
    if (signal.aborted) throw abortError(signal);
    const { connection } = await this.#open();
    // The serializer reports a syntax error's position; extracting statements does not.
    const parsed = await parseWithDuckDB(connection, sql);
    if (parsed.kind === 'syntax-error') {
      throw new LakegateError('INVALID_SQL', `Syntax error: ${parsed.message}.`, {
        details: lineAndColumn(sql, parsed.position),
      });
    }
    let statementCount: number;
    try {
      statementCount = (await connection.extractStatements(sql)).count;
    } catch (error) {
      throw mapDuckDBError(error, { signal, hiddenPaths: [] });
    }
    switch (parsed.kind) {
      case 'other':
        return { statementCount, statementType: parsed.keyword, tables: [], tableFunctions: [], ctes: [] };
      case 'select': {
        const { tables, tableFunctions, ctes } = parsed;
        return { statementCount, statementType: 'SELECT', tables, tableFunctions, ctes };
      }
    }
  }

  async close(): Promise<void> {
    const ready = this.#ready;
    this.#ready = undefined;
    if (!ready) return;
    const { instance, connection } = await ready;
    connection.closeSync();
    instance.closeSync();
  }
}
