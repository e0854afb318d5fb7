/**
 * Helpers for an engine factory's `parseConfig`: read one setting of the section, noting a problem (and using the
 * default) when it has the wrong shape, so that every problem is reported at once.
 */

/** An optional positive integer setting: `fallback` when absent; a problem named after `key` when not one. */
export function positiveInteger(
  input: Readonly<Record<string, unknown>>,
  key: string,
  fallback: number,
  problems: string[],
): number {
  const value = input[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    problems.push(`${key}: must be a positive integer`);
    return fallback;
  }
  return value;
}
