import { isFilePathName, LakegateError, SAFE_TABLE_FUNCTIONS, SQL_TIME_VALUES } from '@lakegate/engine-api';
import { type Fingerprints, fingerprint } from './fingerprint.js';
import { analyzeQuery, type EngineAnalyzer } from './query-analysis.js';
import { tokenize } from './sql-lexer.js';

/** What the gateway knows of one tenant's namespace. */
export interface TenantNamespace {
  readonly tenant: string;
  /** The catalog that qualifies tenants as schemas, as Trino clients write it (`lakegate.<tenant>.<dataset>`). */
  readonly catalog: string;
  /** Dataset names as configured, with their row filters. */
  readonly datasets: Readonly<Record<string, { readonly rowFilter?: string | undefined }>>;
  /** Schemas the gateway serves itself (`information_schema`), with the tables in each. */
  readonly virtualSchemas: Readonly<Record<string, readonly string[]>>;
}

/** Schemas the gateway serves itself, beside the tenant's own. */
export const VIRTUAL_SCHEMAS = new Set(['information_schema']);

/**
 * Functions of the moment or of chance, in the dialects tenants write (DuckDB, PostgreSQL, Trino, ClickHouse): a
 * text naming one is not cached when no engine's parser read it. Only ever makes fewer results reusable.
 */
const VOLATILE_CALLS: ReadonlySet<string> = new Set([
  'now',
  'now64',
  'age',
  'today',
  'yesterday',
  'transaction_timestamp',
  'statement_timestamp',
  'clock_timestamp',
  'timeofday',
  'get_current_time',
  'get_current_timestamp',
  'random',
  'rand',
  'rand64',
  'randcanonical',
  'uuid',
  'uuidv4',
  'uuidv7',
  'gen_random_uuid',
  'generateuuidv4',
  'nextval',
  'currval',
]);

/**
 * Whether the text calls a function of {@link VOLATILE_CALLS} (its name, outside strings and quotes, before a
 * parenthesis: a column named `uuid` is not a call) or names one of SQL's values of the moment.
 */
function mentionsVolatile(sql: string): boolean {
  const tokens = tokenize(sql);
  return tokens.some((t, i) => {
    if (t.kind !== 'word') return false;
    const word = t.text.toLowerCase();
    return SQL_TIME_VALUES.has(word) || (VOLATILE_CALLS.has(word) && tokens[i + 1]?.text === '(');
  });
}

export interface PreparedQuery {
  /** False when it reads gateway-made tables (whose contents change): neither it nor its result is reused. */
  readonly cacheable: boolean;
  /**
   * It calls a function whose result changes between runs (`now()`, `random()`, `current_date`): its preparation
   * is reused, but never its result.
   */
  readonly volatile: boolean;
  /** The tenant's SQL exactly as written: engines decide on this text, and run it. */
  readonly sql: string;
  /** Datasets the query reads, as configured. */
  readonly datasets: readonly string[];
  /** Gateway-served tables the query reads (`information_schema.tables`, ...). */
  readonly virtualTables: readonly { readonly schema: string; readonly name: string }[];
  readonly fingerprint: Fingerprints;
  readonly statementType: string;
  readonly parser: string;
}

const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

function listDatasets(namespace: TenantNamespace): string {
  const names = Object.keys(namespace.datasets).sort((a, b) => a.localeCompare(b, 'en', { sensitivity: 'base' }));
  return names.length > 0 ? names.join(', ') : '(none)';
}

/**
 * Reads a tenant query for what the gateway must do before an engine runs it: which datasets to lease, which
 * virtual tables to build, and a clear refusal for what no engine would run. These decisions only ever narrow:
 * the engine decides on its own parse of the same text, and refuses whatever the gateway missed (a dataset not
 * leased is a table that does not exist for it). Nothing is rewritten: engines receive the text as written.
 */
export async function prepareTenantQuery(
  sql: string,
  namespace: TenantNamespace,
  engine: EngineAnalyzer | undefined,
): Promise<PreparedQuery> {
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

  const datasets = new Set<string>();
  const virtualTables = new Map<string, { schema: string; name: string }>();
  for (const table of shape.tables) {
    if (table.cte) continue;
    const qualifiers = table.qualifiers;
    const written = [...qualifiers, table.name].join('.');
    const [first = '', second = ''] = qualifiers;
    const catalogOk = qualifiers.length < 2 || same(first, namespace.catalog);
    const schema = qualifiers.length === 2 ? second : first;
    const virtual =
      qualifiers.length > 0 && qualifiers.length <= 2 && catalogOk
        ? Object.keys(namespace.virtualSchemas).find((s) => same(s, schema))
        : undefined;
    if (virtual !== undefined) {
      const name = namespace.virtualSchemas[virtual]?.find((t) => same(t, table.name));
      if (name === undefined)
        throw new LakegateError('UNKNOWN_TABLE', `Table ${virtual}.${table.name} does not exist.`);
      virtualTables.set(`${virtual}.${name}`, { schema: virtual, name });
      continue;
    }
    const inNamespace =
      qualifiers.length === 0 || (qualifiers.length <= 2 && catalogOk && same(schema, namespace.tenant));
    if (!inNamespace) {
      throw new LakegateError(
        'UNKNOWN_TABLE',
        `Table ${written} does not exist: name your datasets directly (or as ${namespace.tenant}.<dataset>). Your datasets: ${listDatasets(namespace)}.`,
      );
    }
    const dataset = Object.keys(namespace.datasets).find((d) => same(d, table.name));
    if (!dataset && qualifiers.length === 0 && isFilePathName(table.name)) {
      // DuckDB reads `FROM 'path/to/file.csv'` as a table: never here.
      throw new LakegateError(
        'FORBIDDEN_STATEMENT',
        'File paths are not allowed as tables: query your datasets by name.',
      );
    }
    if (!dataset) {
      throw new LakegateError(
        'UNKNOWN_TABLE',
        `Table ${written} does not exist. Your datasets: ${listDatasets(namespace)}.`,
      );
    }
    datasets.add(dataset);
  }

  return {
    cacheable: virtualTables.size === 0,
    volatile: shape.volatile ?? mentionsVolatile(sql),
    sql,
    datasets: [...datasets],
    virtualTables: [...virtualTables.values()],
    fingerprint: fingerprint(sql),
    statementType: shape.explain ? 'EXPLAIN' : 'SELECT',
    parser: shape.parser,
  };
}

/**
 * A query in an engine's own dialect that the gateway's parsers do not read (ClickHouse's `quantileExact(0.5)(x)`,
 * `GLOBAL IN`), over datasets an engine holds: the names of the tenant's `held` datasets found in its words decide
 * where it goes. This only routes: the engine that holds the tables is the authority on the text (for ClickHouse,
 * its own parser and the tenant's read-only user), and a query naming no held dataset is not taken this way.
 */
export function prepareHeldQuery(sql: string, held: readonly string[]): PreparedQuery | undefined {
  const tokens = tokenize(sql);
  const first = tokens.find((t) => t.kind === 'word' || t.text === '(');
  if (!first || !['select', 'with', '('].includes(first.text.toLowerCase())) return undefined;
  const datasets = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== 'word' && token.kind !== 'quoted') continue;
    const word = token.kind === 'quoted' ? token.text.slice(1, -1) : token.text;
    const dataset = held.find((d) => same(d, word));
    if (dataset) datasets.add(dataset);
  }
  if (datasets.size === 0) return undefined;
  return {
    cacheable: true,
    volatile: mentionsVolatile(sql),
    sql,
    datasets: [...datasets],
    virtualTables: [],
    fingerprint: fingerprint(sql),
    statementType: 'SELECT',
    parser: 'engine-dialect',
  };
}
