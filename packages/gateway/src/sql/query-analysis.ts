import type { SqlAnalysis } from '@lakegate/engine-api';
import { LakegateError, lineAndColumn } from '@lakegate/engine-api';
import nodeSqlParser from 'node-sql-parser';
import { skipTrivia } from './sql-lexer.js';

/** A table reference in the SQL text, resolved against the CTEs in scope where it appears. */
export interface TableReference {
  /** Offset of the reference's first character (its catalog, schema or name). */
  readonly position: number;
  /** True when it names a CTE visible where it appears: not a dataset. */
  readonly cte: boolean;
  /** True when the parser saw an alias after it. */
  readonly aliased: boolean;
}

export interface QueryShape {
  readonly statementCount: number;
  /** Upper case: SELECT, INSERT, PRAGMA, ... */
  readonly statementType: string;
  /** Offset where the analysed query starts (after `EXPLAIN [ANALYZE]`, if any). */
  readonly explain: boolean;
  readonly tables: readonly TableReference[];
  readonly tableFunctions: readonly { readonly name: string; readonly position: number | undefined }[];
  /** Which parser produced the analysis: `node-sql-parser/<dialect>` or `engine`. */
  readonly parser: string;
}

/** The engine-side parser to fall back on (DuckDB's own), when node-sql-parser cannot parse a query. */
export type EngineAnalyzer = (sql: string) => Promise<SqlAnalysis>;

/**
 * Dialects tried in order. Snowflake's grammar covers the most DuckDB-isms (QUALIFY, EXCLUDE, GROUP BY ALL);
 * PostgreSQL's catches some queries Snowflake's refuses. Neither knows `FROM t SELECT ...` or list/struct
 * literals: those go to the engine's parser.
 */
const DIALECTS = ['snowflake', 'postgresql'] as const;

const parser = new nodeSqlParser.Parser();

interface AstNode {
  readonly [key: string]: unknown;
}

const isNode = (value: unknown): value is AstNode => typeof value === 'object' && value !== null;

/** Walks a node-sql-parser AST, tracking the CTE names in scope (a CTE sees only those defined before it). */
function walkNodeSqlParser(root: unknown): Pick<QueryShape, 'tables' | 'tableFunctions'> {
  const tables: TableReference[] = [];
  const tableFunctions: { name: string; position: number | undefined }[] = [];
  const visit = (value: unknown, scope: ReadonlySet<string>): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item, scope);
      return;
    }
    if (!isNode(value)) return;
    let inner = scope;
    const withList = value.with;
    if (Array.isArray(withList)) {
      const names = new Set(scope);
      for (const cte of withList as AstNode[]) {
        visit(cte.stmt, names);
        const name = (cte.name as { value?: unknown } | undefined)?.value;
        if (typeof name === 'string') names.add(name.toLowerCase());
      }
      inner = names;
    }
    // FROM items: tables ({ db, table, as, loc }) and table functions ({ type: 'expr', expr: function }).
    if (Array.isArray(value.from)) {
      for (const item of value.from as unknown[]) {
        if (!isNode(item)) continue;
        if (typeof item.table === 'string') {
          const position = (item.loc as { start?: { offset?: number } } | undefined)?.start?.offset;
          if (typeof position !== 'number') {
            throw new LakegateError(
              'UNSUPPORTED_QUERY',
              `The reference to "${item.table}" could not be located in the query text.`,
            );
          }
          const cte = !item.db && inner.has(item.table.toLowerCase());
          tables.push({ position, cte, aliased: typeof item.as === 'string' && item.as !== '' });
        }
        const expr = item.expr as AstNode | undefined;
        if (isNode(expr) && expr.type === 'function') {
          const nameParts = (expr.name as { name?: { value?: unknown }[] } | undefined)?.name ?? [];
          const loc = expr.loc as { start?: { offset?: number } } | undefined;
          tableFunctions.push({ name: nameParts.map((p) => String(p.value)).join('.'), position: loc?.start?.offset });
        }
      }
    }
    for (const [key, child] of Object.entries(value)) {
      if (key === 'with' || key === 'loc') continue;
      visit(child, inner);
    }
  };
  visit(root, new Set());
  return { tables, tableFunctions };
}

/** Recognises `EXPLAIN [ANALYZE]` in front of a query; returns the offset of the query itself. */
function explainPrefix(sql: string): number | undefined {
  const start = skipTrivia(sql, 0);
  const match = /^explain(\s+analyze)?\s+/i.exec(sql.slice(start));
  return match ? start + match[0].length : undefined;
}

function tryNodeSqlParser(sql: string): { shape: QueryShape } | { error: { offset: number; message: string } } {
  let firstError: { offset: number; message: string } | undefined;
  for (const database of DIALECTS) {
    try {
      const ast = parser.astify(sql, { database, parseOptions: { includeLocations: true } });
      const statements = (Array.isArray(ast) ? ast : [ast]) as unknown as AstNode[];
      const type = String(statements[0]?.type ?? 'unknown').toUpperCase();
      return {
        shape: {
          statementCount: statements.length,
          statementType: type,
          explain: false,
          parser: `node-sql-parser/${database}`,
          ...walkNodeSqlParser(statements),
        },
      };
    } catch (error) {
      const { location, found } = error as { location?: { start?: { offset?: number } }; found?: unknown };
      firstError ??= {
        offset: location?.start?.offset ?? 0,
        message: typeof found === 'string' ? `unexpected "${found}"` : 'unexpected end of the query',
      };
    }
  }
  return { error: firstError ?? { offset: 0, message: 'unparsable' } };
}

/** Shifts positions of an analysis of `sql.slice(offset)` back into `sql`. */
function shift(shape: QueryShape, offset: number): QueryShape {
  return {
    ...shape,
    tables: shape.tables.map((t) => ({ ...t, position: t.position + offset })),
    tableFunctions: shape.tableFunctions.map((f) => ({
      ...f,
      position: f.position === undefined ? undefined : f.position + offset,
    })),
  };
}

/**
 * Understands a tenant query well enough to validate and rewrite it: statement count and type, every table
 * reference (with its position and whether it names a CTE in scope), and every table function. node-sql-parser
 * first; where it cannot parse a query, the engine's own parser; where neither can, INVALID_SQL with the position.
 */
export async function analyzeQuery(sql: string, engine: EngineAnalyzer | undefined): Promise<QueryShape> {
  const body = explainPrefix(sql);
  if (body !== undefined) {
    const inner = await analyzeQuery(sql.slice(body), engine);
    if (inner.explain)
      throw new LakegateError('FORBIDDEN_STATEMENT', 'EXPLAIN may appear only once, in front of a query.');
    return { ...shift(inner, body), explain: true };
  }
  const parsed = tryNodeSqlParser(sql);
  if ('shape' in parsed) return parsed.shape;
  if (!engine) {
    const at = lineAndColumn(sql, parsed.error.offset);
    throw new LakegateError(
      'INVALID_SQL',
      `Syntax error at line ${at.line}, column ${at.column}: ${parsed.error.message}.`,
      {
        details: at,
      },
    );
  }
  const analysis = await engine(sql);
  return {
    statementCount: analysis.statementCount,
    statementType: analysis.statementType,
    explain: false,
    parser: 'engine',
    tables: analysis.tables.map((t) => {
      // A reference that cannot be located cannot be checked or rewritten: refuse rather than pass it through.
      if (t.position === undefined) {
        throw new LakegateError(
          'UNSUPPORTED_QUERY',
          `The reference to "${t.name}" could not be located in the query text.`,
        );
      }
      return { position: t.position, cte: t.cte === true, aliased: t.alias !== undefined };
    }),
    tableFunctions: analysis.tableFunctions.map((f) => ({ name: f.name, position: f.position })),
  };
}
