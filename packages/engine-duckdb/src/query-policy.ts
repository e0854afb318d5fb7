import type { DuckDBConnection } from '@duckdb/node-api';
import { LakegateError, lineAndColumn, SAFE_TABLE_FUNCTIONS, type TableBinding } from '@lakegate/engine-api';
import { leadingKeyword, parseWithDuckDB } from './sql-analysis.js';

/** Scalar functions that reveal the instance's configuration or the host's environment. */
const DENIED_FUNCTIONS = new Set([
  'current_setting',
  'getenv',
  'current_database',
  'current_schema',
  'current_schemas',
]);

const ACCEPTED_LIMIT = 4096;
/** SQL texts (with the names bound for them) already found acceptable: dashboards repeat their queries. */
const accepted = new Map<string, true>();

/**
 * The engine's own check of tenant SQL, from DuckDB's parser, before anything binds or runs: every table is a
 * bound dataset or a CTE, unqualified; no table function but a few harmless generators; no function that reads
 * settings or the environment. The instance's lockdown stops file access regardless; this stops the rest
 * (system catalogs, metadata functions) and gives clear errors. The gateway checks the same things first.
 */
export async function enforceQueryPolicy(
  connection: DuckDBConnection,
  sql: string,
  tables: readonly TableBinding[],
): Promise<void> {
  // The verdict depends only on the text and the names it may use, so a repeated query is not parsed again.
  const key = `${tables
    .map((t) => t.name.toLowerCase())
    .sort()
    .join(',')}\0${sql}`;
  if (accepted.has(key)) return;
  await checkQuery(connection, sql, tables);
  if (accepted.size >= ACCEPTED_LIMIT) accepted.delete(accepted.keys().next().value as string);
  accepted.set(key, true);
}

async function checkQuery(connection: DuckDBConnection, sql: string, tables: readonly TableBinding[]): Promise<void> {
  const parsed = await parseWithDuckDB(connection, sql);
  if (parsed.kind === 'syntax-error') {
    throw new LakegateError('INVALID_SQL', `Syntax error: ${parsed.message}.`, {
      details: lineAndColumn(sql, parsed.position),
    });
  }
  if (parsed.kind === 'other') {
    if (parsed.keyword !== 'EXPLAIN') {
      throw new LakegateError(
        'FORBIDDEN_STATEMENT',
        `${parsed.keyword} statements are not allowed: only queries run here.`,
      );
    }
    // EXPLAIN [ANALYZE] <query>: the query itself must pass.
    const inner = sql.replace(/^[\s(]*(?:\/\*[\s\S]*?\*\/|--[^\n]*\n|\s)*explain\s+(?:analyze\s+)?/i, '');
    if (inner === sql || leadingKeyword(inner) === 'EXPLAIN') {
      throw new LakegateError('FORBIDDEN_STATEMENT', 'Only EXPLAIN of a query is allowed.');
    }
    await checkQuery(connection, inner, tables);
    return;
  }
  const known = new Set(tables.map((t) => t.name.toLowerCase()));
  for (const table of parsed.tables) {
    if (table.cte) continue;
    if (table.schema || table.catalog) {
      throw new LakegateError(
        'UNKNOWN_TABLE',
        `Table "${[table.catalog, table.schema, table.name].filter(Boolean).join('.')}" does not exist: refer to datasets by their plain name.`,
      );
    }
    if (!known.has(table.name.toLowerCase())) {
      throw new LakegateError('UNKNOWN_TABLE', `Table "${table.name}" does not exist.`);
    }
  }
  for (const fn of parsed.tableFunctions) {
    if (!SAFE_TABLE_FUNCTIONS.has(fn.name.toLowerCase())) {
      throw new LakegateError(
        'FORBIDDEN_STATEMENT',
        `Table function "${fn.name}" is not allowed: query your datasets by name.`,
      );
    }
  }
  const denied = parsed.functions.find((f) => DENIED_FUNCTIONS.has(f));
  if (denied) throw new LakegateError('FORBIDDEN_STATEMENT', `Function "${denied}" is not allowed.`);
}
