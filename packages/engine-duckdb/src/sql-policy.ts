import {
  isFilePathName,
  LakegateError,
  lineAndColumn,
  SAFE_TABLE_FUNCTIONS,
  SQL_TIME_VALUES,
} from '@lakegate/engine-api';
import { quoteIdent } from './tenant-instance.js';

/**
 * The DuckDB engine's authority over tenant SQL. Every decision here is taken on the tree DuckDB's own parser
 * (`json_serialize_sql`) builds from the exact text that will run, and the text that runs is that text: tables
 * named with a qualifier, and the gateway's virtual tables, are edited in place at the positions the parser
 * reported, and the edited text is parsed again and must give the expected tree before it may run. Nothing here
 * lexes or pattern-matches SQL to allow it; a regex only chooses between refusing and the EXPLAIN path, whose body
 * is again DuckDB's parse. Every construct is allowed by name (node types, functions, table functions), so one
 * that DuckDB adds later is refused until it is reviewed.
 */

/** DuckDB's serialized parse, as `json_serialize_sql` returns it. */
export interface SerializedSql {
  readonly error: boolean;
  readonly error_type?: string;
  readonly error_message?: string;
  readonly position?: string | number;
  readonly statements?: readonly { readonly node: unknown }[];
}

/** Parses a text with DuckDB's parser (never binds or runs it). */
export type SqlParser = (sql: string) => Promise<SerializedSql>;

/** What the instance's catalog holds that tenant SQL may name: taken once from a pristine DuckDB instance. */
export interface PolicyCatalog {
  /** Built-in scalar, aggregate and macro functions a tenant may call (lower case). */
  readonly functions: ReadonlySet<string>;
  /** Every function DuckDB knows, allowed or not: a name outside it is a mistake, not an attempt. */
  readonly known: ReadonlySet<string>;
  /**
   * Names DuckDB binds as relations without a schema (system views and table functions that take no argument,
   * such as `duckdb_settings` or `pg_class`), lower case. A CTE may not take one of these names, so that a CTE
   * reference can never be bound to them instead.
   */
  readonly relations: ReadonlySet<string>;
  /**
   * Functions whose result may change from one run of a query to the next (DuckDB's stability other than
   * CONSISTENT: `now`, `random`, `current_date`, ...), and built-in macros over them, lower case.
   */
  readonly volatile: ReadonlySet<string>;
}

/**
 * Functions that read or change the instance's state, or reveal the host, the catalog or other sessions. Built-in
 * macros that read the catalog are left out by {@link loadPolicyCatalog} on their own.
 */
export const DENIED_FUNCTIONS: ReadonlySet<string> = new Set([
  'current_setting',
  'getenv',
  'getvariable',
  'setseed',
  'nextval',
  'currval',
  'write_log',
  'parse_duckdb_log_message',
  'current_database',
  'current_catalog',
  'current_schema',
  'current_schemas',
  'current_connection_id',
  'current_transaction_id',
  'current_query_id',
  'txid_current',
  'which_secret',
  'pg_sleep',
  'sleep_ms',
]);

/** Query node types: what a SELECT may be made of. */
const QUERY_NODES = new Set(['SELECT_NODE', 'SET_OPERATION_NODE', 'RECURSIVE_CTE_NODE', 'CTE_NODE']);
/** Table references other than base tables, table functions and SHOW (checked on their own). */
const TABLE_REFS = new Set(['SUBQUERY', 'JOIN', 'EXPRESSION_LIST', 'EMPTY', 'PIVOT']);
/**
 * Every table reference serializes DuckDB's TableRef fields (`type`, `alias`, `sample`), every query node its
 * QueryNode fields (`type`, `modifiers`, `cte_map`): a kind DuckDB adds later is recognised as one and refused.
 */
const isTableRef = (node: Node): boolean => typeof node.type === 'string' && 'alias' in node && 'sample' in node;
const isQueryNode = (node: Node): boolean => typeof node.type === 'string' && 'modifiers' in node && 'cte_map' in node;

/** `DESCRIBE <query>` and `SUMMARIZE <query>`; `SHOW TABLES`, `SHOW ALL TABLES` and the like read the catalog. */
const SHOW_TYPES = new Set(['DESCRIBE', 'SUMMARY']);

/** The names and constant tables one query may read: a tenant's namespace as the engine sees it. */
export interface PolicyNamespace {
  /** Dataset names (lower case) to whether they carry a row filter. */
  readonly datasets: ReadonlyMap<string, { readonly filtered: boolean }>;
  /** Qualifiers accepted in front of a dataset name, lower case. */
  readonly qualifiers: readonly (readonly string[])[];
  /** `<schema>.<name>` (lower case) of each virtual table, to the SQL query that produces it. */
  readonly virtualTables: ReadonlyMap<string, string>;
  /** Dataset names as configured, for messages. */
  readonly listing: readonly string[];
}

/** A tenant query the policy allows. */
export interface AllowedQuery {
  /** The exact text to run: the tenant's text, or it edited at parser-reported positions and parsed again. */
  readonly sql: string;
  readonly explain: boolean;
  /** Datasets read, lower case. */
  readonly datasets: ReadonlySet<string>;
}

/** What a tree reads, before any namespace is applied: the gateway's analysis. */
export interface TreeReferences {
  readonly tables: {
    readonly name: string;
    readonly schema: string;
    readonly catalog: string;
    readonly cte: boolean;
    readonly aliased: boolean;
    /** UTF-8 byte offset of the reference in the text parsed. */
    readonly position: number | undefined;
  }[];
  readonly tableFunctions: { readonly name: string; readonly position: number | undefined }[];
  readonly ctes: Set<string>;
  /** Subquery expressions (`(SELECT ...)`, `EXISTS`, `IN (SELECT ...)`). */
  subqueries: number;
  /**
   * A call of a function of {@link PolicyCatalog.volatile}, or a bare {@link SQL_TIME_VALUES} name (which DuckDB
   * binds to the current time when no column has it).
   */
  volatile: boolean;
}

interface Node {
  readonly [key: string]: unknown;
}

const isNode = (value: unknown): value is Node => typeof value === 'object' && value !== null;
const lower = (value: unknown): string => (typeof value === 'string' ? value.toLowerCase() : '');
/** DuckDB writes an unknown location as 2^64-1. */
const locationOf = (node: Node): number | undefined =>
  typeof node.query_location === 'number' && node.query_location < 2 ** 53 ? node.query_location : undefined;

/**
 * Converts UTF-8 byte offsets of one text into JavaScript string indexes. The text is encoded once, and offsets
 * asked in increasing order (as a tree walk reports them) decode only the bytes between them.
 */
export function byteIndexer(text: string): (bytes: number) => number {
  const encoded = Buffer.from(text, 'utf8');
  let lastBytes = 0;
  let lastIndex = 0;
  return (bytes) => {
    const at = Math.max(0, Math.min(bytes, encoded.length));
    if (at < lastBytes) {
      lastBytes = 0;
      lastIndex = 0;
    }
    lastIndex += encoded.toString('utf8', lastBytes, at).length;
    lastBytes = at;
    return lastIndex;
  };
}

function refuse(message: string, code: 'FORBIDDEN_STATEMENT' | 'UNSUPPORTED_QUERY' = 'FORBIDDEN_STATEMENT'): never {
  throw new LakegateError(code, message);
}

/**
 * Walks a statement's tree: every node must be of an allowed kind and every function allowed; collects table
 * references with the CTE names in scope where each appears. A CTE sees the CTEs defined before it (and itself
 * when recursive); the query body sees all of them.
 */
export function walkTree(statement: unknown, catalog: PolicyCatalog): TreeReferences {
  const references: TreeReferences = {
    tables: [],
    tableFunctions: [],
    ctes: new Set(),
    subqueries: 0,
    volatile: false,
  };
  const visit = (value: unknown, scope: ReadonlySet<string>): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item, scope);
      return;
    }
    if (!isNode(value)) return;
    let inner = scope;
    const cteMap = (value.cte_map as { map?: { key: unknown; value: unknown }[] } | undefined)?.map;
    if (cteMap && cteMap.length > 0) {
      const names = new Set(scope);
      for (const entry of cteMap) {
        const name = lower(entry.key);
        // A CTE named like a system relation could be bound to that relation wherever the scopes seen here and
        // DuckDB's binder might differ; with this rule such a difference can only ever reach the tenant's data.
        if (catalog.relations.has(name)) {
          refuse(`A CTE may not be named "${String(entry.key)}": DuckDB has a relation of that name.`);
        }
        visit(entry.value, names);
        names.add(name);
        references.ctes.add(name);
      }
      inner = names;
    }
    // A recursive CTE's own name is in scope inside its body.
    const selfName = value.cte_name ?? value.ctename;
    if ((value.type === 'RECURSIVE_CTE_NODE' || value.type === 'CTE_NODE') && typeof selfName === 'string') {
      const names = new Set(inner);
      names.add(selfName.toLowerCase());
      inner = names;
    }
    if (typeof value.class === 'string') {
      if (value.class === 'FUNCTION') {
        checkFunction(value, catalog);
        if (catalog.volatile.has(lower(value.function_name))) references.volatile = true;
      }
      if (value.class === 'SUBQUERY') references.subqueries++;
      if (value.class === 'COLUMN_REF') {
        const names = value.column_names;
        if (Array.isArray(names) && names.length === 1 && SQL_TIME_VALUES.has(lower(names[0])))
          references.volatile = true;
      }
    } else if (isTableRef(value)) {
      const type = String(value.type);
      if (type === 'BASE_TABLE') {
        if (value.at_clause !== null && value.at_clause !== undefined) refuse('Time travel (AT ...) is not allowed.');
        const name = lower(value.table_name);
        const schema = lower(value.schema_name);
        const catalogName = lower(value.catalog_name);
        references.tables.push({
          name,
          schema,
          catalog: catalogName,
          cte: !schema && !catalogName && inner.has(name),
          aliased: typeof value.alias === 'string' && value.alias !== '',
          position: locationOf(value),
        });
      } else if (type === 'TABLE_FUNCTION') {
        const fn = isNode(value.function) ? value.function : {};
        const name = lower(fn.function_name);
        if (!SAFE_TABLE_FUNCTIONS.has(name) || lower(fn.schema) || lower(fn.catalog)) {
          refuse(`Table function ${String(fn.function_name)}() is not allowed: query your datasets by name.`);
        }
        references.tableFunctions.push({ name, position: locationOf(value) });
        // The arguments are expressions like any other; the function itself was judged here.
        visit(fn.children, inner);
        for (const [key, child] of Object.entries(value)) if (key !== 'function') visit(child, inner);
        return;
      } else if (type === 'SHOW_REF') {
        if (!SHOW_TYPES.has(String(value.show_type)) || !isNode(value.query) || value.table_name) {
          refuse('SHOW statements are not allowed here: list your datasets with GET /v1/datasets.');
        }
      } else if (!TABLE_REFS.has(type)) {
        refuse(`This query uses ${type.toLowerCase().replaceAll('_', ' ')}, which is not allowed here.`);
      }
    } else if (isQueryNode(value) && !QUERY_NODES.has(String(value.type))) {
      refuse(`This query uses ${String(value.type).toLowerCase().replaceAll('_', ' ')}, which is not allowed here.`);
    }
    for (const [key, child] of Object.entries(value)) {
      if (key !== 'cte_map') visit(child, inner);
    }
  };
  visit(statement, new Set());
  return references;
}

function checkFunction(node: Node, catalog: PolicyCatalog): void {
  const name = lower(node.function_name);
  const schema = lower(node.schema);
  const catalogName = lower(node.catalog);
  const qualified = (catalogName === '' || catalogName === 'system') && ['', 'main', 'pg_catalog'].includes(schema);
  if (qualified && catalog.functions.has(name)) return;
  if (qualified && !catalog.known.has(name)) {
    throw new LakegateError('INVALID_SQL', `Function ${String(node.function_name)}() does not exist.`);
  }
  refuse(`Function ${String(node.function_name)}() is not allowed.`);
}

/** Turns a parse that failed into the tenant's error, with the position converted to line and column. */
function parseFailure(sql: string, serialized: SerializedSql): LakegateError {
  const bytes = Number(serialized.position ?? 0);
  const at = lineAndColumn(sql, byteIndexer(sql)(Number.isFinite(bytes) ? bytes : 0));
  const message = (serialized.error_message ?? 'invalid SQL').replace(/\s+$/, '');
  return new LakegateError('INVALID_SQL', `Syntax error at line ${at.line}, column ${at.column}: ${message}`, {
    details: at,
  });
}

/** Characters DuckDB's C interface cannot carry faithfully: they would make what runs differ from what was read. */
export function assertWellFormed(sql: string): void {
  const nul = sql.indexOf('\0');
  if (nul >= 0) {
    const at = lineAndColumn(sql, nul);
    throw new LakegateError(
      'INVALID_SQL',
      `The query contains a NUL character at line ${at.line}, column ${at.column}: remove it.`,
      { details: at },
    );
  }
  const lone = LONE_SURROGATE.exec(sql);
  if (lone) {
    const at = lineAndColumn(sql, lone.index);
    throw new LakegateError(
      'INVALID_SQL',
      `The query contains an unpaired UTF-16 surrogate at line ${at.line}, column ${at.column}: send valid Unicode.`,
      { details: at },
    );
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const EXPLAIN = /^\s*explain(\s+analyze)?\s/i;

/** The first word of a statement, for messages only. */
function keyword(sql: string): string {
  return (/^[\s(]*([A-Za-z_]+)/.exec(sql)?.[1] ?? 'This').toUpperCase();
}

/**
 * Parses the text and returns its one SELECT statement's tree, or explains what else it is. Handles
 * `EXPLAIN [ANALYZE] <select>`: the body is parsed on its own and must be one SELECT.
 */
export async function parseOneSelect(
  sql: string,
  parse: SqlParser,
): Promise<{ readonly statement: unknown; readonly body: string; readonly explain: string }> {
  assertWellFormed(sql);
  const serialized = await parse(sql);
  if (serialized.error) {
    if (serialized.error_type === 'parser') throw parseFailure(sql, serialized);
    const explain = EXPLAIN.exec(sql);
    if (explain) {
      const body = sql.slice(explain[0].length);
      const inner = await parse(body);
      if (inner.error) {
        if (inner.error_type === 'parser') throw parseFailure(sql, inner);
        refuse('Only EXPLAIN of a single query is allowed.');
      }
      if ((inner.statements ?? []).length !== 1) refuse('Only EXPLAIN of a single query is allowed.');
      return {
        statement: inner.statements?.[0],
        body,
        explain: explain[1] ? 'EXPLAIN ANALYZE ' : 'EXPLAIN ',
      };
    }
    refuse(
      `${keyword(sql)} statements are not allowed: only queries (SELECT, WITH, VALUES, FROM, DESCRIBE, SUMMARIZE, EXPLAIN) run here.`,
    );
  }
  const statements = serialized.statements ?? [];
  if (statements.length === 0) throw new LakegateError('INVALID_SQL', 'The query is empty.');
  if (statements.length > 1) refuse(`Send exactly one statement; this text holds ${statements.length}.`);
  return { statement: statements[0], body: sql, explain: '' };
}

/** Reads the extent of a (possibly qualified, quoted) name that starts at `start`: identifiers joined by dots. */
function nameExtent(text: string, start: number): number | undefined {
  let i = start;
  const skipSpace = (): void => {
    while (i < text.length && /\s/.test(text.charAt(i))) i++;
  };
  for (;;) {
    if (text.charAt(i) === '"') {
      i++;
      for (;;) {
        const close = text.indexOf('"', i);
        if (close < 0) return undefined;
        i = close + 1;
        if (text.charAt(i) !== '"') break;
        i++;
      }
    } else {
      const match = /^[\p{L}_][\p{L}\p{N}_$]*/u.exec(text.slice(i, i + 1024));
      if (!match) return undefined;
      i += match[0].length;
    }
    const end = i;
    skipSpace();
    if (text.charAt(i) !== '.') return end;
    i++;
    skipSpace();
  }
}

/** The tree without positions, for comparing two parses. */
const shape = (tree: unknown): string =>
  JSON.stringify(tree, (key, value: unknown) => (key === 'query_location' ? undefined : value));

interface Edit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/**
 * Decides what a tenant query may do, from DuckDB's parse of the exact text, and returns the text to run.
 * Refuses (FORBIDDEN_STATEMENT, UNKNOWN_TABLE, INVALID_SQL) everything but one read-only query over the
 * namespace's datasets, its virtual tables, CTEs in scope and allowed generators.
 */
export async function allowTenantQuery(
  sql: string,
  namespace: PolicyNamespace,
  catalog: PolicyCatalog,
  parse: SqlParser,
): Promise<AllowedQuery> {
  const { statement, body, explain } = await parseOneSelect(sql, parse);
  const first = resolve(body, statement, namespace, catalog);
  if (explain && [...first.datasets].some((d) => namespace.datasets.get(d)?.filtered)) {
    // A plan shows the predicates it applies, the row filter among them.
    refuse('EXPLAIN is not available for queries that read a row-filtered dataset.');
  }
  if (first.edits.length === 0) return { sql: explain + body, explain: explain !== '', datasets: first.datasets };

  const edited = applyEdits(body, first.edits);
  const reparsed = await parse(edited);
  const again = reparsed.statements;
  // What runs must be exactly what was allowed: the edited text's own parse needs no further edit, reads the same
  // datasets, and has the tree the edits were meant to produce.
  const second = !reparsed.error && again?.length === 1 ? resolve(edited, again[0], namespace, catalog) : undefined;
  const expected = second ? await expectedTree(statement, first.replacements, parse) : undefined;
  if (
    !second ||
    second.edits.length > 0 ||
    !sameList([...second.datasets].sort(), [...first.datasets].sort()) ||
    shape(expected) !== shape(again?.[0])
  ) {
    refuse(
      'This query could not be rewritten for the engine: name your datasets without a qualifier.',
      'UNSUPPORTED_QUERY',
    );
  }
  return { sql: explain + edited, explain: explain !== '', datasets: second.datasets };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

interface Resolution {
  readonly datasets: Set<string>;
  readonly edits: Edit[];
  /** Table nodes to replace, by position, with the tree each edit should parse to. */
  readonly replacements: Map<number, { readonly dataset?: string; readonly subquery?: string; readonly alias: string }>;
}

function listDatasets(namespace: PolicyNamespace): string {
  return namespace.listing.length > 0 ? namespace.listing.join(', ') : '(none)';
}

function resolve(text: string, statement: unknown, namespace: PolicyNamespace, catalog: PolicyCatalog): Resolution {
  const references = walkTree(statement, catalog);
  const toIndex = byteIndexer(text);
  const datasets = new Set<string>();
  const edits: Edit[] = [];
  const replacements: Resolution['replacements'] = new Map();
  for (const table of references.tables) {
    if (table.cte) continue;
    const qualifier = [table.catalog, table.schema].filter(Boolean);
    const written = [...qualifier, table.name].join('.');
    // A virtual table is named `<schema>.<name>`, or behind the catalog of a two-part qualifier.
    const catalogOk = !table.catalog || namespace.qualifiers.some((q) => q.length === 2 && q[0] === table.catalog);
    const virtual =
      table.schema && catalogOk ? namespace.virtualTables.get(`${table.schema}.${table.name}`) : undefined;
    const inNamespace = qualifier.length === 0 || namespace.qualifiers.some((q) => sameList(q, qualifier));
    if (virtual === undefined && !inNamespace) {
      throw new LakegateError(
        'UNKNOWN_TABLE',
        `Table ${written} does not exist: name your datasets directly. Your datasets: ${listDatasets(namespace)}.`,
      );
    }
    if (virtual === undefined && qualifier.length === 0 && isFilePathName(table.name)) {
      refuse('File paths are not allowed as tables: query your datasets by name.');
    }
    if (virtual === undefined && !namespace.datasets.has(table.name)) {
      throw new LakegateError(
        'UNKNOWN_TABLE',
        `Table ${written} does not exist. Your datasets: ${listDatasets(namespace)}.`,
      );
    }
    if (virtual === undefined) datasets.add(table.name);
    if (qualifier.length === 0) continue;
    // A qualified name is edited into the plain one (or the virtual table's query) at the parser's position.
    if (table.position === undefined)
      refuse('A table reference could not be located in the query text.', 'UNSUPPORTED_QUERY');
    const start = toIndex(table.position);
    const end = nameExtent(text, start);
    if (end === undefined) refuse('A table reference could not be located in the query text.', 'UNSUPPORTED_QUERY');
    const replacement =
      virtual === undefined ? { dataset: table.name, alias: table.name } : { subquery: virtual, alias: table.name };
    replacements.set(table.position, replacement);
    // A subquery needs a name for its columns to be qualified by: the table's own, unless the tenant gave one.
    const alias = table.aliased ? '' : ` AS ${quoteIdent(table.name)}`;
    edits.push({ start, end, text: virtual === undefined ? quoteIdent(table.name) : `(${virtual})${alias}` });
  }
  return { datasets, edits, replacements };
}

function applyEdits(text: string, edits: readonly Edit[]): string {
  let out = text;
  for (const edit of [...edits].sort((a, b) => b.start - a.start)) {
    out = out.slice(0, edit.start) + edit.text + out.slice(edit.end);
  }
  return out;
}

/** The original tree with each edited table node replaced by what its edit should parse to. */
async function expectedTree(
  statement: unknown,
  replacements: Resolution['replacements'],
  parse: SqlParser,
): Promise<unknown> {
  const subqueries = new Map<string, unknown>();
  for (const { subquery } of replacements.values()) {
    if (subquery === undefined || subqueries.has(subquery)) continue;
    const parsed = await parse(`SELECT * FROM (${subquery})`);
    const node = (parsed.statements?.[0]?.node as Node | undefined)?.from_table as Node | undefined;
    subqueries.set(subquery, node);
  }
  const rebuild = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rebuild);
    if (!isNode(value)) return value;
    const location = locationOf(value);
    const replacement = value.type === 'BASE_TABLE' && location !== undefined ? replacements.get(location) : undefined;
    if (replacement?.dataset !== undefined) {
      return { ...value, schema_name: '', catalog_name: '', table_name: replacement.dataset };
    }
    if (replacement?.subquery !== undefined) {
      const node = subqueries.get(replacement.subquery) as Node;
      return {
        ...node,
        alias: value.alias || replacement.alias,
        column_name_alias: value.column_name_alias,
        sample: value.sample,
      };
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rebuild(v)]));
  };
  return rebuild(statement);
}

/** Reads what tenant SQL may call from a pristine instance: `query` runs SQL there and returns its rows. */
export async function loadPolicyCatalog(
  query: (sql: string) => Promise<readonly (readonly unknown[])[]>,
  parse: SqlParser,
): Promise<PolicyCatalog> {
  const functions = new Set<string>();
  const known = new Set<string>();
  for (const [name] of await query('SELECT DISTINCT function_name FROM duckdb_functions()')) {
    known.add(String(name).toLowerCase());
  }
  for (const name of DENIED_FUNCTIONS) known.add(name);
  const macros = new Map<string, string>();
  for (const [name, type, definition] of await query(
    `SELECT function_name, function_type, macro_definition FROM duckdb_functions()
     WHERE internal AND function_type IN ('scalar', 'aggregate', 'macro')`,
  )) {
    const lowered = String(name).toLowerCase();
    if (DENIED_FUNCTIONS.has(lowered)) continue;
    if (type === 'macro') macros.set(lowered, String(definition ?? ''));
    else functions.add(lowered);
  }
  // `unnest` in an expression (also what `x = ANY(list)` turns into) spreads a list over rows, like the table
  // function of the same name: DuckDB lists it only as a table function.
  functions.add('unnest');
  // `age(ts)` with one argument reads the current date, though DuckDB lists it as consistent.
  const volatile = new Set([...SQL_TIME_VALUES, 'age']);
  for (const [name] of await query(
    `SELECT DISTINCT function_name FROM duckdb_functions() WHERE coalesce(stability, 'CONSISTENT') <> 'CONSISTENT'`,
  )) {
    volatile.add(String(name).toLowerCase());
  }
  const relations = new Set<string>();
  for (const [name] of await query(
    `SELECT view_name FROM duckdb_views() UNION ALL SELECT table_name FROM duckdb_tables()
     UNION ALL SELECT function_name FROM duckdb_functions() WHERE function_type IN ('table', 'table_macro')`,
  )) {
    relations.add(String(name).toLowerCase());
  }
  // A built-in macro is allowed when its body is an expression of allowed functions reading no relation
  // (`pg_get_viewdef` and friends read the catalog); macros calling macros settle over a few rounds.
  const pending = new Map(macros);
  for (let changed = true; changed; ) {
    changed = false;
    for (const [name, definition] of pending) {
      const parsed = await parse(`SELECT ${definition}`);
      if (parsed.error || parsed.statements?.length !== 1) {
        pending.delete(name);
        continue;
      }
      try {
        const references = walkTree(parsed.statements[0], { functions, known, relations, volatile });
        if (references.tables.length > 0 || references.tableFunctions.length > 0 || references.subqueries > 0) {
          // It reads a relation: never allowed, however the rounds go.
          pending.delete(name);
          continue;
        }
        functions.add(name);
        // A macro over a function of changing results changes with it.
        if (references.volatile) volatile.add(name);
        pending.delete(name);
        changed = true;
      } catch {
        // It may call a macro not yet allowed: try again next round.
      }
    }
  }
  return { functions, known, relations, volatile };
}

/** Throws unless a prepared statement's type (DuckDB's own) is what the policy allowed. */
export function assertStatementType(actual: string, explain: boolean): void {
  const expected = explain ? 'EXPLAIN' : 'SELECT';
  if (actual !== expected) {
    refuse(`${actual} statements are not allowed: only SELECT queries (and EXPLAIN of one) run here.`);
  }
}
