import { createHash } from 'node:crypto';
import { tokenize } from './sql-lexer.js';

export interface Fingerprints {
  /**
   * Same for two queries that mean the same: whitespace, comments, keyword and unquoted-identifier case, and the
   * formatting of literals (string escapes, number notation) do not matter. For result caches.
   */
  readonly exact: string;
  /** Same for queries that differ only in their literal values: for grouping queries in metrics and logs. */
  readonly shape: string;
}

const hash = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** Canonical text of a string literal: its value, however it was escaped. */
function stringValue(text: string): string {
  const tag = /^\$[A-Za-z_]*\$/.exec(text)?.[0];
  if (tag) return JSON.stringify(text.slice(tag.length, -tag.length));
  const body = text.startsWith('E') || text.startsWith('e') ? text.slice(2, -1) : text.slice(1, -1);
  return JSON.stringify(body.replaceAll("''", "'"));
}

/** Canonical text of a number: separators dropped, exponent expanded where exact. */
function numberValue(text: string): string {
  const plain = text.replaceAll('_', '').toLowerCase();
  const parsed = Number(plain);
  // Integers keep their digits (no float rounding); decimals keep their scale, since it types the literal.
  if (/^\d+$/.test(plain)) return BigInt(plain).toString();
  return Number.isFinite(parsed) && /e/.test(plain) ? String(parsed) : plain.replace(/^\./, '0.');
}

export function fingerprint(sql: string): Fingerprints {
  const exact: string[] = [];
  const shape: string[] = [];
  for (const token of tokenize(sql)) {
    switch (token.kind) {
      case 'word':
        exact.push(token.text.toLowerCase());
        shape.push(token.text.toLowerCase());
        break;
      case 'quoted':
        exact.push(token.text);
        shape.push(token.text);
        break;
      case 'string':
        exact.push(stringValue(token.text));
        shape.push('?');
        break;
      case 'number':
        exact.push(numberValue(token.text));
        shape.push('?');
        break;
      default:
        exact.push(token.text);
        shape.push(token.text);
    }
  }
  // A trailing semicolon does not change the query.
  while (exact.at(-1) === ';') {
    exact.pop();
    shape.pop();
  }
  return { exact: hash(exact.join(' ')), shape: hash(shape.join(' ')) };
}
