import { describe, expect, it } from 'vitest';
import { adaptPostgresSql } from './pg-dialect.js';

describe('Postgres dialect of catalog queries', () => {
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

  it('leaves texts that do not name pg_catalog as they are', () => {
    const sql = "SELECT name ~ '^a' FROM events WHERE pg_get_userbyid(1) = 'x'";
    expect(adaptPostgresSql(sql)).toBe(sql);
  });
});
