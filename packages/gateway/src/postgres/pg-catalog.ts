import type { Schema, VirtualTable } from '@lakegate/engine-api';
import { ARRAY_OID, OID, pgType } from './pg-types.js';

/**
 * The `pg_catalog` relations Postgres clients read to list schemas, tables and columns (psql's `\dt`, JDBC's
 * DatabaseMetaData, BI tools' table trees, the `postgres` package's `pg_type` read at connect), built from one
 * tenant's own catalog and nothing else: its schema, its datasets and their columns, and the built-in types.
 * They are constant tables the engine runs the clients' queries over, like `information_schema`.
 */

/** The relations of `pg_catalog` served, lower case. */
export const PG_CATALOG_TABLES: readonly string[] = [
  'pg_am',
  'pg_attrdef',
  'pg_attribute',
  'pg_class',
  'pg_constraint',
  'pg_database',
  'pg_description',
  'pg_index',
  'pg_inherits',
  'pg_namespace',
  'pg_roles',
  'pg_type',
];

/** Namespace OIDs: stable, and the tenant's schema has the one `public` has in Postgres. */
export const NAMESPACE_OID = { pg_catalog: 11, tenant: 2200, information_schema: 13_000 } as const;
/** The first dataset's `pg_class.oid`; the others follow in name order. */
const FIRST_TABLE_OID = 16_384;
const OWNER_OID = 10;

export interface PgCatalogSource {
  readonly tenant: string;
  /** The tenant's dataset names, sorted. */
  readonly datasets: readonly string[];
  /** A dataset's columns (empty when it cannot be described). */
  readonly columns: (dataset: string) => Promise<Schema>;
}

type Value = string | number | null;
type Kind = 'VARCHAR' | 'BIGINT' | 'BOOLEAN';

/** A constant table from `[name, type]` columns and rows. */
function table(
  name: string,
  columns: readonly (readonly [string, Kind])[],
  rows: readonly (readonly Value[])[],
): VirtualTable {
  return {
    schema: 'pg_catalog',
    name,
    columns: columns.map(([column, sqlType]) => ({ name: column, sqlType })),
    rows,
  };
}

const v = (name: string): readonly [string, Kind] => [name, 'VARCHAR'];
const n = (name: string): readonly [string, Kind] => [name, 'BIGINT'];
const b = (name: string): readonly [string, Kind] => [name, 'BOOLEAN'];

/** The built-in types clients look up, with their array types. */
const TYPES: readonly (readonly [string, number, number, string])[] = [
  // name, oid, typlen, category
  ['bool', OID.bool, 1, 'B'],
  ['bytea', OID.bytea, -1, 'U'],
  ['int8', OID.int8, 8, 'N'],
  ['int2', OID.int2, 2, 'N'],
  ['int4', OID.int4, 4, 'N'],
  ['text', OID.text, -1, 'S'],
  ['oid', OID.oid, 4, 'N'],
  ['json', OID.json, -1, 'U'],
  ['float4', OID.float4, 4, 'N'],
  ['float8', OID.float8, 8, 'N'],
  ['varchar', OID.varchar, -1, 'S'],
  ['date', OID.date, 4, 'D'],
  ['time', OID.time, 8, 'D'],
  ['timestamp', OID.timestamp, 8, 'D'],
  ['timestamptz', OID.timestamptz, 8, 'D'],
  ['interval', OID.interval, 16, 'T'],
  ['numeric', OID.numeric, -1, 'N'],
  ['uuid', OID.uuid, 16, 'U'],
];

function typeRows(): Value[][] {
  const rows: Value[][] = [];
  for (const [name, oid, length, category] of TYPES) {
    const array = ARRAY_OID[oid] ?? 0;
    rows.push([
      oid,
      name,
      NAMESPACE_OID.pg_catalog,
      OWNER_OID,
      length,
      'b',
      category,
      0,
      array,
      ',',
      0,
      'false',
      0,
      -1,
      0,
    ]);
    if (array) {
      rows.push([
        array,
        `_${name}`,
        NAMESPACE_OID.pg_catalog,
        OWNER_OID,
        -1,
        'b',
        'A',
        oid,
        0,
        ',',
        0,
        'false',
        0,
        -1,
        0,
      ]);
    }
  }
  return rows;
}

/** The `pg_catalog` relation `name`, as `tenant` sees it. */
export async function pgCatalogTable(name: string, source: PgCatalogSource): Promise<VirtualTable> {
  const { tenant, datasets } = source;
  const tableOid = (i: number): number => FIRST_TABLE_OID + i;
  switch (name) {
    case 'pg_namespace':
      return table(
        name,
        [n('oid'), v('nspname'), n('nspowner'), v('nspacl')],
        [
          [NAMESPACE_OID.pg_catalog, 'pg_catalog', OWNER_OID, null],
          [NAMESPACE_OID.tenant, tenant, OWNER_OID, null],
          [NAMESPACE_OID.information_schema, 'information_schema', OWNER_OID, null],
        ],
      );
    case 'pg_class':
      return table(
        name,
        [
          n('oid'),
          v('relname'),
          n('relnamespace'),
          n('reltype'),
          n('reloftype'),
          n('relowner'),
          n('relam'),
          n('reltablespace'),
          n('reltoastrelid'),
          b('relhasindex'),
          b('relisshared'),
          v('relpersistence'),
          v('relkind'),
          n('relnatts'),
          n('relchecks'),
          b('relhasrules'),
          b('relhastriggers'),
          b('relhassubclass'),
          b('relrowsecurity'),
          b('relforcerowsecurity'),
          b('relispopulated'),
          v('relreplident'),
          b('relispartition'),
          v('relacl'),
          v('reloptions'),
        ],
        await Promise.all(
          datasets.map(async (dataset, i) => [
            tableOid(i),
            dataset,
            NAMESPACE_OID.tenant,
            0,
            0,
            OWNER_OID,
            2,
            0,
            0,
            'false',
            'false',
            'p',
            'r',
            (await source.columns(dataset)).length,
            0,
            'false',
            'false',
            'false',
            'false',
            'false',
            'true',
            'd',
            'false',
            null,
            null,
          ]),
        ),
      );
    case 'pg_attribute': {
      const rows: Value[][] = [];
      for (const [i, dataset] of datasets.entries()) {
        (await source.columns(dataset)).forEach((column, index) => {
          const type = pgType(column.type);
          rows.push([
            tableOid(i),
            column.name,
            type.oid,
            type.size,
            index + 1,
            column.type.kind === 'list' ? 1 : 0,
            type.modifier,
            'false',
            'false',
            '',
            '',
            'false',
            'true',
            0,
            0,
            null,
          ]);
        });
      }
      return table(
        name,
        [
          n('attrelid'),
          v('attname'),
          n('atttypid'),
          n('attlen'),
          n('attnum'),
          n('attndims'),
          n('atttypmod'),
          b('attnotnull'),
          b('atthasdef'),
          v('attidentity'),
          v('attgenerated'),
          b('attisdropped'),
          b('attislocal'),
          n('attinhcount'),
          n('attcollation'),
          v('attacl'),
        ],
        rows,
      );
    }
    case 'pg_type':
      return table(
        name,
        [
          n('oid'),
          v('typname'),
          n('typnamespace'),
          n('typowner'),
          n('typlen'),
          v('typtype'),
          v('typcategory'),
          n('typelem'),
          n('typarray'),
          v('typdelim'),
          n('typrelid'),
          b('typnotnull'),
          n('typbasetype'),
          n('typtypmod'),
          n('typcollation'),
        ],
        typeRows(),
      );
    case 'pg_database':
      return table(
        name,
        [
          n('oid'),
          v('datname'),
          n('datdba'),
          n('encoding'),
          v('datlocprovider'),
          v('datcollate'),
          v('datctype'),
          v('daticulocale'),
          b('datistemplate'),
          b('datallowconn'),
          n('datconnlimit'),
          v('datacl'),
        ],
        [[16_383, 'lakegate', OWNER_OID, 6, 'c', 'C', 'C', null, 'false', 'true', -1, null]],
      );
    case 'pg_roles':
      return table(
        name,
        [
          n('oid'),
          v('rolname'),
          b('rolsuper'),
          b('rolinherit'),
          b('rolcreaterole'),
          b('rolcreatedb'),
          b('rolcanlogin'),
        ],
        [[OWNER_OID, tenant, 'false', 'true', 'false', 'false', 'true']],
      );
    case 'pg_am':
      return table(name, [n('oid'), v('amname'), v('amtype')], [[2, 'heap', 't']]);
    case 'pg_description':
      return table(name, [n('objoid'), n('classoid'), n('objsubid'), v('description')], []);
    case 'pg_index':
      return table(name, [n('indexrelid'), n('indrelid'), b('indisprimary'), b('indisunique')], []);
    case 'pg_constraint':
      return table(name, [n('oid'), v('conname'), n('conrelid'), v('contype')], []);
    case 'pg_inherits':
      return table(name, [n('inhrelid'), n('inhparent'), n('inhseqno')], []);
    default:
      return table(name, [n('oid'), n('adrelid'), n('adnum'), v('adbin')], []);
  }
}
