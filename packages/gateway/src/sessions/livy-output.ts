import type { ColumnType } from '@lakegate/engine-api';

/** The Spark SQL type name Livy clients expect for a column (its `schema.fields[].type`). */
export function sparkType(type: ColumnType): string {
  switch (type.kind) {
    case 'boolean':
      return 'boolean';
    case 'integer':
      return /TINYINT/i.test(type.sqlType) ? 'byte' : /SMALLINT/i.test(type.sqlType) ? 'short' : 'integer';
    case 'bigint':
      return /HUGEINT|UBIGINT/i.test(type.sqlType) ? 'decimal(38,0)' : 'long';
    case 'float':
      return /FLOAT|REAL/i.test(type.sqlType) && !/DOUBLE/i.test(type.sqlType) ? 'float' : 'double';
    case 'decimal': {
      const match = /\((\d+)\s*,\s*(\d+)\)/.exec(type.sqlType);
      return match ? `decimal(${match[1]},${match[2]})` : 'decimal(18,3)';
    }
    case 'date':
      return 'date';
    case 'timestamp':
    case 'timestamptz':
      return 'timestamp';
    case 'blob':
      return 'binary';
    case 'list':
      return `array<${type.element ? sparkType(type.element) : 'string'}>`;
    case 'struct':
      return `struct<${(type.fields ?? []).map((f) => `${f.name}:${sparkType(f.type)}`).join(',')}>`;
    case 'map':
      return `map<${type.key ? sparkType(type.key) : 'string'},${type.value ? sparkType(type.value) : 'string'}>`;
    default:
      return 'string';
  }
}
