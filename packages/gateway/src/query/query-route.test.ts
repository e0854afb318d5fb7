import { describe, expect, it } from 'vitest';
import { queryBodySchema, usualQueryBody } from './query-route.js';

const MAX = 1000;
const schema = queryBodySchema(MAX);

/** Values a body's fields may hold, right and wrong. */
const VALUES: readonly unknown[] = [
  'SELECT 1',
  '  ',
  '',
  'duckdb',
  0,
  5,
  MAX,
  MAX + 1,
  -1,
  2.5,
  1e300,
  null,
  true,
  [],
  {},
  ['SELECT 1'],
];
const KEYS = ['sql', 'engine', 'maxRows', 'format', '__proto__', 'constructor'];

/** A random body: an object of some of the keys with random values, or now and then not an object at all. */
function randomBody(random: () => number): unknown {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  if (random() < 0.05) return pick(VALUES);
  const entries: [string, unknown][] = [];
  for (const key of KEYS) if (random() < (key === 'sql' ? 0.9 : 0.3)) entries.push([key, pick(VALUES)]);
  // Through JSON, as a request's body comes: `__proto__` is then a key of its own.
  return JSON.parse(JSON.stringify(Object.fromEntries(entries)));
}

describe('the usual body of POST /v1/query, checked without the schema', () => {
  it('takes the usual bodies', () => {
    expect(usualQueryBody({ sql: 'SELECT 1' }, MAX)).toEqual({ sql: 'SELECT 1' });
    expect(usualQueryBody({ sql: 'SELECT 1', engine: 'duckdb', maxRows: MAX }, MAX)).toEqual({
      sql: 'SELECT 1',
      engine: 'duckdb',
      maxRows: MAX,
    });
  });

  it('takes only bodies the schema takes, as the schema gives them', () => {
    let seed = 1;
    const random = () => {
      seed = (seed * 48271) % 2147483647;
      return seed / 2147483647;
    };
    let taken = 0;
    for (let i = 0; i < 20_000; i++) {
      const body = randomBody(random);
      const usual = usualQueryBody(body, MAX);
      const parsed = schema.safeParse(body);
      if (usual !== undefined) {
        taken++;
        expect(parsed.success, JSON.stringify(body)).toBe(true);
        expect(usual).toEqual(parsed.data);
      }
    }
    // Enough of them valid for the comparison to mean something.
    expect(taken).toBeGreaterThan(300);
  });
});
