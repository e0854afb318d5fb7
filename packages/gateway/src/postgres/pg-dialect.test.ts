import { describe, expect, it } from 'vitest';
import { formatTypeSql } from './pg-catalog.js';
import { adaptPostgresSql } from './pg-dialect.js';

describe('Postgres dialect of catalog queries', () => {
  it('refuses at once catalog expressions nested so deep that their rewriting would double at each level', () => {
    const nested = (depth: number, wrap: (inner: string) => string) => {
      let text = '1';
      for (let i = 0; i < depth; i++) text = wrap(text);
      return `SELECT ${text}`;
    };
    for (const wrap of [(x: string) => `(${x})::regtype`, (x: string) => `format_type(${x}, NULL)`]) {
      expect(adaptPostgresSql(nested(8, wrap))).not.toContain('regtype');
      expect(() => adaptPostgresSql(nested(9, wrap))).toThrow(expect.objectContaining({ code: 'REQUEST_TOO_LARGE' }));
      expect(() => adaptPostgresSql(nested(18, wrap))).toThrow(expect.objectContaining({ code: 'REQUEST_TOO_LARGE' }));
    }
  });

  it('rewrites what psql writes into what the engine reads, with the same meaning', () => {
    expect(
      adaptPostgresSql(
        "SELECT pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c WHERE c.relname OPERATOR(pg_catalog.~) '^(ev.*)$' COLLATE pg_catalog.default AND n.nspname !~ '^pg_'",
      ),
    ).toBe(
      "SELECT (SELECT rolname FROM pg_catalog.pg_roles WHERE oid = (c.relowner)) FROM pg_catalog.pg_class c WHERE c.relname ~ '(?s).*(?:^(ev.*)$).*'  AND n.nspname !~ '(?s).*(?:^pg_).*'",
    );
    expect(
      adaptPostgresSql(
        "SELECT pg_catalog.pg_encoding_to_char(6), pg_catalog.array_to_string(x, ',') FROM pg_catalog.pg_database",
      ),
    ).toBe("SELECT 'UTF8', array_to_string(x, ',') FROM pg_catalog.pg_database");
  });

  it('reads pgjdbc’s regclass casts and default expressions', () => {
    expect(
      adaptPostgresSql(
        "SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_description d WHERE d.classoid = 'pg_class'::regclass",
      ),
    ).toBe(
      "SELECT CAST(NULL AS VARCHAR) FROM pg_catalog.pg_description d WHERE d.classoid = (SELECT oid FROM pg_catalog.pg_class WHERE relname = 'pg_class')",
    );
  });

  it('reads psql’s \\d: type names, catalog casts, ANY over arrays, definitions and set-returning aliases', () => {
    const adapted = adaptPostgresSql(
      "SELECT c.reloftype::pg_catalog.regtype::pg_catalog.text, pg_catalog.format_type(a.atttypid, a.atttypmod), 'd' = any(stxkind), CAST(x AS pg_catalog.text), s.oid::pg_catalog.oid, pg_catalog.pg_get_constraintdef(r.oid, true), pg_catalog.pg_relation_is_publishable('1'), pg_catalog.pg_table_size(c.oid) FROM pg_catalog.generate_series(0, pg_catalog.array_upper(p.a::pg_catalog.int2[], 1)) s",
    );
    expect(adapted).toContain(
      "(CASE WHEN (c.reloftype) IS NULL THEN NULL ELSE CASE (c.reloftype) WHEN 16 THEN 'boolean'",
    );
    expect(adapted).toContain("WHEN 1016 THEN 'bigint' || '[]'");
    expect(adapted).toMatch(/END END\)::text, \(CASE WHEN \(a\.atttypid\) IS NULL/);
    expect(adapted).toContain("WHEN 1700 THEN CASE WHEN (a.atttypmod) >= 4 THEN 'numeric(' ||");
    expect(adapted).toContain(
      "list_contains(stxkind, 'd'), CAST(x AS text), s.oid::BIGINT, CAST(NULL AS VARCHAR), false, CAST(NULL AS BIGINT) FROM generate_series(0, len(p.a::int2[])) s(s)",
    );
  });

  it('reads pg_catalog relations and functions named without their schema', () => {
    expect(
      adaptPostgresSql('SELECT c.relname, 1::regtype FROM pg_class c JOIN pg_namespace n ON true, pg_tables t'),
    ).toBe(
      `SELECT c.relname, ${formatTypeSql('1', 'NULL')} FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON true, pg_catalog.pg_tables t`,
    );
    expect(adaptPostgresSql('SELECT pg_class FROM events')).toBe('SELECT pg_class FROM events');
  });

  it('leaves texts that name no pg_ relation or function as they are', () => {
    const sql = "SELECT name ~ '^a', 'x'::VARCHAR FROM events WHERE regexp_matches(name, 'pg') AND x = ANY([1])";
    expect(adaptPostgresSql(sql)).toBe(sql);
  });
});
