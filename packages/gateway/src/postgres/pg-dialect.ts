import { LakegateError } from '@lakegate/engine-api';
import { type Token, tokenize } from '../sql/sql-lexer.js';
import { formatTypeSql, PG_CATALOG_TABLES } from './pg-catalog.js';

const CATALOG_RELATIONS: ReadonlySet<string> = new Set(PG_CATALOG_TABLES);

/**
 * Functions with one answer for every argument here: an object's definition or comment is NULL (a tenant's tables
 * have no defaults, constraints, indexes, statistics, views or functions), the one encoding is UTF8, and no
 * relation is published. Sizes are NULL ("unknown"): a dataset's files are in object storage, not in a relation.
 */
const CONSTANT: Readonly<Record<string, string>> = {
  pg_encoding_to_char: "'UTF8'",
  pg_relation_is_publishable: 'false',
  ...Object.fromEntries(
    ['pg_database_size', 'pg_indexes_size', 'pg_relation_size', 'pg_table_size', 'pg_total_relation_size'].map(
      (name) => [name, 'CAST(NULL AS BIGINT)'],
    ),
  ),
  ...Object.fromEntries(
    [
      'col_description',
      'obj_description',
      'shobj_description',
      'pg_get_constraintdef',
      'pg_get_expr',
      'pg_get_functiondef',
      'pg_get_function_arguments',
      'pg_get_function_result',
      'pg_get_indexdef',
      'pg_get_partition_constraintdef',
      'pg_get_partkeydef',
      'pg_get_ruledef',
      'pg_get_statisticsobjdef_columns',
      'pg_get_triggerdef',
      'pg_get_viewdef',
      'pg_tablespace_location',
    ].map((name) => [name, 'CAST(NULL AS VARCHAR)']),
  ),
};

/** Words after a FROM item that begin the next clause rather than name an alias. */
const NOT_ALIASES = new Set([
  'where',
  'join',
  'left',
  'right',
  'inner',
  'full',
  'cross',
  'natural',
  'on',
  'using',
  'group',
  'order',
  'limit',
  'offset',
  'union',
  'except',
  'intersect',
  'having',
  'window',
  'with',
]);

/** Postgres catalog types of casts, as the engine spells them (OID aliases are numbers; `name` is text). */
const CAST_TYPES: Readonly<Record<string, string>> = {
  oid: 'BIGINT',
  regclass: 'BIGINT',
  regproc: 'BIGINT',
  regprocedure: 'BIGINT',
  regnamespace: 'BIGINT',
  regrole: 'BIGINT',
  regoper: 'BIGINT',
  name: 'VARCHAR',
  char: 'VARCHAR',
  '"char"': 'VARCHAR',
};

/**
 * Postgres-only spellings that psql's catalog commands (`\dt`, `\dn`, `\l` and their patterns) write, rewritten to
 * what the engine reads with the same meaning. Only texts that name a `pg_` relation or function, a `reg*` cast or
 * `format_type` are touched. This only translates: the engine still decides on the rewritten text, and what it reads is the tenant's own `pg_catalog` relations.
 *
 * - a `pg_catalog` relation named without its schema (`FROM pg_class`) is that relation, as pg_catalog is first
 *   on every search path;
 * - `OPERATOR(pg_catalog.~)` is the operator `~`;
 * - `COLLATE pg_catalog.default` is the default collation, i.e. nothing;
 * - `pg_get_userbyid(x)` is the role's name, read from `pg_catalog.pg_roles`;
 * - `pg_encoding_to_char(x)` is `'UTF8'`, the only encoding served;
 * - `pg_catalog.f(...)` of any other function is the engine's `f(...)`, and `array_upper(a, 1)` is `len(a)`;
 * - `pg_relation_is_publishable(...)` is false;
 * - `FROM generate_series(...) s` (or `unnest`) gets `s(s)`: Postgres reads the alias as the function's value;
 * - `pg_get_expr(...)`, `pg_get_constraintdef(...)` and the other definitions and comments of objects (defaults,
 *   constraints, indexes, statistics, views, functions) are NULL: datasets have none of them;
 * - `'name'::regclass` is that relation's OID in `pg_catalog.pg_class` (NULL for a system catalog, which is not
 *   listed there);
 * - `x = ANY(array)` is `list_contains(array, x)`, which the engine also runs where the array is a column of the
 *   row (a correlated `ANY`);
 * - `x::regtype` is the type's name, as `format_type(x, NULL)` writes it, and `format_type(oid, typmod)` is
 *   computed from the types served;
 * - casts to the catalog's own types (`::pg_catalog.text`, `::oid`, `::name`, `::"char"`, other OID aliases) are
 *   casts to the engine's types of the same values;
 * - in a text naming `pg_catalog` (psql's patterns), `x ~ 'p'` and `x !~ 'p'` search for `p` anywhere in `x` in Postgres, while the engine's `~` matches the whole
 *   of `x`: the pattern becomes `(?s).*(?:p).*`, whose whole match is a search for `p` (anchors keep their meaning).
 */
export function adaptPostgresSql(sql: string, depth = 0): string {
  if (!/pg_|::\s*reg|format_type/i.test(sql)) return sql;
  // Each `::regtype` and `format_type` writes its operand twice, rewritten again at each level: nested, the text
  // and the work double with every level.
  if (depth >= MAX_REWRITE_DEPTH)
    throw new LakegateError(
      'REQUEST_TOO_LARGE',
      `The query nests ::regtype, format_type or = ANY more than ${MAX_REWRITE_DEPTH} deep: nest them less.`,
    );
  // psql's patterns only: a tenant's own `~` keeps the engine's meaning.
  const namesCatalog = /pg_catalog/i.test(sql);
  const tokens = tokenize(sql);
  const edits: { start: number; end: number; text: string }[] = [];
  const columnAliases: typeof edits = [];
  const word = (i: number): string => {
    const token = tokens[i];
    return token?.kind === 'word' ? token.text.toLowerCase() : '';
  };
  /** The index of the `)` closing the `(` at `open`, or -1. */
  const closing = (open: number): number => {
    let depth = 0;
    for (let j = open; j < tokens.length; j++) {
      if (tokens[j]?.text === '(') depth++;
      else if (tokens[j]?.text === ')' && --depth === 0) return j;
    }
    return -1;
  };
  /** The index of the first comma at depth 0 between `from` and `to`, or -1. */
  const topLevelComma = (from: number, to: number): number => {
    for (let j = from, depth = 0; j < to; j++) {
      const text = tokens[j]?.text;
      if (text === '(') depth++;
      else if (text === ')') depth--;
      else if (text === ',' && depth === 0) return j;
    }
    return -1;
  };
  /**
   * The index of the first token of the operand before `cast` (a `::`, or an `=` whose left side is one primary:
   * a name, a literal, a call or a parenthesized expression).
   */
  const operandStart = (cast: number): number => {
    let j = cast - 1;
    if (tokens[j]?.text === ')') {
      for (let depth = 0; j >= 0; j--) {
        if (tokens[j]?.text === ')') depth++;
        else if (tokens[j]?.text === '(' && --depth === 0) break;
      }
      if (tokens[j - 1]?.kind !== 'word' && tokens[j - 1]?.kind !== 'quoted') return j;
      j--;
    }
    while (tokens[j - 1]?.text === '.' && (tokens[j - 2]?.kind === 'word' || tokens[j - 2]?.kind === 'quoted')) j -= 2;
    return Math.max(j, 0);
  };
  /** Makes the string literal at `i` (a regular expression) search rather than match whole. */
  const searchPattern = (i: number): void => {
    const literal = tokens[i];
    if (!namesCatalog) return;
    if (literal?.kind !== 'string' || !literal.text.startsWith("'")) return;
    edits.push({ start: literal.start, end: literal.end, text: `'(?s).*(?:${literal.text.slice(1, -1)}).*'` });
  };
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as Token;
    if (word(i) === 'operator' && tokens[i + 1]?.text === '(') {
      const close = closing(i + 1);
      const dot = tokens.slice(i + 2, close).findLastIndex((t) => t.text === '.');
      const first = tokens[i + 2 + dot + 1];
      if (close < 0 || !first) continue;
      const operator = sql.slice(first.start, tokens[close]?.start).trim();
      edits.push({ start: token.start, end: (tokens[close] as Token).end, text: operator });
      if (operator === '~' || operator === '!~') searchPattern(close + 1);
      i = close;
      continue;
    }
    if (token.text === '~') {
      searchPattern(i + 1);
      continue;
    }
    if (token.text === '=' && word(i + 1) === 'any' && tokens[i + 2]?.text === '(' && word(i + 3) !== 'select') {
      const close = closing(i + 2);
      if (close < 0 || i === 0) continue;
      const from = (tokens[operandStart(i)] as Token).start;
      while ((edits.at(-1)?.start ?? -1) >= from) edits.pop();
      const left = adaptPostgresSql(sql.slice(from, tokens[i - 1]?.end), depth + 1);
      const list = adaptPostgresSql(sql.slice(tokens[i + 3]?.start, tokens[close]?.start), depth + 1);
      edits.push({ start: from, end: (tokens[close] as Token).end, text: `list_contains(${list}, ${left})` });
      i = close;
      continue;
    }
    if (word(i) === 'as' && word(i + 1) === 'pg_catalog' && tokens[i + 2]?.text === '.' && tokens[i + 3]) {
      // CAST(x AS pg_catalog.text): the engine's type of the same values.
      const type = tokens[i + 3] as Token;
      const typeName = type.kind === 'quoted' ? type.text : type.text.toLowerCase();
      edits.push({ start: (tokens[i + 1] as Token).start, end: type.end, text: CAST_TYPES[typeName] ?? type.text });
      i += 3;
      continue;
    }
    if (token.text === '::') {
      const qualified = word(i + 1) === 'pg_catalog' && tokens[i + 2]?.text === '.';
      const type = tokens[qualified ? i + 3 : i + 1];
      const typeName = type?.kind === 'quoted' ? type.text : (type?.text.toLowerCase() ?? '');
      if (!type || (type.kind !== 'word' && type.kind !== 'quoted')) continue;
      const previous = tokens[i - 1];
      if (typeName === 'regclass' && previous?.kind === 'string') continue; // below, at the literal
      if (typeName === 'regtype') {
        const from = (tokens[operandStart(i)] as Token).start;
        // The operand is rewritten as a whole, in place of any edit made inside it already.
        while ((edits.at(-1)?.start ?? -1) >= from) edits.pop();
        const operand = adaptPostgresSql(sql.slice(from, previous?.end), depth + 1);
        edits.push({ start: from, end: type.end, text: formatTypeSql(operand, 'NULL') });
      } else if (CAST_TYPES[typeName] !== undefined || qualified) {
        edits.push({ start: token.start, end: type.end, text: `::${CAST_TYPES[typeName] ?? type.text}` });
      }
      i = qualified ? i + 3 : i + 1;
      continue;
    }
    if (token.kind === 'string' && tokens[i + 1]?.text === '::') {
      const qualified = word(i + 2) === 'pg_catalog' && tokens[i + 3]?.text === '.';
      const type = tokens[qualified ? i + 4 : i + 2];
      if (type?.kind === 'word' && type.text.toLowerCase() === 'regclass') {
        edits.push({
          start: token.start,
          end: type.end,
          text: `(SELECT oid FROM pg_catalog.pg_class WHERE relname = ${token.text})`,
        });
        i = qualified ? i + 4 : i + 2;
        continue;
      }
    }
    if (
      word(i) === 'collate' &&
      word(i + 1) === 'pg_catalog' &&
      tokens[i + 2]?.text === '.' &&
      word(i + 3) === 'default'
    ) {
      edits.push({ start: token.start, end: (tokens[i + 3] as Token).end, text: '' });
      i += 3;
      continue;
    }
    if (
      CATALOG_RELATIONS.has(word(i)) &&
      ['from', 'join', ','].includes(word(i - 1) || (tokens[i - 1]?.text ?? '')) &&
      tokens[i + 1]?.text !== '.' &&
      tokens[i + 1]?.text !== '('
    ) {
      // pg_catalog comes first on every search path in Postgres: `FROM pg_class` is `FROM pg_catalog.pg_class`.
      edits.push({ start: token.start, end: token.start, text: 'pg_catalog.' });
      continue;
    }
    const qualified = word(i) === 'pg_catalog' && tokens[i + 1]?.text === '.';
    const at = qualified ? i + 2 : i;
    const name = word(at);
    if (name === 'format_type' && tokens[at + 1]?.text === '(') {
      const close = closing(at + 1);
      const comma = topLevelComma(at + 2, close);
      if (close < 0 || comma < 0) continue;
      const first = adaptPostgresSql(sql.slice(tokens[at + 2]?.start, tokens[comma]?.start), depth + 1);
      const second = adaptPostgresSql(sql.slice(tokens[comma + 1]?.start, tokens[close]?.start), depth + 1);
      edits.push({ start: token.start, end: (tokens[close] as Token).end, text: formatTypeSql(first, second) });
      i = close;
      continue;
    }
    if (
      (name === 'pg_get_userbyid' || name === 'array_upper' || CONSTANT[name] !== undefined) &&
      tokens[at + 1]?.text === '('
    ) {
      const close = closing(at + 1);
      if (close < 0) continue;
      const argument = adaptPostgresSql(sql.slice(tokens[at + 2]?.start, tokens[close]?.start), depth + 1);
      const comma = topLevelComma(at + 2, close);
      const text =
        name === 'pg_get_userbyid'
          ? `(SELECT rolname FROM pg_catalog.pg_roles WHERE oid = (${argument}))`
          : name === 'array_upper'
            ? `len(${adaptPostgresSql(sql.slice(tokens[at + 2]?.start, tokens[comma]?.start), depth + 1)})`
            : (CONSTANT[name] as string);
      edits.push({ start: token.start, end: (tokens[close] as Token).end, text });
      i = close;
      continue;
    }
    if ((name === 'generate_series' || name === 'unnest') && ['from', 'join'].includes(word(i - 1))) {
      // A set-returning function in FROM names its one column after its alias in Postgres (`FROM f(...) s` reads
      // `s` as the value), where the engine would read the row: the alias gets a column of the same name.
      const close = closing(at + 1);
      const aliasAt = word(close + 1) === 'as' ? close + 2 : close + 1;
      const alias = tokens[aliasAt];
      if (close > 0 && alias?.kind === 'word' && !NOT_ALIASES.has(word(aliasAt)) && tokens[aliasAt + 1]?.text !== '(') {
        // Kept apart: the function's arguments, before it, are rewritten as the loop goes on.
        columnAliases.push({ start: alias.end, end: alias.end, text: `(${alias.text})` });
      }
    }
    if (qualified && tokens[i + 3]?.text === '(') {
      // Any other function of pg_catalog: the engine's function of that name (table functions are never qualified).
      edits.push({ start: token.start, end: (tokens[i + 1] as Token).end, text: '' });
      i += 1;
    }
  }
  let out = sql;
  for (const edit of [...edits, ...columnAliases].sort((a, b) => b.start - a.start)) {
    out = out.slice(0, edit.start) + edit.text + out.slice(edit.end);
    if (out.length > MAX_REWRITTEN_CHARS)
      throw new LakegateError(
        'REQUEST_TOO_LARGE',
        `The query grows past ${MAX_REWRITTEN_CHARS} characters as its PostgreSQL catalog expressions are rewritten: split it or nest them less.`,
      );
  }
  return out;
}

/** Levels of `::regtype`, `format_type` and `= ANY` inside one another that a query may nest. */
const MAX_REWRITE_DEPTH = 8;
/** A query's text at most once rewritten: far past any catalog query a client sends. */
const MAX_REWRITTEN_CHARS = 1024 * 1024;
