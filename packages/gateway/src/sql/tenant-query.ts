import { LakegateError, SAFE_TABLE_FUNCTIONS } from '@lakegate/engine-api';
import { type Fingerprints, fingerprint } from './fingerprint.js';
import { analyzeQuery, type EngineAnalyzer } from './query-analysis.js';
import { type NamePart, quoteIdentifier, readQualifiedName, tokenize } from './sql-lexer.js';

/** What the gateway knows of one tenant's namespace. */
export interface TenantNamespace {
  readonly tenant: string;
  /** The catalog that qualifies tenants as schemas, as Trino clients write it (`lakegate.<tenant>.<dataset>`). */
  readonly catalog: string;
  /** Dataset names as configured, with their row filters. */
  readonly datasets: Readonly<Record<string, { readonly rowFilter?: string | undefined }>>;
  /** The name the engine binds a dataset's snapshot under. */
  physicalName(dataset: string): string;
  /**
   * Tables the gateway answers itself, such as `information_schema.tables`: a SQL subquery (VALUES) for a
   * qualified name, or undefined when there is no such table.
   */
  virtualTable?(schema: string, name: string): Promise<string | undefined>;
}

/** Schemas the gateway serves itself, beside the tenant's own. */
export const VIRTUAL_SCHEMAS = new Set(['information_schema']);

export interface PreparedQuery {
  /** False when the query read gateway-made tables (whose contents change): do not reuse it. */
  readonly cacheable: boolean;
  /** The tenant's SQL with each dataset reference spliced to its physical name (and row filter); nothing else changed. */
  readonly sql: string;
  /** Datasets the query reads, with the name each is bound under. */
  readonly datasets: readonly { readonly name: string; readonly physical: string }[];
  readonly fingerprint: Fingerprints;
  readonly statementType: string;
  readonly parser: string;
}

const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

function listDatasets(namespace: TenantNamespace): string {
  const names = Object.keys(namespace.datasets).sort((a, b) => a.localeCompare(b, 'en', { sensitivity: 'base' }));
  return names.length > 0 ? names.join(', ') : '(none)';
}

/** The subquery for `information_schema.<table>` (optionally `<catalog>.` in front), if the namespace serves it. */
async function virtualReference(parts: readonly NamePart[], namespace: TenantNamespace): Promise<string | undefined> {
  if (!namespace.virtualTable || parts.length < 2) return undefined;
  const [schema, name] = parts.slice(-2).map((p) => p.value.toLowerCase());
  const catalog = parts.length === 3 ? (parts[0]?.value ?? '') : namespace.catalog;
  if (parts.length > 3 || !same(catalog, namespace.catalog) || !schema || !name || !VIRTUAL_SCHEMAS.has(schema)) {
    return undefined;
  }
  const subquery = await namespace.virtualTable(schema, name);
  if (subquery === undefined) {
    throw new LakegateError('UNKNOWN_TABLE', `Table ${schema}.${name} does not exist.`);
  }
  return subquery;
}

/** Resolves a written name to one of the tenant's datasets, or explains why it is not one. */
function resolveDataset(parts: readonly NamePart[], namespace: TenantNamespace): string {
  const written = parts.map((p) => (p.quoted ? quoteIdentifier(p.value) : p.value)).join('.');
  const name = parts.at(-1)?.value ?? '';
  const qualifiers = parts.slice(0, -1).map((p) => p.value);
  const inNamespace =
    qualifiers.length === 0 ||
    (qualifiers.length === 1 && same(qualifiers[0] ?? '', namespace.tenant)) ||
    (qualifiers.length === 2 &&
      same(qualifiers[0] ?? '', namespace.catalog) &&
      same(qualifiers[1] ?? '', namespace.tenant));
  if (!inNamespace) {
    throw new LakegateError(
      'UNKNOWN_TABLE',
      `Table ${written} does not exist: name your datasets directly (or as ${namespace.tenant}.<dataset>). Your datasets: ${listDatasets(namespace)}.`,
    );
  }
  const dataset = Object.keys(namespace.datasets).find((d) => same(d, name));
  if (!dataset) {
    throw new LakegateError(
      'UNKNOWN_TABLE',
      `Table ${written} does not exist. Your datasets: ${listDatasets(namespace)}.`,
    );
  }
  return dataset;
}

/**
 * Validates a tenant's SQL and rewrites it for the engine. Exactly one read statement (SELECT, WITH, VALUES, or
 * EXPLAIN of one); every table a CTE in scope or one of the tenant's datasets; no table function beyond a few
 * generators; no file path. The rewrite splices: each dataset reference is replaced, at the position the parser
 * reported, by its physical name (or by a subquery applying its row filter), and every other character stays
 * the user's.
 */
export async function prepareTenantQuery(
  sql: string,
  namespace: TenantNamespace,
  engine: EngineAnalyzer | undefined,
): Promise<PreparedQuery> {
  if (tokenize(sql).every((t) => t.text === ';')) throw new LakegateError('INVALID_SQL', 'The query is empty.');
  const shape = await analyzeQuery(sql, engine);
  if (shape.statementCount === 0) throw new LakegateError('INVALID_SQL', 'The query is empty.');
  if (shape.statementCount > 1) {
    throw new LakegateError(
      'FORBIDDEN_STATEMENT',
      `Send exactly one statement; this text holds ${shape.statementCount}.`,
    );
  }
  if (shape.statementType !== 'SELECT') {
    throw new LakegateError(
      'FORBIDDEN_STATEMENT',
      `${shape.statementType} statements are not allowed: only queries (SELECT, WITH, VALUES, EXPLAIN) run here.`,
    );
  }
  for (const fn of shape.tableFunctions) {
    if (!SAFE_TABLE_FUNCTIONS.has(fn.name.toLowerCase())) {
      throw new LakegateError(
        'FORBIDDEN_STATEMENT',
        `Table function ${fn.name}() is not allowed: query your datasets by name. Your datasets: ${listDatasets(namespace)}.`,
      );
    }
  }

  const edits: { start: number; end: number; text: string }[] = [];
  const used = new Map<string, string>();
  let cacheable = true;
  for (const table of shape.tables) {
    if (table.cte) continue;
    const name = readQualifiedName(sql, table.position);
    if (!name) {
      // DuckDB reads `FROM 'path/to/file.csv'` as a table: never here.
      throw new LakegateError(
        'FORBIDDEN_STATEMENT',
        `File paths are not allowed as tables: query your datasets by name.`,
      );
    }
    const virtual = await virtualReference(name.parts, namespace);
    if (virtual !== undefined) {
      cacheable = false;
      const alias = table.aliased ? '' : ` AS ${quoteIdentifier(name.parts.at(-1)?.value ?? 'virtual')}`;
      edits.push({ start: name.start, end: name.end, text: `(${virtual})${alias}` });
      continue;
    }
    const dataset = resolveDataset(name.parts, namespace);
    const physical = namespace.physicalName(dataset);
    used.set(dataset, physical);
    const filter = namespace.datasets[dataset]?.rowFilter;
    // Identifiers match case-insensitively: a plain reference to the physical name is left exactly as written.
    if (!filter && name.parts.length === 1 && same(name.parts[0]?.value ?? '', physical)) continue;
    const replacement = filter
      ? `(SELECT * FROM ${quoteIdentifier(physical)} WHERE (${filter}))${table.aliased ? '' : ` AS ${quoteIdentifier(name.parts.at(-1)?.value ?? dataset)}`}`
      : quoteIdentifier(physical);
    edits.push({ start: name.start, end: name.end, text: replacement });
  }
  edits.sort((a, b) => b.start - a.start);
  let rewritten = sql;
  for (const edit of edits) rewritten = rewritten.slice(0, edit.start) + edit.text + rewritten.slice(edit.end);

  return {
    cacheable,
    sql: rewritten,
    datasets: [...used].map(([name, physical]) => ({ name, physical })),
    fingerprint: fingerprint(sql),
    statementType: shape.explain ? 'EXPLAIN' : 'SELECT',
    parser: shape.parser,
  };
}
