import { type Token, tokenize } from '../sql/sql-lexer.js';

/**
 * Postgres-only spellings that psql's catalog commands (`\dt`, `\dn`, `\l` and their patterns) write, rewritten to
 * what the engine reads with the same meaning. Only texts that name `pg_catalog` are touched. This only translates:
 * the engine still decides on the rewritten text, and what it reads is the tenant's own `pg_catalog` relations.
 *
 * - `OPERATOR(pg_catalog.~)` is the operator `~`;
 * - `COLLATE pg_catalog.default` is the default collation, i.e. nothing;
 * - `pg_get_userbyid(x)` is the role's name, read from `pg_catalog.pg_roles`;
 * - `pg_encoding_to_char(x)` is `'UTF8'`, the only encoding served;
 * - `pg_catalog.array_to_string` is the engine's `array_to_string`;
 * - `pg_get_expr(...)` (a default's or a constraint's text) is NULL: datasets have neither;
 * - `'name'::regclass` is that relation's OID in `pg_catalog.pg_class` (NULL for a system catalog, which is not
 *   listed there);
 * - `x ~ 'p'` and `x !~ 'p'` search for `p` anywhere in `x` in Postgres, while the engine's `~` matches the whole
 *   of `x`: the pattern becomes `(?s).*(?:p).*`, whose whole match is a search for `p` (anchors keep their meaning).
 */
export function adaptPostgresSql(sql: string): string {
  if (!/pg_catalog/i.test(sql)) return sql;
  const tokens = tokenize(sql);
  const edits: { start: number; end: number; text: string }[] = [];
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
  /** Makes the string literal at `i` (a regular expression) search rather than match whole. */
  const searchPattern = (i: number): void => {
    const literal = tokens[i];
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
    if (word(i) === 'pg_catalog' && tokens[i + 1]?.text === '.' && word(i + 2) === 'array_to_string') {
      edits.push({ start: token.start, end: (tokens[i + 1] as Token).end, text: '' });
      i += 2;
      continue;
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
    const qualified = word(i) === 'pg_catalog' && tokens[i + 1]?.text === '.';
    const at = qualified ? i + 2 : i;
    const name = word(at);
    if (['pg_get_userbyid', 'pg_encoding_to_char', 'pg_get_expr'].includes(name) && tokens[at + 1]?.text === '(') {
      const close = closing(at + 1);
      if (close < 0) continue;
      const argument = sql.slice(tokens[at + 2]?.start, tokens[close]?.start);
      const text =
        name === 'pg_encoding_to_char'
          ? "'UTF8'"
          : name === 'pg_get_expr'
            ? 'CAST(NULL AS VARCHAR)'
            : `(SELECT rolname FROM pg_catalog.pg_roles WHERE oid = (${adaptPostgresSql(argument)}))`;
      edits.push({ start: token.start, end: (tokens[close] as Token).end, text });
      i = close;
    }
  }
  let out = sql;
  for (const edit of edits.reverse()) out = out.slice(0, edit.start) + edit.text + out.slice(edit.end);
  return out;
}
