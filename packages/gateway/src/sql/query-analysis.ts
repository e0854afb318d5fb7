import type { SqlAnalysis } from '@lakegate/engine-api';
import { LakegateError, lineAndColumn } from '@lakegate/engine-api';
import nodeSqlParser from 'node-sql-parser';
import { skipTrivia } from './sql-lexer.js';

/** A table reference in the SQL text, resolved against the CTEs in scope where it appears. */
export interface TableReference {
  readonly name: string;
  /** Catalog and schema written in front of the name, if any (`['lakegate', 'acme']`). */
  readonly qualifiers: readonly string[];
  /** True when it names a CTE visible where it appears: not a dataset. */
  readonly cte: boolean;
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
  /**
   * Whether the engine's parser found a call of a function whose result changes between runs (see
   * `SqlAnalysis.volatile`); undefined when node-sql-parser read the text.
   */
  readonly volatile?: boolean;
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
          const cte = !item.db && inner.has(item.table.toLowerCase());
          // Three-part names come as { catalog, schema }; two-part ones as { db }.
          const parts = typeof item.schema === 'string' ? [item.catalog ?? item.db, item.schema] : [item.db];
          const qualifiers = parts.filter((p): p is string => typeof p === 'string' && p !== '');
          tables.push({ name: item.table, qualifiers, cte });
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

/**
 * Texts longer than this are not given to node-sql-parser: it parses synchronously, on the event loop, and its
 * time grows faster than the text (a 900 KB expression took seconds). DuckDB's parser, off the loop, takes them.
 */
const NODE_SQL_PARSER_MAX_CHARS = 16_384;

/** Shifts positions of an analysis of `sql.slice(offset)` back into `sql`. */
function shift(shape: QueryShape, offset: number): QueryShape {
  return {
    ...shape,
    tableFunctions: shape.tableFunctions.map((f) => ({
      ...f,
      position: f.position === undefined ? undefined : f.position + offset,
    })),
  };
}

/**
 * Understands a tenant query well enough to lease what it reads and refuse early what no engine would run:
 * statement count and type, every table reference (with whether it names a CTE in scope), and every table
 * function. The engine's own parser (DuckDB's) when an engine offers one, on the exact text; node-sql-parser
 * otherwise, for short texts. Either way the engine that runs the query decides again on its own.
 */
export async function analyzeQuery(sql: string, engine: EngineAnalyzer | undefined): Promise<QueryShape> {
  if (engine) {
    const analysis = await engine(sql);
    return {
      statementCount: analysis.statementCount,
      statementType: analysis.statementType === 'EXPLAIN' ? 'SELECT' : analysis.statementType,
      explain: analysis.statementType === 'EXPLAIN',
      parser: 'engine',
      tables: analysis.tables.map((t) => ({
        name: t.name,
        qualifiers: [t.catalog, t.schema].filter((q): q is string => Boolean(q)),
        cte: t.cte === true,
      })),
      tableFunctions: analysis.tableFunctions.map((f) => ({ name: f.name, position: f.position })),
      volatile: analysis.volatile === true,
    };
  }
  if (sql.length > NODE_SQL_PARSER_MAX_CHARS) {
    throw new LakegateError(
      'UNSUPPORTED_QUERY',
      `Queries longer than ${NODE_SQL_PARSER_MAX_CHARS} characters need an engine that parses SQL itself (DuckDB).`,
    );
  }
  const body = explainPrefix(sql);
  if (body !== undefined) {
    const inner = await analyzeQuery(sql.slice(body), undefined);
    if (inner.explain)
      throw new LakegateError('FORBIDDEN_STATEMENT', 'EXPLAIN may appear only once, in front of a query.');
    return { ...shift(inner, body), explain: true };
  }
  const parsed = tryNodeSqlParser(sql);
  if ('shape' in parsed) return parsed.shape;
  const at = lineAndColumn(sql, parsed.error.offset);
  throw new LakegateError(
    'INVALID_SQL',
    `Syntax error at line ${at.line}, column ${at.column}: ${parsed.error.message}.`,
    {
      details: at,
    },
  );
}
