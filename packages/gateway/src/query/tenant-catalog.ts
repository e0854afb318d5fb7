import { type ColumnType, isLakegateError, type Schema, type VirtualTable } from '@lakegate/engine-api';
import type { Storage } from '@lakegate/storage';
import type { GatewayConfig } from '../config/config.js';
import { PG_CATALOG_TABLES, pgCatalogTable } from '../postgres/pg-catalog.js';
import type { TenantNamespace } from '../sql/tenant-query.js';

/** Lakegate's catalog name, as BI tools qualify tables: `lakegate.<tenant>.<dataset>`. */
export const CATALOG = 'lakegate';

/** The tables of `information_schema` the gateway serves. */
const INFORMATION_SCHEMA_TABLES: readonly string[] = ['columns', 'schemata', 'tables'];

export interface TenantCatalogDeps {
  readonly config: GatewayConfig;
  readonly storage: Storage;
  /** Reads a dataset's columns as an engine sees its current snapshot (a query with no rows). */
  readonly probe: (
    tenant: string,
    dataset: string,
    signal: AbortSignal,
  ) => Promise<{ schema: Schema; version?: string }>;
  /** A column type's name in `information_schema.columns.data_type` (the protocols' common spelling). */
  readonly typeName: (type: ColumnType) => string;
}

/** A constant table of VARCHAR columns (BIGINT where `bigint` names them). */
function virtualTable(
  schema: string,
  name: string,
  columns: readonly string[],
  rows: readonly (readonly (string | number | null)[])[],
  bigint: readonly string[] = [],
): VirtualTable {
  return {
    schema,
    name,
    columns: columns.map((c) => ({ name: c, sqlType: bigint.includes(c) ? 'BIGINT' : 'VARCHAR' })),
    rows,
  };
}

/**
 * What a tenant can see of its own catalog: its namespace (datasets, row filters, the schemas the gateway serves),
 * each dataset's columns, and the tables of `information_schema`, which list the tenant's datasets and nothing
 * else. Every protocol's catalog answers (information_schema on /v1/query, Trino's SHOW and DESCRIBE) come from here.
 */
export class TenantCatalog {
  readonly #deps: TenantCatalogDeps;
  readonly #namespaces = new Map<string, TenantNamespace>();
  /** Columns by `tenant/dataset@version`: one entry per dataset, replaced when a new version is read. */
  readonly #schemas = new Map<string, Schema>();

  constructor(deps: TenantCatalogDeps) {
    this.#deps = deps;
  }

  /** Forgets namespaces and columns read so far (the configuration changed). */
  forget(): void {
    this.#namespaces.clear();
    this.#schemas.clear();
  }

  namespace(tenant: string): TenantNamespace {
    let namespace = this.#namespaces.get(tenant);
    if (!namespace) {
      const config = this.#deps.config.tenants[tenant];
      const all = { ...config?.datasets, ...config?.engineTables };
      namespace = {
        tenant,
        catalog: CATALOG,
        datasets: Object.fromEntries(Object.entries(all).map(([name, d]) => [name, { rowFilter: d.rowFilter }])),
        virtualSchemas: { information_schema: INFORMATION_SCHEMA_TABLES, pg_catalog: PG_CATALOG_TABLES },
      };
      this.#namespaces.set(tenant, namespace);
    }
    return namespace;
  }

  /** The tenant's dataset names (of files and held by engines), sorted. */
  datasets(tenant: string): string[] {
    const config = this.#deps.config.tenants[tenant];
    return [...Object.keys(config?.datasets ?? {}), ...Object.keys(config?.engineTables ?? {})].sort();
  }

  /** A dataset's columns, as an engine reads its current snapshot (cached per snapshot version). */
  async columns(tenant: string, dataset: string, signal: AbortSignal): Promise<Schema> {
    // Only datasets of files have versions; an engine's table is described afresh each time.
    const current = this.#deps.storage.describe(tenant).find((d) => d.name === dataset)?.version;
    const cached = current ? this.#schemas.get(`${tenant}/${dataset}@${current}`) : undefined;
    if (cached) return cached;
    const { schema, version } = await this.#deps.probe(tenant, dataset, signal);
    if (version) {
      for (const key of this.#schemas.keys()) if (key.startsWith(`${tenant}/${dataset}@`)) this.#schemas.delete(key);
      this.#schemas.set(`${tenant}/${dataset}@${version}`, schema);
    }
    return schema;
  }

  /**
   * The gateway-served tables a query reads (`information_schema`, and `pg_catalog` for Postgres clients), built
   * for `tenant` from its own catalog, reading columns under `signal`.
   */
  virtualTables(
    tenant: string,
    tables: readonly { readonly schema: string; readonly name: string }[],
    signal: AbortSignal,
  ): Promise<VirtualTable[]> {
    return Promise.all(
      tables.map((t) =>
        t.schema === 'pg_catalog'
          ? pgCatalogTable(t.name, {
              tenant,
              datasets: this.datasets(tenant),
              columns: (dataset) => this.#describable(tenant, dataset, signal),
            })
          : this.#informationSchema(tenant, t.name, signal),
      ),
    );
  }

  /**
   * A dataset's columns for a listing: a dataset that cannot be described (empty, unreadable) has none; a
   * refusal, an outage or a timeout that a retry may clear is the answer instead of a listing silently missing them.
   */
  #describable(tenant: string, dataset: string, signal: AbortSignal): Promise<Schema> {
    return this.columns(tenant, dataset, signal).catch((error: unknown) => {
      if (isLakegateError(error) && (error.kind === 'user' || error.code === 'ENGINE_FAILURE')) return [] as Schema;
      throw error;
    });
  }

  async #informationSchema(tenant: string, name: string, signal: AbortSignal): Promise<VirtualTable> {
    const datasets = this.datasets(tenant);
    const schema = 'information_schema';
    switch (name) {
      case 'schemata':
        return virtualTable(
          schema,
          name,
          ['catalog_name', 'schema_name'],
          [
            [CATALOG, 'information_schema'],
            [CATALOG, tenant],
          ],
        );
      case 'tables':
        return virtualTable(
          schema,
          name,
          ['table_catalog', 'table_schema', 'table_name', 'table_type'],
          [
            ...datasets.map((d) => [CATALOG, tenant, d, 'BASE TABLE']),
            ...INFORMATION_SCHEMA_TABLES.map((v) => [CATALOG, 'information_schema', v, 'BASE TABLE']),
          ],
        );
      default: {
        const rows: (string | number | null)[][] = [];
        for (const dataset of datasets) {
          const columns = await this.#describable(tenant, dataset, signal);
          columns.forEach((c, i) => {
            rows.push([CATALOG, tenant, dataset, c.name, i + 1, null, 'YES', this.#deps.typeName(c.type)]);
          });
        }
        return virtualTable(
          schema,
          name,
          [
            'table_catalog',
            'table_schema',
            'table_name',
            'column_name',
            'ordinal_position',
            'column_default',
            'is_nullable',
            'data_type',
          ],
          rows,
          ['ordinal_position'],
        );
      }
    }
  }
}
