import { describe, expect, it } from 'vitest';
import { likeMatcher } from './like.js';

/** The same pattern as a regular expression, the reference for short inputs. */
const reference = (pattern: string, value: string): boolean =>
  new RegExp(
    `^${pattern
      .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      .replaceAll('%', '.*')
      .replaceAll('_', '.')}$`,
    's',
  ).test(value);

describe('LIKE without regular expressions', () => {
  it('agrees with a regular expression on every pattern and value over a small alphabet', () => {
    const alphabet = ['a', 'b', '%', '_'];
    const words = (length: number, letters: readonly string[]): string[] =>
      length === 0 ? [''] : words(length - 1, letters).flatMap((w) => letters.map((l) => w + l));
    const patterns = [0, 1, 2, 3, 4].flatMap((n) => words(n, alphabet));
    const values = [0, 1, 2, 3, 4].flatMap((n) => words(n, ['a', 'b']));
    let compared = 0;
    for (const pattern of patterns) {
      const match = likeMatcher(pattern);
      for (const value of values) {
        expect(match(value), `${pattern} ~ ${value}`).toBe(reference(pattern, value));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(10_000);
  });

  it('matches a pattern that makes a regex backtrack in well under a millisecond per value', () => {
    const match = likeMatcher(`${'%'.repeat(5000)}z`);
    const started = performance.now();
    expect(match('a'.repeat(10_000))).toBe(false);
    expect(match(`${'a'.repeat(10_000)}z`)).toBe(true);
    expect(performance.now() - started).toBeLessThan(50);
  });

  it('folds case when asked', () => {
    expect(likeMatcher('AC%', false)('acme')).toBe(true);
    expect(likeMatcher('AC%')('acme')).toBe(false);
  });
});
