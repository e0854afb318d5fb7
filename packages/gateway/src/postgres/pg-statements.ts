import { type Token, tokenize } from '../sql/sql-lexer.js';

/**
 * What a Postgres client's statement asks of the session, read from its first words. Only the session chatter
 * that drivers and BI tools send on their own (transactions, settings, cursors) is answered by the front end;
 * everything else is a query, which goes through the query lifecycle and the engine's own checks unchanged.
 */
export type SessionStatement =
  | { readonly kind: 'empty' }
  | { readonly kind: 'query'; readonly sql: string }
  | { readonly kind: 'begin' }
  | { readonly kind: 'commit' }
  | { readonly kind: 'rollback' }
  /** SAVEPOINT, RELEASE, ROLLBACK TO: nothing to undo in a read-only transaction. */
  | { readonly kind: 'savepoint'; readonly tag: string }
  | { readonly kind: 'set'; readonly name: string; readonly value: string | undefined }
  /** SET TRANSACTION / SESSION CHARACTERISTICS: every transaction here is read-only already. */
  | { readonly kind: 'set-transaction' }
  | { readonly kind: 'reset'; readonly name: string | undefined }
  | { readonly kind: 'show'; readonly name: string }
  | { readonly kind: 'discard' }
  | { readonly kind: 'deallocate'; readonly name: string | undefined }
  | { readonly kind: 'declare'; readonly name: string; readonly sql: string; readonly hold: boolean }
  | { readonly kind: 'fetch'; readonly name: string; readonly count: number; readonly move: boolean }
  | { readonly kind: 'close'; readonly name: string | undefined }
  /** `COPY (query) TO STDOUT` (psql's `\copy ... to`): the query's rows as COPY data, text or CSV. */
  | { readonly kind: 'copy-out'; readonly sql: string; readonly csv: boolean; readonly header: boolean }
  | { readonly kind: 'function-select'; readonly items: readonly SessionFunctionCall[] };

/** One session function of a `SELECT` of them: `current_setting('search_path', true) AS path`. */
export interface SessionFunctionCall {
  readonly fn: string;
  readonly alias: string;
  /** `current_setting`'s setting name, and whether a missing one is NULL rather than an error. */
  readonly setting?: { readonly name: string; readonly missingOk: boolean };
}

/** Splits a simple-query message into its statements, at semicolons outside strings, identifiers and comments. */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (const token of tokenize(sql)) {
    if (token.kind === 'symbol' && token.text === ';') {
      out.push(sql.slice(start, token.start));
      start = token.end;
    }
  }
  out.push(sql.slice(start));
  const statements = out.filter((s) => tokenize(s).length > 0);
  return statements.map((s) => s.trim());
}

/** The highest `$n` of a statement: its number of parameters. */
export function parameterCount(sql: string): number {
  let count = 0;
  for (const token of tokenize(sql)) {
    if (token.kind === 'parameter') count = Math.max(count, Number(token.text.slice(1)));
  }
  return count;
}

const word = (token: Token | undefined): string => (token?.kind === 'word' ? token.text.toLowerCase() : '');

const name = (token: Token | undefined): string | undefined => {
  if (!token) return undefined;
  if (token.kind === 'word') return token.text.toLowerCase();
  if (token.kind === 'quoted') return token.text.slice(1, -1).replaceAll('""', '"');
  return undefined;
};

/** A setting's value as written: a string literal's contents, or the words and numbers joined. */
function settingValue(sql: string, tokens: readonly Token[]): string | undefined {
  if (tokens.length === 0) return undefined;
  if (tokens.length === 1 && word(tokens[0]) === 'default') return undefined;
  const parts = tokens
    .filter((t) => !(t.kind === 'symbol' && t.text === ','))
    .map((t) => (t.kind === 'string' ? t.text.slice(1, -1).replaceAll("''", "'") : (name(t) ?? t.text)));
  const first = tokens[0] as Token;
  const last = tokens[tokens.length - 1] as Token;
  return tokens.every((t) => t.kind === 'string' || (t.kind === 'symbol' && t.text === ','))
    ? parts.join(', ')
    : sql.slice(first.start, last.end).replace(/^'|'$/g, '');
}

/** Session functions a `SELECT` of only these (no FROM) asks for: what drivers probe at connect. */
const SESSION_FUNCTIONS = new Set([
  'version',
  'current_database',
  'current_schema',
  'current_user',
  'session_user',
  'user',
  'current_catalog',
  'pg_backend_pid',
  'current_setting',
]);

/** `SELECT version(), current_user AS u`: each item a session function, with its output name. */
function functionSelect(tokens: readonly Token[]): SessionStatement | undefined {
  const items: SessionFunctionCall[] = [];
  let i = 1;
  while (i < tokens.length) {
    let fn = word(tokens[i]);
    if (fn === 'pg_catalog' && tokens[i + 1]?.text === '.') {
      i += 2;
      fn = word(tokens[i]);
    }
    if (!SESSION_FUNCTIONS.has(fn)) return undefined;
    i++;
    let setting: SessionFunctionCall['setting'];
    if (fn === 'current_setting') {
      // current_setting('name') or current_setting('name', true|false): the connection's own setting.
      const literal = tokens[i + 1];
      if (tokens[i]?.text !== '(' || literal?.kind !== 'string' || !literal.text.startsWith("'")) return undefined;
      const flag = tokens[i + 2]?.text === ',' ? word(tokens[i + 3]) : undefined;
      const close = flag === undefined ? i + 2 : i + 4;
      if (tokens[close]?.text !== ')' || (flag !== undefined && flag !== 'true' && flag !== 'false')) return undefined;
      setting = { name: literal.text.slice(1, -1).replaceAll("''", "'"), missingOk: flag === 'true' };
      i = close + 1;
    } else if (tokens[i]?.text === '(') {
      if (tokens[i + 1]?.text !== ')') return undefined;
      i += 2;
    } else if (!['current_user', 'session_user', 'user', 'current_catalog', 'current_schema'].includes(fn)) {
      return undefined;
    }
    let alias = fn === 'user' ? 'current_user' : fn;
    if (word(tokens[i]) === 'as') i++;
    const aliasName = tokens[i] && tokens[i]?.text !== ',' ? name(tokens[i]) : undefined;
    if (aliasName !== undefined) {
      alias = aliasName;
      i++;
    }
    items.push(setting ? { fn, alias, setting } : { fn, alias });
    if (i === tokens.length) break;
    if (tokens[i]?.text !== ',') return undefined;
    i++;
  }
  return items.length > 0 ? { kind: 'function-select', items } : undefined;
}

/**
 * `COPY (query) TO STDOUT [options]` or `COPY table [(columns)] TO STDOUT [options]`, with the text or CSV format
 * and HEADER; anything else (COPY FROM, to a file) is left to the engine, which refuses it.
 */
function copyOut(sql: string, tokens: readonly Token[]): SessionStatement | undefined {
  let i = 1;
  let body: string;
  if (tokens[i]?.text === '(') {
    let depth = 0;
    let close = -1;
    for (let j = i; j < tokens.length; j++) {
      if (tokens[j]?.text === '(') depth++;
      if (tokens[j]?.text === ')' && --depth === 0) {
        close = j;
        break;
      }
    }
    const first = tokens[i + 1];
    const last = tokens[close - 1];
    if (close < 0 || !first || !last) return undefined;
    body = sql.slice(first.start, last.end);
    i = close + 1;
  } else {
    const start = tokens[i];
    while (tokens[i] && word(tokens[i]) !== 'to' && tokens[i]?.text !== '(') i++;
    let columns = '*';
    if (tokens[i]?.text === '(') {
      const open = tokens[i] as Token;
      while (tokens[i] && tokens[i]?.text !== ')') i++;
      columns = sql.slice(open.end, tokens[i]?.start);
      i++;
    }
    const end = tokens[i - 1];
    if (!start || !end || columns.trim() === '') return undefined;
    const table = sql
      .slice(start.start, tokens[i]?.start ?? end.end)
      .replace(/\([^)]*\)\s*$/, '')
      .trim();
    body = `SELECT ${columns} FROM ${table}`;
  }
  if (word(tokens[i]) !== 'to' || word(tokens[i + 1]) !== 'stdout') return undefined;
  const options = tokens.slice(i + 2).map((t) => (t.kind === 'string' ? t.text.slice(1, -1) : t.text.toLowerCase()));
  const csv = options.includes('csv');
  const headerAt = options.indexOf('header');
  const header = headerAt >= 0 && !['false', 'off', '0'].includes(options[headerAt + 1] ?? '');
  if (options.some((o) => ['delimiter', 'null', 'quote', 'escape', 'encoding', 'binary'].includes(o))) return undefined;
  return { kind: 'copy-out', sql: body, csv, header };
}

/** Reads what one statement (from {@link splitStatements} or a Parse message) asks of the session. */
export function classifyStatement(sql: string): SessionStatement {
  const tokens = tokenize(sql).filter((t, i, all) => !(t.text === ';' && i === all.length - 1));
  const [first, second, third] = tokens;
  const head = word(first);
  const query = { kind: 'query', sql } as const;
  switch (head) {
    case '':
      return tokens.length === 0 ? { kind: 'empty' } : query;
    case 'begin':
    case 'start':
      return head === 'start' && word(second) !== 'transaction' ? query : { kind: 'begin' };
    case 'commit':
    case 'end':
      return word(second) === 'prepared' ? query : { kind: 'commit' };
    case 'abort':
      return { kind: 'rollback' };
    case 'rollback':
      if (word(second) === 'prepared') return query;
      return tokens.some((t) => word(t) === 'to') ? { kind: 'savepoint', tag: 'ROLLBACK' } : { kind: 'rollback' };
    case 'savepoint':
      return { kind: 'savepoint', tag: 'SAVEPOINT' };
    case 'release':
      return { kind: 'savepoint', tag: 'RELEASE' };
    case 'set': {
      let at = 1;
      if (['session', 'local'].includes(word(second))) at = 2;
      const target = word(tokens[at]);
      if (target === 'transaction' || target === 'characteristics') return { kind: 'set-transaction' };
      if (target === 'time' && word(tokens[at + 1]) === 'zone') {
        return { kind: 'set', name: 'timezone', value: settingValue(sql, tokens.slice(at + 2)) };
      }
      if (target === 'names')
        return { kind: 'set', name: 'client_encoding', value: settingValue(sql, tokens.slice(at + 1)) };
      const setting = name(tokens[at]);
      const separator = tokens[at + 1];
      if (!setting || !(word(separator) === 'to' || separator?.text === '=')) return query;
      return { kind: 'set', name: setting, value: settingValue(sql, tokens.slice(at + 2)) };
    }
    case 'reset':
      return word(second) === 'all' ? { kind: 'reset', name: undefined } : { kind: 'reset', name: name(second) ?? '' };
    case 'show': {
      if (word(second) === 'transaction' && word(third) === 'isolation') {
        return { kind: 'show', name: 'transaction_isolation' };
      }
      if (word(second) === 'time' && word(third) === 'zone') return { kind: 'show', name: 'timezone' };
      const setting = name(second);
      return setting !== undefined && tokens.length === 2 ? { kind: 'show', name: setting } : query;
    }
    case 'discard':
      return { kind: 'discard' };
    case 'deallocate': {
      const target = word(second) === 'prepare' ? third : second;
      return { kind: 'deallocate', name: word(target) === 'all' ? undefined : (name(target) ?? '') };
    }
    case 'declare': {
      const cursor = name(second);
      const forAt = tokens.findIndex((t) => word(t) === 'for');
      const cursorAt = tokens.findIndex((t) => word(t) === 'cursor');
      if (cursor === undefined || forAt < 0 || cursorAt < 0 || cursorAt > forAt) return query;
      const options = tokens.slice(2, forAt).map(word);
      const body = tokens[forAt + 1];
      if (!body) return query;
      return {
        kind: 'declare',
        name: cursor,
        sql: sql.slice(body.start).trim(),
        hold: options.includes('hold') && !options.includes('without'),
      };
    }
    case 'fetch':
    case 'move': {
      let i = 1;
      let count = 1;
      const direction = word(tokens[i]);
      if (direction === 'forward' || direction === 'next') {
        i++;
      } else if (direction === 'all') {
        count = Number.POSITIVE_INFINITY;
        i++;
      }
      if (word(tokens[i]) === 'all') {
        count = Number.POSITIVE_INFINITY;
        i++;
      } else if (tokens[i]?.kind === 'number') {
        count = Number(tokens[i]?.text);
        i++;
      }
      if (['from', 'in'].includes(word(tokens[i]))) i++;
      const cursor = name(tokens[i]);
      if (cursor === undefined || i !== tokens.length - 1) return query;
      return { kind: 'fetch', name: cursor, count, move: head === 'move' };
    }
    case 'close':
      return word(second) === 'all' ? { kind: 'close', name: undefined } : { kind: 'close', name: name(second) ?? '' };
    case 'select':
      return functionSelect(tokens) ?? query;
    case 'copy':
      return copyOut(sql, tokens) ?? query;
    default:
      return query;
  }
}
