import { createHash } from 'node:crypto';
import { tokenize } from './sql-lexer.js';

export interface Fingerprints {
  /**
   * Same only for the same text, to the byte: for result caches. A normalised text would be lossy (`1e0` is a DOUBLE
   * and `1` an INTEGER; `'a\x41'` and `E'a\x41'` are different strings), so two texts are one query only when equal.
   */
  readonly exact: string;
  /** Same for queries that differ only in their literal values: for grouping queries in metrics and logs. */
  readonly shape: string;
}

const hash = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** Texts longer than this get their shape from the text itself: tokenizing them would hold the event loop. */
const SHAPE_MAX_CHARS = 16_384;

export function fingerprint(sql: string): Fingerprints {
  if (sql.length > SHAPE_MAX_CHARS) return { exact: hash(sql), shape: hash(`long\0${sql}`) };
  const shape: string[] = [];
  for (const token of tokenize(sql)) {
    switch (token.kind) {
      case 'word':
        shape.push(token.text.toLowerCase());
        break;
      case 'string':
      case 'number':
        shape.push('?');
        break;
      default:
        shape.push(token.text);
    }
  }
  // A trailing semicolon does not change the query's shape.
  while (shape.at(-1) === ';') shape.pop();
  return { exact: hash(sql), shape: hash(shape.join(' ')) };
}
