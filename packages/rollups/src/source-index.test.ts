import { describe, expect, it } from 'vitest';
import { fingerprint, groupContexts } from './rollup-context.js';
import { SourceIndex } from './source-index.js';
import { MINUTE, snapshotOf, T0, trafficRollup } from './test-support.js';

describe('the fingerprints of the files each interval reads', () => {
  it('names every file that overlaps an interval, in name order, as records made before named them', () => {
    const [context] = groupContexts({ acme: [trafficRollup()] }, T0);
    if (!context) throw new Error('no context');
    // b.csv holds the first hour, a.csv the last half of it and the next; c.csv has no known span.
    const snapshot = snapshotOf('acme', 'traffic', ['/data/b.csv', '/data/a.csv', '/data/c.csv']);
    const spans = [
      { minMs: T0, maxMs: T0 + 60 * MINUTE - 1 },
      { minMs: T0 + 30 * MINUTE, maxMs: T0 + 90 * MINUTE - 1 },
      null,
    ];
    const inputs = SourceIndex.inputsByInterval(context, snapshot, spans, T0, T0 + 120 * MINUTE);
    const only = (path: string): string => fingerprint(`${path}\0v1`);
    const both = fingerprint('/data/a.csv\0v1\n/data/b.csv\0v1');
    expect(inputs.get(T0)).toBe(only('/data/b.csv'));
    expect(inputs.get(T0 + 25 * MINUTE)).toBe(only('/data/b.csv'));
    expect(inputs.get(T0 + 30 * MINUTE)).toBe(both);
    expect(inputs.get(T0 + 55 * MINUTE)).toBe(both);
    expect(inputs.get(T0 + 60 * MINUTE)).toBe(only('/data/a.csv'));
    expect(inputs.get(T0 + 85 * MINUTE)).toBe(only('/data/a.csv'));
    // No file overlaps the last half hour.
    expect(inputs.has(T0 + 90 * MINUTE)).toBe(false);
    expect(inputs.size).toBe(18);
  });
});
