import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { DatasetSnapshot, TableBinding } from '@lakegate/engine-api';

export interface InstanceLimits {
  readonly threads: number;
  readonly memoryLimit: string;
}

const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;
const quoteString = (text: string): string => `'${text.replaceAll("'", "''")}'`;

/** The DuckDB table expression that reads a snapshot's files. */
export function scanExpression(snapshot: DatasetSnapshot): string {
  const files = `[${snapshot.files.map((f) => quoteString(f.path)).join(', ')}]`;
  switch (snapshot.format) {
    case 'parquet':
      return `read_parquet(${files}, union_by_name = true)`;
    case 'csv':
      return `read_csv(${files}, header = true, union_by_name = true)`;
    case 'tsv':
      return `read_csv(${files}, header = true, delim = '\t', union_by_name = true)`;
    case 'ndjson':
      return `read_json(${files}, format = 'newline_delimited', union_by_name = true)`;
  }
}

/**
 * One DuckDB instance for one tenant. DuckDB's security settings are instance-wide, so isolation is by
 * instance: file access is limited to the tenant's directories and the configuration is locked before any
 * tenant SQL runs.
 */
export class TenantInstance {
  readonly tenant: string;
  readonly directories: readonly string[];
  #instance: DuckDBInstance;
  #admin: DuckDBConnection;
  /** View name → snapshot version it currently reads. */
  #views = new Map<string, string>();
  /** Serialises catalog changes; queries never wait on it unless their own bindings changed. */
  #catalogLock: Promise<void> = Promise.resolve();
  lastUsed = Date.now();
  active = 0;

  private constructor(
    tenant: string,
    directories: readonly string[],
    instance: DuckDBInstance,
    admin: DuckDBConnection,
  ) {
    this.tenant = tenant;
    this.directories = directories;
    this.#instance = instance;
    this.#admin = admin;
  }

  static async open(tenant: string, directories: readonly string[], limits: InstanceLimits): Promise<TenantInstance> {
    const instance = await DuckDBInstance.create(':memory:', {
      threads: String(limits.threads),
      memory_limit: limits.memoryLimit,
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
    });
    const admin = await instance.connect();
    try {
      const allowed = directories.map((d) => quoteString(d.endsWith('/') ? d : `${d}/`)).join(', ');
      // Order matters: allowed_directories must be set while external access is still on, and the lock last.
      await admin.run(`SET allowed_directories = [${allowed}]`);
      await admin.run('SET enable_external_access = false');
      await admin.run('SET lock_configuration = true');
    } catch (error) {
      admin.closeSync();
      instance.closeSync();
      throw error;
    }
    return new TenantInstance(tenant, directories, instance, admin);
  }

  /** Makes each binding's name read its snapshot. Unchanged bindings cost a map lookup. */
  async bind(tables: readonly TableBinding[]): Promise<void> {
    const stale = tables.filter((t) => this.#views.get(t.name) !== t.snapshot.version);
    if (stale.length === 0) return;
    const run = this.#catalogLock.then(async () => {
      for (const { name, snapshot } of stale) {
        if (this.#views.get(name) === snapshot.version) continue;
        if (snapshot.files.length === 0) {
          await this.#admin.run(`DROP VIEW IF EXISTS ${quoteIdent(name)}`);
        } else {
          await this.#admin.run(
            `CREATE OR REPLACE VIEW ${quoteIdent(name)} AS SELECT * FROM ${scanExpression(snapshot)}`,
          );
        }
        this.#views.set(name, snapshot.version);
      }
    });
    this.#catalogLock = run.catch(() => undefined);
    await run;
  }

  connect(): Promise<DuckDBConnection> {
    return this.#instance.connect();
  }

  close(): void {
    this.#admin.closeSync();
    this.#instance.closeSync();
  }
}
