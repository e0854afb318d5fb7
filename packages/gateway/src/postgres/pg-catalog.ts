import type { Schema, VirtualTable } from '@lakegate/engine-api';
import { defaults } from './pg-settings.js';
import { ARRAY_OID, OID, pgType } from './pg-types.js';

/**
 * The `pg_catalog` relations Postgres clients read to list schemas, tables and columns (psql's `\dt`, JDBC's
 * DatabaseMetaData, BI tools' table trees, the `postgres` package's `pg_type` read at connect), built from one
 * tenant's own catalog and nothing else: its schema, its datasets and their columns, and the built-in types.
 * They are constant tables the engine runs the clients' queries over, like `information_schema`.
 */

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
type Kind = 'VARCHAR' | 'BIGINT' | 'BOOLEAN' | 'BIGINT[]' | 'VARCHAR[]';

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
const list = (name: string): readonly [string, Kind] => [name, 'BIGINT[]'];
const chars = (name: string): readonly [string, Kind] => [name, 'VARCHAR[]'];

/**
 * Relations that hold nothing for a tenant (no functions, collations, policies, triggers, publications, extended
 * statistics, views, sequences, ...), with the columns clients read from them, so their queries answer no rows
 * rather than fail. Postgres has rows in some (built-in functions, collations); no client needs them to list tables.
 */
const EMPTY: Readonly<Record<string, readonly (readonly [string, Kind])[]>> = {
  pg_attrdef: [n('oid'), n('adrelid'), n('adnum'), v('adbin')],
  pg_auth_members: [n('oid'), n('roleid'), n('member'), n('grantor'), b('admin_option')],
  pg_collation: [
    n('oid'),
    v('collname'),
    n('collnamespace'),
    n('collowner'),
    v('collprovider'),
    b('collisdeterministic'),
    n('collencoding'),
    v('collcollate'),
    v('collctype'),
  ],
  pg_constraint: [
    n('oid'),
    v('conname'),
    n('connamespace'),
    v('contype'),
    b('condeferrable'),
    b('condeferred'),
    b('convalidated'),
    n('conrelid'),
    n('contypid'),
    n('conindid'),
    n('conparentid'),
    n('confrelid'),
    v('confupdtype'),
    v('confdeltype'),
    v('confmatchtype'),
    b('conislocal'),
    n('coninhcount'),
    b('connoinherit'),
    list('conkey'),
    list('confkey'),
    v('conbin'),
  ],
  pg_description: [n('objoid'), n('classoid'), n('objsubid'), v('description')],
  pg_event_trigger: [n('oid'), v('evtname'), v('evtevent'), n('evtowner'), n('evtfoid'), v('evtenabled')],
  pg_extension: [n('oid'), v('extname'), n('extowner'), n('extnamespace'), b('extrelocatable'), v('extversion')],
  pg_foreign_table: [n('ftrelid'), n('ftserver'), v('ftoptions')],
  pg_index: [
    n('indexrelid'),
    n('indrelid'),
    n('indnatts'),
    n('indnkeyatts'),
    b('indisunique'),
    b('indisprimary'),
    b('indisexclusion'),
    b('indimmediate'),
    b('indisclustered'),
    b('indisvalid'),
    b('indisreplident'),
    list('indkey'),
    v('indexprs'),
    v('indpred'),
  ],
  pg_indexes: [v('schemaname'), v('tablename'), v('indexname'), v('tablespace'), v('indexdef')],
  pg_inherits: [n('inhrelid'), n('inhparent'), n('inhseqno'), b('inhdetachpending')],
  pg_matviews: [
    v('schemaname'),
    v('matviewname'),
    v('matviewowner'),
    v('tablespace'),
    b('hasindexes'),
    b('ispopulated'),
    v('definition'),
  ],
  pg_partitioned_table: [n('partrelid'), v('partstrat'), n('partnatts'), n('partdefid'), list('partattrs')],
  pg_policy: [
    n('oid'),
    v('polname'),
    n('polrelid'),
    v('polcmd'),
    b('polpermissive'),
    list('polroles'),
    v('polqual'),
    v('polwithcheck'),
  ],
  pg_proc: [
    n('oid'),
    v('proname'),
    n('pronamespace'),
    n('proowner'),
    n('prolang'),
    v('prokind'),
    b('proretset'),
    n('prorettype'),
    n('pronargs'),
    v('proargtypes'),
    v('proargnames'),
    v('prosrc'),
  ],
  pg_publication: [
    n('oid'),
    v('pubname'),
    n('pubowner'),
    b('puballtables'),
    b('pubinsert'),
    b('pubupdate'),
    b('pubdelete'),
    b('pubtruncate'),
    b('pubviaroot'),
  ],
  pg_publication_namespace: [n('oid'), n('pnpubid'), n('pnnspid')],
  pg_publication_rel: [n('oid'), n('prpubid'), n('prrelid'), v('prqual'), list('prattrs')],
  pg_rewrite: [n('oid'), v('rulename'), n('ev_class'), v('ev_type'), v('ev_enabled'), b('is_instead')],
  pg_sequence: [
    n('seqrelid'),
    n('seqtypid'),
    n('seqstart'),
    n('seqincrement'),
    n('seqmax'),
    n('seqmin'),
    n('seqcache'),
    b('seqcycle'),
  ],
  pg_sequences: [v('schemaname'), v('sequencename'), v('sequenceowner')],
  pg_statistic_ext: [
    n('oid'),
    n('stxrelid'),
    v('stxname'),
    n('stxnamespace'),
    n('stxowner'),
    n('stxstattarget'),
    list('stxkeys'),
    chars('stxkind'),
    v('stxexprs'),
  ],
  pg_trigger: [
    n('oid'),
    n('tgrelid'),
    n('tgparentid'),
    v('tgname'),
    n('tgfoid'),
    n('tgtype'),
    v('tgenabled'),
    b('tgisinternal'),
    n('tgconstrrelid'),
    n('tgconstrindid'),
    n('tgconstraint'),
    b('tgdeferrable'),
    b('tginitdeferred'),
    n('tgnargs'),
  ],
  pg_views: [v('schemaname'), v('viewname'), v('viewowner'), v('definition')],
};

/** The relations of `pg_catalog` served, lower case. */
export const PG_CATALOG_TABLES: readonly string[] = [
  'pg_am',
  'pg_attribute',
  'pg_class',
  'pg_database',
  'pg_namespace',
  'pg_roles',
  'pg_settings',
  'pg_tables',
  'pg_tablespace',
  'pg_type',
  ...Object.keys(EMPTY),
].sort();

/** The built-in types clients look up, with their array types. */
const TYPES: readonly (readonly [string, number, number, string, string])[] = [
  // name, oid, typlen, category, name as format_type() writes it
  ['bool', OID.bool, 1, 'B', 'boolean'],
  ['bytea', OID.bytea, -1, 'U', 'bytea'],
  ['int8', OID.int8, 8, 'N', 'bigint'],
  ['int2', OID.int2, 2, 'N', 'smallint'],
  ['int4', OID.int4, 4, 'N', 'integer'],
  ['text', OID.text, -1, 'S', 'text'],
  ['oid', OID.oid, 4, 'N', 'oid'],
  ['json', OID.json, -1, 'U', 'json'],
  ['float4', OID.float4, 4, 'N', 'real'],
  ['float8', OID.float8, 8, 'N', 'double precision'],
  ['varchar', OID.varchar, -1, 'S', 'character varying'],
  ['date', OID.date, 4, 'D', 'date'],
  ['time', OID.time, 8, 'D', 'time without time zone'],
  ['timestamp', OID.timestamp, 8, 'D', 'timestamp without time zone'],
  ['timestamptz', OID.timestamptz, 8, 'D', 'timestamp with time zone'],
  ['interval', OID.interval, 16, 'T', 'interval'],
  ['numeric', OID.numeric, -1, 'N', 'numeric'],
  ['uuid', OID.uuid, 16, 'U', 'uuid'],
];

/**
 * SQL for `format_type(oid, typmod)`: a type's name as Postgres writes it (`integer`, `numeric(18,3)`,
 * `character varying(20)`, `text[]`), from the SQL of its two arguments; `???` for a type not served.
 */
export function formatTypeSql(oid: string, modifier: string): string {
  const withLength = (name: string, mod: string): string =>
    `CASE WHEN ${mod} >= 4 THEN '${name}(' || ((${mod}) - 4) || ')' ELSE '${name}' END`;
  const numeric = (mod: string): string =>
    `CASE WHEN ${mod} >= 4 THEN 'numeric(' || (((${mod}) - 4) >> 16) || ',' || (((${mod}) - 4) & 65535) || ')' ELSE 'numeric' END`;
  const mod = `(${modifier})`;
  const name = (typeOid: number, display: string): string =>
    typeOid === OID.numeric ? numeric(mod) : typeOid === OID.varchar ? withLength(display, mod) : `'${display}'`;
  const cases = TYPES.flatMap(([, typeOid, , , display]) => {
    const array = ARRAY_OID[typeOid];
    return [
      `WHEN ${typeOid} THEN ${name(typeOid, display)}`,
      ...(array ? [`WHEN ${array} THEN ${name(typeOid, display)} || '[]'`] : []),
    ];
  });
  return `(CASE WHEN (${oid}) IS NULL THEN NULL ELSE CASE (${oid}) ${cases.join(' ')} ELSE '???' END END)`;
}

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
          chars('reloptions'),
          v('relpartbound'),
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
            'p',
            '',
            -1,
            null,
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
          v('attstorage'),
          v('attcompression'),
          n('attstattarget'),
          chars('attoptions'),
          chars('attfdwoptions'),
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
          n('dattablespace'),
        ],
        [[16_383, 'lakegate', OWNER_OID, 6, 'c', 'C', 'C', null, 'false', 'true', -1, null, 1663]],
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
          b('rolreplication'),
          n('rolconnlimit'),
          v('rolvaliduntil'),
          b('rolbypassrls'),
          chars('rolconfig'),
        ],
        [[OWNER_OID, tenant, 'false', 'true', 'false', 'false', 'true', 'false', -1, null, 'false', null]],
      );
    case 'pg_am':
      return table(name, [n('oid'), v('amname'), v('amtype')], [[2, 'heap', 't']]);
    case 'pg_settings':
      return table(
        name,
        [v('name'), v('setting'), v('unit'), v('category'), v('short_desc'), v('context'), v('vartype'), v('source')],
        [...defaults(tenant)].map(([setting, value]) => [
          setting,
          value,
          null,
          'Client Connection Defaults',
          '',
          'user',
          'string',
          'default',
        ]),
      );
    case 'pg_tablespace':
      return table(
        name,
        [n('oid'), v('spcname'), n('spcowner'), v('spcacl'), v('spcoptions')],
        [[1663, 'pg_default', OWNER_OID, null, null]],
      );
    case 'pg_tables':
      return table(
        name,
        [
          v('schemaname'),
          v('tablename'),
          v('tableowner'),
          v('tablespace'),
          b('hasindexes'),
          b('hasrules'),
          b('hastriggers'),
          b('rowsecurity'),
        ],
        datasets.map((dataset) => [tenant, dataset, tenant, null, 'false', 'false', 'false', 'false']),
      );
    default:
      return table(name, EMPTY[name] ?? [], []);
  }
}
