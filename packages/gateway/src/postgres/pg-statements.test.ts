import { describe, expect, it } from 'vitest';
import { classifyStatement, parameterCount, splitStatements } from './pg-statements.js';

describe('Postgres statements', () => {
  it('splits a simple query at semicolons outside strings, identifiers, dollar quotes and comments', () => {
    expect(splitStatements('SELECT \';\' AS a; SELECT "x;y" FROM t -- c;\n; SELECT $$;$$ /* ; */;  ;')).toEqual([
      "SELECT ';' AS a",
      'SELECT "x;y" FROM t -- c;',
      'SELECT $$;$$ /* ; */',
    ]);
    expect(splitStatements(' ; -- nothing\n')).toEqual([]);
  });

  it('counts parameters by their highest number, outside strings', () => {
    expect(parameterCount("SELECT $2, '$3', $1")).toBe(2);
  });

  it('reads the session chatter drivers send, and leaves everything else to the engine', () => {
    expect(classifyStatement('BEGIN READ ONLY')).toEqual({ kind: 'begin' });
    expect(classifyStatement('start transaction')).toEqual({ kind: 'begin' });
    expect(classifyStatement('COMMIT')).toEqual({ kind: 'commit' });
    expect(classifyStatement("SET application_name = 'x'")).toEqual({
      kind: 'set',
      name: 'application_name',
      value: 'x',
    });
    expect(classifyStatement('SET SESSION extra_float_digits TO 3')).toEqual({
      kind: 'set',
      name: 'extra_float_digits',
      value: '3',
    });
    expect(classifyStatement("SET TIME ZONE 'UTC'")).toEqual({ kind: 'set', name: 'timezone', value: 'UTC' });
    expect(classifyStatement('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY')).toEqual({
      kind: 'set-transaction',
    });
    expect(classifyStatement('SHOW TRANSACTION ISOLATION LEVEL')).toEqual({
      kind: 'show',
      name: 'transaction_isolation',
    });
    expect(classifyStatement('DECLARE c1 NO SCROLL CURSOR WITH HOLD FOR SELECT 1')).toEqual({
      kind: 'declare',
      name: 'c1',
      sql: 'SELECT 1',
      hold: true,
    });
    expect(classifyStatement('FETCH FORWARD 100 FROM c1')).toEqual({
      kind: 'fetch',
      name: 'c1',
      count: 100,
      move: false,
    });
    expect(classifyStatement('select current_user, version() as v')).toEqual({
      kind: 'function-select',
      items: [
        { fn: 'current_user', alias: 'current_user' },
        { fn: 'version', alias: 'v' },
      ],
    });
    expect(classifyStatement("SELECT current_setting('search_path'), current_setting('x.y', true) AS y")).toEqual({
      kind: 'function-select',
      items: [
        { fn: 'current_setting', alias: 'current_setting', setting: { name: 'search_path', missingOk: false } },
        { fn: 'current_setting', alias: 'y', setting: { name: 'x.y', missingOk: true } },
      ],
    });
    expect(classifyStatement('SELECT current_setting(name) FROM events').kind).toBe('query');
    expect(classifyStatement('SELECT version() FROM events').kind).toBe('query');
    expect(classifyStatement('SET x = (SELECT 1)').kind).toBe('set');
    expect(classifyStatement('COPY ( SELECT 1 AS a ) TO STDOUT with (format csv, header)')).toEqual({
      kind: 'copy-out',
      sql: 'SELECT 1 AS a',
      csv: true,
      header: true,
    });
    expect(classifyStatement('COPY events (id, name) TO STDOUT')).toEqual({
      kind: 'copy-out',
      sql: 'SELECT id, name FROM events',
      csv: false,
      header: false,
    });
    // Writes and files are the engine's to refuse.
    expect(classifyStatement('COPY events FROM STDIN').kind).toBe('query');
    expect(classifyStatement("COPY (SELECT 1) TO '/tmp/x'").kind).toBe('query');
  });
});
