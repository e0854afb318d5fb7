/** A small SQL lexer: enough to read names at known positions and to fingerprint queries. */

export type TokenKind = 'word' | 'quoted' | 'string' | 'number' | 'symbol' | 'parameter';

export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
const DIGIT = /[0-9]/;

/** Skips whitespace and comments from `i`; returns the next significant offset. */
export function skipTrivia(sql: string, from: number): number {
  let i = from;
  for (;;) {
    while (i < sql.length && /\s/.test(sql[i] as string)) i++;
    if (sql.startsWith('--', i)) {
      while (i < sql.length && sql[i] !== '\n') i++;
    } else if (sql.startsWith('/*', i)) {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else {
      return i;
    }
  }
}

function readQuoted(sql: string, i: number, quote: string): number {
  let j = i + 1;
  while (j < sql.length) {
    if (sql[j] === quote) {
      if (sql[j + 1] === quote) j += 2;
      else return j + 1;
    } else {
      j++;
    }
  }
  return sql.length;
}

/** Every significant token (comments and whitespace dropped), with offsets into `sql`. */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = skipTrivia(sql, 0);
  while (i < sql.length) {
    const c = sql[i] as string;
    let end: number;
    let kind: TokenKind;
    if (c === "'" || ((c === 'E' || c === 'e') && sql[i + 1] === "'")) {
      end = readQuoted(sql, c === "'" ? i : i + 1, "'");
      kind = 'string';
    } else if (c === '"') {
      end = readQuoted(sql, i, '"');
      kind = 'quoted';
    } else if (c === '$' && /[0-9]/.test(sql[i + 1] ?? '')) {
      end = i + 1;
      while (end < sql.length && DIGIT.test(sql[end] as string)) end++;
      kind = 'parameter';
    } else if (c === '$') {
      // Dollar-quoted string: $tag$ ... $tag$
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i))?.[0];
      if (tag) {
        const close = sql.indexOf(tag, i + tag.length);
        end = close < 0 ? sql.length : close + tag.length;
        kind = 'string';
      } else {
        end = i + 1;
        kind = 'symbol';
      }
    } else if (DIGIT.test(c) || (c === '.' && DIGIT.test(sql[i + 1] ?? ''))) {
      const match = /^(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(sql.slice(i));
      end = i + (match?.[0].length ?? 1);
      kind = 'number';
    } else if (WORD_START.test(c)) {
      end = i + 1;
      while (end < sql.length && WORD_PART.test(sql[end] as string)) end++;
      kind = 'word';
    } else {
      const two = sql.slice(i, i + 2);
      end = i + (['<=', '>=', '<>', '!=', '::', '||', '->', '=>', '**', '//'].includes(two) ? 2 : 1);
      kind = 'symbol';
    }
    tokens.push({ kind, text: sql.slice(i, end), start: i, end });
    i = skipTrivia(sql, end);
  }
  return tokens;
}

export const quoteIdentifier = (name: string): string => `"${name.replaceAll('"', '""')}"`;
