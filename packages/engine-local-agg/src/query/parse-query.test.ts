import { isLakegateError, type LakegateError } from '@lakegate/engine-api';
import { describe, expect, it } from 'vitest';
import type { Aggregate, AggregateQuery, BucketExpr, ColumnRef, Literal, Predicate } from './aggregate-query.js';
import { parseLocalQuery } from './parse-query.js';

const col = (name: string): ColumnRef => ({ kind: 'column', name });
const lit = (value: Literal['value']): Literal => ({ kind: 'literal', value });
const bucket = (column: string, widthMicros: number): BucketExpr => ({ kind: 'bucket', column, widthMicros });
const countStar: Aggregate = { kind: 'aggregate', fn: 'count' };
const MINUTE = 60_000_000;
const HOUR = 60 * MINUTE;

function errorOf(sql: string): LakegateError {
  try {
    parseLocalQuery(sql);
  } catch (error) {
    if (isLakegateError(error)) return error;
    throw error;
  }
  throw new Error(`expected an error for: ${sql}`);
}

function aggregateQuery(sql: string): AggregateQuery {
  const query = parseLocalQuery(sql);
  if (query.shape !== 'aggregate') throw new Error(`expected an aggregate query for: ${sql}`);
  return query;
}

const where = (sql: string): Predicate | undefined => parseLocalQuery(`SELECT * FROM t WHERE ${sql}`).where;

describe('scans', () => {
  it('parses SELECT * with LIMIT and a trailing semicolon', () => {
    expect(parseLocalQuery('SELECT * FROM events LIMIT 10;')).toEqual({
      shape: 'scan',
      table: 'events',
      qualifiers: [],
      columns: '*',
      limit: 10,
    });
  });

  it('parses columns with AS and bare aliases, lower-casing names', () => {
    expect(parseLocalQuery('select Verb, BYTES as B, ts When_ FROM Events')).toEqual({
      shape: 'scan',
      table: 'events',
      qualifiers: [],
      columns: [
        { expr: col('verb'), name: 'verb', aliased: false },
        { expr: col('bytes'), name: 'b', aliased: true },
        { expr: col('ts'), name: 'when_', aliased: true },
      ],
    });
  });

  it('takes the last part of a qualified table and accepts columns qualified by its alias or name', () => {
    expect(parseLocalQuery('SELECT e.verb, events.bytes FROM lake.main.Events AS e WHERE e.bytes > 0')).toEqual({
      shape: 'scan',
      table: 'events',
      qualifiers: ['lake', 'main'],
      columns: [
        { expr: col('verb'), name: 'verb', aliased: false },
        { expr: col('bytes'), name: 'bytes', aliased: false },
      ],
      where: { kind: 'compare', operand: col('bytes'), op: '>', value: lit(0) },
    });
    expect(parseLocalQuery('SELECT x.a FROM t x').shape).toBe('scan');
  });

  it('reads quoted identifiers and strings with doubled-quote escapes', () => {
    expect(parseLocalQuery(`SELECT "User ""Id""" FROM "My Table" WHERE "Name" = 'it''s'`)).toEqual({
      shape: 'scan',
      table: 'my table',
      qualifiers: [],
      columns: [{ expr: col('user "id"'), name: 'user "id"', aliased: false }],
      where: { kind: 'compare', operand: col('name'), op: '=', value: lit("it's") },
    });
  });

  it('ignores line and block comments, including ones holding quotes', () => {
    const sql = "-- what's this?\nSELECT /* all \n 'columns */ * FROM t -- trailing\nLIMIT /* n */ 3 -- end";
    expect(parseLocalQuery(sql)).toEqual({ shape: 'scan', table: 't', qualifiers: [], columns: '*', limit: 3 });
  });
});

describe('predicates', () => {
  it('binds NOT tighter than AND, and AND tighter than OR', () => {
    expect(where('a = 1 OR b = 2 AND NOT c = 3')).toEqual({
      kind: 'or',
      left: { kind: 'compare', operand: col('a'), op: '=', value: lit(1) },
      right: {
        kind: 'and',
        left: { kind: 'compare', operand: col('b'), op: '=', value: lit(2) },
        right: { kind: 'not', operand: { kind: 'compare', operand: col('c'), op: '=', value: lit(3) } },
      },
    });
  });

  it('applies NOT to the nearest condition only', () => {
    expect(where('NOT a = 1 AND NOT NOT b = 2')).toEqual({
      kind: 'and',
      left: { kind: 'not', operand: { kind: 'compare', operand: col('a'), op: '=', value: lit(1) } },
      right: {
        kind: 'not',
        operand: { kind: 'not', operand: { kind: 'compare', operand: col('b'), op: '=', value: lit(2) } },
      },
    });
  });

  it('lets parentheses override precedence and chains AND to the left', () => {
    expect(where('(a = 1 OR b = 2) AND c = 3 AND d = 4')).toEqual({
      kind: 'and',
      left: {
        kind: 'and',
        left: {
          kind: 'or',
          left: { kind: 'compare', operand: col('a'), op: '=', value: lit(1) },
          right: { kind: 'compare', operand: col('b'), op: '=', value: lit(2) },
        },
        right: { kind: 'compare', operand: col('c'), op: '=', value: lit(3) },
      },
      right: { kind: 'compare', operand: col('d'), op: '=', value: lit(4) },
    });
  });

  it('turns `literal op column` around and normalises != to <>', () => {
    expect(where('5 < x')).toEqual({ kind: 'compare', operand: col('x'), op: '>', value: lit(5) });
    expect(where('-5 >= x')).toEqual({ kind: 'compare', operand: col('x'), op: '<=', value: lit(-5) });
    expect(where("'a' <> x")).toEqual({ kind: 'compare', operand: col('x'), op: '<>', value: lit('a') });
    expect(where('x != 2')).toEqual({ kind: 'compare', operand: col('x'), op: '<>', value: lit(2) });
  });

  it('parses [NOT] IN, [NOT] BETWEEN, IS [NOT] NULL and [NOT] LIKE', () => {
    expect(where("v IN ('a', 'b') AND w NOT IN (1)")).toEqual({
      kind: 'and',
      left: { kind: 'in', operand: col('v'), values: [lit('a'), lit('b')], negated: false },
      right: { kind: 'in', operand: col('w'), values: [lit(1)], negated: true },
    });
    expect(where('x BETWEEN 1 AND 2.5')).toEqual({
      kind: 'between',
      operand: col('x'),
      low: lit(1),
      high: lit(2.5),
      negated: false,
    });
    expect(where('x NOT BETWEEN -1 AND 1')).toMatchObject({ kind: 'between', low: lit(-1), negated: true });
    expect(where('x IS NULL')).toEqual({ kind: 'is-null', operand: col('x'), negated: false });
    expect(where('x IS NOT NULL')).toEqual({ kind: 'is-null', operand: col('x'), negated: true });
    expect(where("p LIKE 'a%_'")).toEqual({ kind: 'like', operand: col('p'), pattern: 'a%_', negated: false });
    expect(where("p NOT LIKE 'x'")).toEqual({ kind: 'like', operand: col('p'), pattern: 'x', negated: true });
  });

  it('reads a bare column as a boolean test', () => {
    const isTrue = (name: string): Predicate => ({ kind: 'compare', operand: col(name), op: '=', value: lit(true) });
    expect(where('cached AND NOT (hit)')).toEqual({
      kind: 'and',
      left: isTrue('cached'),
      right: { kind: 'not', operand: isTrue('hit') },
    });
  });

  it('reads number, boolean, null and typed literals', () => {
    expect(where("a IN (1.5e3, .25, TRUE, false, NULL, 'x')")).toMatchObject({
      values: [lit(1500), lit(0.25), lit(true), lit(false), lit(null), lit('x')],
    });
    expect(where("ts >= TIMESTAMP '2024-01-01 10:00' AND d < DATE '2024-02-01'")).toEqual({
      kind: 'and',
      left: {
        kind: 'compare',
        operand: col('ts'),
        op: '>=',
        value: { kind: 'literal', value: '2024-01-01 10:00', typed: 'timestamp' },
      },
      right: {
        kind: 'compare',
        operand: col('d'),
        op: '<',
        value: { kind: 'literal', value: '2024-02-01', typed: 'date' },
      },
    });
  });

  it('treats `date` and `timestamp` as columns when no string follows', () => {
    expect(where("date = '2024-01-01'")).toEqual({
      kind: 'compare',
      operand: col('date'),
      op: '=',
      value: lit('2024-01-01'),
    });
  });

  it('accepts a bucket as an operand in WHERE', () => {
    expect(where("date_trunc('day', ts) = TIMESTAMP '2024-01-01'")).toEqual({
      kind: 'compare',
      operand: bucket('ts', 24 * HOUR),
      op: '=',
      value: { kind: 'literal', value: '2024-01-01', typed: 'timestamp' },
    });
  });
});

describe('aggregations', () => {
  it('parses a global aggregate with no GROUP BY and names it as DuckDB does', () => {
    expect(parseLocalQuery('SELECT count(*), SUM(Bytes) FROM t WHERE ok = true')).toEqual({
      shape: 'aggregate',
      table: 't',
      qualifiers: [],
      select: [
        { expr: countStar, name: 'count_star()', aliased: false },
        { expr: { kind: 'aggregate', fn: 'sum', column: 'bytes' }, name: 'sum(bytes)', aliased: false },
      ],
      where: { kind: 'compare', operand: col('ok'), op: '=', value: lit(true) },
      groupBy: [],
      orderBy: [],
    });
  });

  it('parses every aggregate function', () => {
    const query = aggregateQuery(
      'SELECT count(x), count(DISTINCT x), min(x), max(x), avg(x), MEAN(x), median(x), quantile_cont(x, 0.9), approx_quantile(x, 0.99) FROM t',
    );
    expect(query.select.map((item) => [item.expr, item.name])).toEqual([
      [{ kind: 'aggregate', fn: 'count', column: 'x' }, 'count(x)'],
      [{ kind: 'aggregate', fn: 'count_distinct', column: 'x' }, 'count(DISTINCT x)'],
      [{ kind: 'aggregate', fn: 'min', column: 'x' }, 'min(x)'],
      [{ kind: 'aggregate', fn: 'max', column: 'x' }, 'max(x)'],
      [{ kind: 'aggregate', fn: 'avg', column: 'x' }, 'avg(x)'],
      [{ kind: 'aggregate', fn: 'avg', column: 'x' }, 'mean(x)'],
      [{ kind: 'aggregate', fn: 'quantile_cont', column: 'x', fraction: 0.5 }, 'median(x)'],
      [{ kind: 'aggregate', fn: 'quantile_cont', column: 'x', fraction: 0.9 }, 'quantile_cont(x, 0.9)'],
      [{ kind: 'aggregate', fn: 'approx_quantile', column: 'x', fraction: 0.99 }, 'approx_quantile(x, 0.99)'],
    ]);
  });

  it('parses percentile_cont WITHIN GROUP, reading DESC from the other end', () => {
    const query = aggregateQuery(
      'SELECT percentile_cont(0.25) WITHIN GROUP (ORDER BY x), percentile_cont(0.25) WITHIN GROUP (ORDER BY x DESC) AS p FROM t',
    );
    expect(query.select).toEqual([
      {
        expr: { kind: 'aggregate', fn: 'quantile_cont', column: 'x', fraction: 0.25 },
        name: 'percentile_cont(0.25) WITHIN GROUP (ORDER BY x)',
        aliased: false,
      },
      { expr: { kind: 'aggregate', fn: 'quantile_cont', column: 'x', fraction: 0.75 }, name: 'p', aliased: true },
    ]);
  });

  it('parses FILTER (WHERE ...) on aggregates and keeps it in the output name', () => {
    const query = aggregateQuery(
      "SELECT count(*) FILTER (WHERE status >= 500), sum(b) FILTER (WHERE v = 'x') s FROM t",
    );
    expect(query.select).toEqual([
      {
        expr: { ...countStar, filter: { kind: 'compare', operand: col('status'), op: '>=', value: lit(500) } },
        name: 'count_star() FILTER (WHERE status >= 500)',
        aliased: false,
      },
      {
        expr: {
          kind: 'aggregate',
          fn: 'sum',
          column: 'b',
          filter: { kind: 'compare', operand: col('v'), op: '=', value: lit('x') },
        },
        name: 's',
        aliased: true,
      },
    ]);
  });

  it('parses every bucket spelling into its width', () => {
    const query = aggregateQuery(
      "SELECT time_bucket(INTERVAL '5 minutes', ts), time_bucket(INTERVAL 15 MINUTE, ts), time_bucket(INTERVAL '1 hour', ts), time_bucket(INTERVAL '30' SECONDS, ts), time_bucket(INTERVAL '1 day', ts), date_trunc('second', ts), date_trunc('MINUTE', ts), date_trunc('hour', ts), date_trunc('day', ts), count(*) FROM t GROUP BY ALL",
    );
    expect(query.groupBy).toEqual(
      [5 * MINUTE, 15 * MINUTE, HOUR, 30_000_000, 24 * HOUR, 1_000_000, MINUTE].map((width) => bucket('ts', width)),
    );
    expect(query.select.map((item) => item.name).slice(0, 3)).toEqual([
      "time_bucket(INTERVAL '5 minutes', ts)",
      'time_bucket(INTERVAL 15 MINUTE, ts)',
      "time_bucket(INTERVAL '1 hour', ts)",
    ]);
    expect(query.select[7]?.name).toBe("date_trunc('hour', ts)");
  });

  it('groups by columns, aliases of select items and ordinals, deduplicating', () => {
    const query = aggregateQuery(
      "SELECT verb, date_trunc('hour', ts) AS h, count(*) AS n FROM t GROUP BY verb, h, 1, 2, time_bucket(INTERVAL 1 HOUR, ts)",
    );
    expect(query).toEqual({
      shape: 'aggregate',
      table: 't',
      qualifiers: [],
      select: [
        { expr: col('verb'), name: 'verb', aliased: false },
        { expr: bucket('ts', HOUR), name: 'h', aliased: true },
        { expr: countStar, name: 'n', aliased: true },
      ],
      groupBy: [col('verb'), bucket('ts', HOUR)],
      // `h` was taken for the alias: the binder checks that the table has no column of that name.
      groupedAliases: ['h'],
      orderBy: [],
    });
  });

  it('resolves GROUP BY ALL to the select items that are not aggregates', () => {
    const query = aggregateQuery('SELECT a, count(*), b AS bee, max(c) FROM t GROUP BY ALL');
    expect(query.groupBy).toEqual([col('a'), col('b')]);
  });

  it('groups by a column that is not selected', () => {
    expect(aggregateQuery('SELECT count(*) FROM t GROUP BY region').groupBy).toEqual([col('region')]);
  });

  it('parses HAVING over aggregates, aliases and buckets', () => {
    const query = aggregateQuery(
      'SELECT v, count(*) AS n FROM t GROUP BY v HAVING count(*) > 10 OR n <= 2 OR sum(b) IS NULL',
    );
    expect(query.having).toEqual({
      kind: 'or',
      left: {
        kind: 'or',
        left: { kind: 'compare', operand: countStar, op: '>', value: lit(10) },
        right: { kind: 'compare', operand: col('n'), op: '<=', value: lit(2) },
      },
      right: { kind: 'is-null', operand: { kind: 'aggregate', fn: 'sum', column: 'b' }, negated: false },
    });
  });

  it('parses ORDER BY ordinals, aliases, aggregates and buckets with NULLS LAST by default', () => {
    const query = aggregateQuery(
      "SELECT date_trunc('minute', ts) m, v, count(*) n FROM t GROUP BY 1, 2 ORDER BY 1, n DESC, max(b) ASC NULLS FIRST, date_trunc('minute', ts) DESC NULLS LAST LIMIT 5",
    );
    expect(query.orderBy).toEqual([
      { target: { kind: 'ordinal', index: 1 }, descending: false, nullsFirst: false },
      { target: col('n'), descending: true, nullsFirst: false },
      { target: { kind: 'aggregate', fn: 'max', column: 'b' }, descending: false, nullsFirst: true },
      { target: bucket('ts', MINUTE), descending: true, nullsFirst: false },
    ]);
    expect(query.limit).toBe(5);
  });

  it('treats HAVING without GROUP BY as an aggregation', () => {
    expect(parseLocalQuery('SELECT sum(b) FROM t HAVING sum(b) > 0').shape).toBe('aggregate');
  });
});

describe('refusals', () => {
  const unsupported: [string, string, string][] = [
    ['JOINs', 'SELECT * FROM a JOIN b ON a.id = b.id', 'JOINs'],
    ['comma joins', 'SELECT * FROM a, b', 'JOINs'],
    ['LEFT JOIN after an alias', 'SELECT count(*) FROM a x LEFT JOIN b y ON x.i = y.i', 'JOINs'],
    ['subqueries in FROM', 'SELECT * FROM (SELECT * FROM t)', 'subqueries'],
    ['subqueries in IN', 'SELECT * FROM t WHERE a IN (SELECT a FROM u)', 'subqueries'],
    ['EXISTS', 'SELECT * FROM t WHERE EXISTS (SELECT 1)', 'subqueries'],
    ['table functions', "SELECT * FROM read_parquet('x.parquet')", 'table functions'],
    ['CTEs', 'WITH x AS (SELECT 1) SELECT * FROM x', 'CTEs'],
    ['other statements', 'INSERT INTO t VALUES (1)', 'INSERT statements'],
    ['UNION', 'SELECT a FROM t UNION SELECT a FROM u', 'UNION'],
    ['window functions', 'SELECT count(*) OVER () FROM t', 'window functions'],
    ['SELECT DISTINCT', 'SELECT DISTINCT a FROM t', 'SELECT DISTINCT'],
    ['unknown functions', 'SELECT lower(a) FROM t', 'function lower()'],
    ['arithmetic', 'SELECT a + 1 FROM t', 'arithmetic'],
    ['arithmetic in aggregates', 'SELECT sum(a * b) FROM t', 'arithmetic'],
    ['arithmetic on a literal', 'SELECT * FROM t WHERE a > 1 - 2', 'arithmetic'],
    ['CASE', 'SELECT CASE WHEN a THEN 1 END FROM t', 'CASE'],
    ['CAST', 'SELECT CAST(a AS int) FROM t', 'casts'],
    [':: casts', 'SELECT a::int FROM t', 'casts'],
    ['several statements', 'SELECT * FROM t; SELECT * FROM u', 'several statements'],
    ['OFFSET', 'SELECT * FROM t LIMIT 5 OFFSET 10', 'OFFSET'],
    ['OFFSET without LIMIT', 'SELECT * FROM t OFFSET 10', 'OFFSET'],
    ['GROUPING SETS', 'SELECT a, count(*) FROM t GROUP BY GROUPING SETS ((a), ())', 'GROUPING SETS'],
    ['ROLLUP', 'SELECT a, count(*) FROM t GROUP BY ROLLUP (a)', 'ROLLUP'],
    ['buckets in a scan', "SELECT date_trunc('hour', ts) FROM t", 'time buckets in a plain scan'],
    ['ORDER BY in a scan', 'SELECT a FROM t ORDER BY a', 'ORDER BY on a plain scan'],
    [
      'buckets that do not divide a day',
      "SELECT time_bucket(INTERVAL '7 minutes', ts), count(*) FROM t GROUP BY 1",
      'divide a day',
    ],
    ['multi-day buckets', "SELECT time_bucket(INTERVAL '2 days', ts), count(*) FROM t GROUP BY 1", 'divide a day'],
    ['month buckets', "SELECT date_trunc('month', ts), count(*) FROM t GROUP BY 1", 'date_trunc'],
    [
      'time_bucket origins',
      "SELECT time_bucket(INTERVAL '1 hour', ts, TIMESTAMP '2024-01-01 00:30'), count(*) FROM t GROUP BY 1",
      'origin',
    ],
    ['fractions outside 0..1', 'SELECT quantile_cont(x, 1.5) FROM t', 'outside 0..1'],
    ['list-valued fractions', 'SELECT quantile_cont(x, [0.5, 0.9]) FROM t', 'list-valued'],
    ['DISTINCT outside count', 'SELECT sum(DISTINCT x) FROM t', 'DISTINCT'],
    ['nested aggregates', 'SELECT sum(max(x)) FROM t', 'nested aggregates'],
    ['constant aggregate arguments', 'SELECT count(1) FROM t', 'constant'],
    ['aggregates in WHERE', 'SELECT * FROM t WHERE count(*) > 1', 'aggregates in WHERE'],
    ['aggregates in GROUP BY', 'SELECT count(*) FROM t GROUP BY sum(x)', 'aggregates in GROUP BY'],
    ['aggregates in FILTER', 'SELECT count(*) FILTER (WHERE sum(x) > 1) FROM t', 'aggregates in FILTER'],
    ['GROUP BY an aggregate ordinal', 'SELECT a, count(*) FROM t GROUP BY 2', 'GROUP BY an aggregate'],
    ['GROUP BY ordinals out of range', 'SELECT a, count(*) FROM t GROUP BY 3', 'ordinal'],
    ['ungrouped select items', 'SELECT a, b, count(*) FROM t GROUP BY a', '"b" in SELECT'],
    [
      'a bucket grouped by another width',
      "SELECT date_trunc('hour', ts), count(*) FROM t GROUP BY date_trunc('day', ts)",
      'neither',
    ],
    ['comparisons between two columns', 'SELECT * FROM t WHERE a = b', 'two columns'],
    ['unknown qualifiers', 'SELECT u.a FROM t', 'qualified by "u"'],
    ['SELECT * with aggregates', 'SELECT *, count(*) FROM t', 'SELECT * with other'],
    ['SELECT * with GROUP BY', 'SELECT * FROM t GROUP BY a', 'SELECT * with GROUP BY'],
    ['integers beyond 2^53', 'SELECT * FROM t WHERE id = 9007199254740993', '2^53'],
    ['negative LIMIT', 'SELECT * FROM t LIMIT -1', 'LIMIT'],
    ['a missing FROM', 'SELECT count(*)', 'unexpected end of query'],
    ['ILIKE', "SELECT * FROM t WHERE a ILIKE 'x'", 'unexpected "ILIKE"'],
    ['a bare aggregate as a predicate', 'SELECT count(*) FROM t HAVING max(flag)', 'unexpected end of query'],
  ];

  it.each(unsupported)('declines %s', (_label, sql, fragment) => {
    const error = errorOf(sql);
    expect(error.code).toBe('UNSUPPORTED_QUERY');
    expect(error.message).toContain(fragment);
  });

  const invalid: [string, string][] = [
    ['empty input', ''],
    ['only comments and a semicolon', '  -- nothing\n /* here */ ;'],
    ['text that is not SQL', 'hello world'],
    ['a misspelt keyword', 'SELEC * FROM t'],
    ['an unterminated quoted identifier', 'SELECT "abc FROM t'],
    ['an unterminated comment', 'SELECT * FROM t /* oops'],
    ['an unclosed parenthesis', 'SELECT count(* FROM t'],
    ['a stray closing parenthesis', 'SELECT a) FROM t'],
  ];

  it.each(invalid)('calls %s invalid SQL', (_label, sql) => {
    expect(errorOf(sql).code).toBe('INVALID_SQL');
  });

  it('reports where an unterminated string starts', () => {
    const error = errorOf("SELECT *\nFROM t\n  WHERE a = 'it''s");
    expect(error.code).toBe('INVALID_SQL');
    expect(error.details).toEqual({ line: 3, column: 13 });
  });

  it('declines deep nesting instead of overflowing the stack', () => {
    expect(errorOf(`SELECT * FROM t WHERE ${'NOT '.repeat(50_000)}a = 1`).code).toBe('UNSUPPORTED_QUERY');
    expect(errorOf(`SELECT * FROM t WHERE ${'('.repeat(5_000)}a = 1${')'.repeat(5_000)}`).code).toBe(
      'UNSUPPORTED_QUERY',
    );
  });

  it('throws only Lakegate errors, whatever prefix of a query it is given', () => {
    const sql =
      "SELECT time_bucket(INTERVAL 5 MINUTE, e.ts) AS b, percentile_cont(0.5) WITHIN GROUP (ORDER BY x DESC), count(*) FILTER (WHERE NOT (v IN ('a', 'b') OR w BETWEEN -1 AND 2e3)) FROM lake.\"Events\" e WHERE ts >= TIMESTAMP '2024-01-01' AND p LIKE 'x%' GROUP BY ALL HAVING count(*) > 1 ORDER BY 1 DESC NULLS FIRST LIMIT 10;";
    for (let end = 0; end <= sql.length; end++) {
      try {
        parseLocalQuery(sql.slice(0, end));
      } catch (error) {
        expect(isLakegateError(error), sql.slice(0, end)).toBe(true);
      }
    }
    expect(parseLocalQuery(sql).shape).toBe('aggregate');
  });
});
