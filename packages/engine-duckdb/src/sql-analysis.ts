import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { abortError, LakegateError, type SqlAnalysis } from '@lakegate/engine-api';
import {
  byteIndexer,
  loadPolicyCatalog,
  type PolicyCatalog,
  parseOneSelect,
  type SerializedSql,
  type SqlParser,
  walkTree,
} from './sql-policy.js';

/** DuckDB's parser on `connection`: `json_serialize_sql` of the text, bound as a parameter (no quoting, no binding). */
export function parserOn(connection: DuckDBConnection): SqlParser {
  return async (sql) => {
    // The size is measured inside DuckDB: copying a tree of tens of megabytes into JavaScript alone would hold the
    // event loop for a tenth of a second. Reading and parsing the tree happens on the loop, so its size bounds the
    // time (4 MiB of JSON parses in ~20 ms).
    const reader = await connection.runAndReadAll(
      'SELECT CASE WHEN strlen(tree) <= $2 THEN tree END FROM (SELECT json_serialize_sql($1::VARCHAR) AS tree)',
      [sql, MAX_TREE_BYTES],
    );
    const tree = reader.getRows()[0]?.[0];
    if (typeof tree !== 'string') {
      throw new LakegateError(
        'REQUEST_TOO_LARGE',
        'The query is too large to check (its parse tree passes 4 MiB): split it into smaller queries.',
      );
    }
    return JSON.parse(tree) as SerializedSql;
  };
}

/** The largest parse tree read, as JSON text. Dashboard queries' trees are a few kilobytes. */
const MAX_TREE_BYTES = 4 * 1024 * 1024;

interface Analysis {
  readonly instance: DuckDBInstance;
  readonly connection: DuckDBConnection;
  readonly parse: SqlParser;
  readonly catalog: PolicyCatalog;
}

/**
 * DuckDB's parser for the gateway's analysis, and the policy catalog (what tenant SQL may call), taken from a
 * private instance that never runs tenant SQL: it only parses it, so its catalog stays pristine. No file access.
 */
export class SqlAnalyzer {
  #ready: Promise<Analysis> | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  #open(): Promise<Analysis> {
    this.#ready ??= (async () => {
      const instance = await DuckDBInstance.create(':memory:', {
        threads: '1',
        memory_limit: '256MB',
        autoinstall_known_extensions: 'false',
        autoload_known_extensions: 'false',
      });
      const connection = await instance.connect();
      await connection.run('SET enable_external_access = false');
      await connection.run('SET lock_configuration = true');
      const parse = parserOn(connection);
      const catalog = await loadPolicyCatalog(async (sql) => (await connection.runAndReadAll(sql)).getRows(), parse);
      return { instance, connection, parse, catalog };
    })();
    this.#ready.catch(() => {
      this.#ready = undefined;
    });
    return this.#ready;
  }

  /** What tenant SQL may call and name. */
  async catalog(): Promise<PolicyCatalog> {
    return (await this.#open()).catalog;
  }

  analyze(sql: string, signal: AbortSignal): Promise<SqlAnalysis> {
    // One parse at a time on the analysis connection; each takes well under a millisecond for dashboard SQL.
    const run = this.#queue.then(() => this.#analyze(sql, signal));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #analyze(sql: string, signal: AbortSignal): Promise<SqlAnalysis> {
    if (signal.aborted) throw abortError(signal);
    const { parse, catalog } = await this.#open();
    const { statement, body, explain } = await parseOneSelect(sql, parse);
    const references = walkTree(statement, catalog);
    const offset = sql.length - body.length;
    const toIndex = byteIndexer(body);
    const at = (bytes: number | undefined): { position?: number } =>
      bytes === undefined ? {} : { position: offset + toIndex(bytes) };
    return {
      statementCount: 1,
      statementType: explain ? 'EXPLAIN' : 'SELECT',
      tables: references.tables.map((t) => ({
        name: t.name,
        ...(t.schema ? { schema: t.schema } : {}),
        ...(t.catalog ? { catalog: t.catalog } : {}),
        ...at(t.position),
        cte: t.cte,
      })),
      tableFunctions: references.tableFunctions.map((f) => ({ name: f.name, ...at(f.position) })),
      ctes: [...references.ctes],
      volatile: references.volatile,
    };
  }

  async close(): Promise<void> {
    const ready = this.#ready;
    this.#ready = undefined;
    if (!ready) return;
    const { instance, connection } = await ready.catch(() => ({ instance: undefined, connection: undefined }));
    connection?.closeSync();
    instance?.closeSync();
  }
}
