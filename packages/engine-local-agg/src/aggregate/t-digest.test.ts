import { describe, expect, it } from 'vitest';
import { seededRandom } from '../test-support.js';
import { TDigest, type TDigestState } from './t-digest.js';

function uniform(n: number, seed: number): Float64Array {
  const random = seededRandom(seed);
  return Float64Array.from({ length: n }, () => random());
}

/** Log-normal (μ = 1, σ = 1.5): heavily skewed, like response times. */
function logNormal(n: number, seed: number): Float64Array {
  const random = seededRandom(seed);
  return Float64Array.from({ length: n }, () => {
    const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    return Math.exp(1 + 1.5 * normal);
  });
}

/** The fraction of `sorted` below `value`, counting values equal to it as half below. */
function rank(sorted: Float64Array, value: number): number {
  const firstAtLeast = search(sorted, (x) => x < value);
  const firstAbove = search(sorted, (x) => x <= value);
  return (firstAtLeast + firstAbove) / 2 / sorted.length;
}

function search(sorted: Float64Array, before: (x: number) => boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(sorted[mid] as number)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function digestOf(values: ArrayLike<number>): TDigest {
  const digest = new TDigest();
  for (let i = 0; i < values.length; i++) digest.add(values[i] as number);
  return digest;
}

/** Builds one digest per contiguous eighth of `values`, then merges them, as workers' partial states would be. */
function mergedShards(values: Float64Array): TDigest {
  const shards = 8;
  const size = Math.ceil(values.length / shards);
  const merged = new TDigest();
  for (let start = 0; start < values.length; start += size)
    merged.merge(digestOf(values.subarray(start, start + size)));
  return merged;
}

const BODY = [0.01, 0.1, 0.5, 0.9, 0.99];
const TAILS = [0.99, 0.999];
/** The stated bounds (see t-digest.ts); measured worst cases are 0.0023 in the body, 0.0012 at 0.99. */
const BODY_BOUND = 0.01;
const TAIL_BOUND = 0.002;

function expectRankErrors(digest: TDigest, values: Float64Array): void {
  const sorted = Float64Array.from(values).sort();
  const error = (q: number) => Math.abs(rank(sorted, digest.quantile(q) as number) - q);
  for (const q of BODY) expect(error(q), `rank error at q = ${q}`).toBeLessThanOrEqual(BODY_BOUND);
  for (const q of TAILS) expect(error(q), `rank error at q = ${q}`).toBeLessThanOrEqual(TAIL_BOUND);
}

const datasets: readonly (readonly [string, (seed: number) => Float64Array])[] = [
  ['uniform', (seed) => uniform(100_000, seed)],
  ['log-normal', (seed) => logNormal(100_000, seed)],
];

describe('TDigest', () => {
  it('has no quantiles and a count of 0 when empty', () => {
    const digest = new TDigest();
    expect(digest.count).toBe(0);
    expect(digest.quantile(0)).toBeNull();
    expect(digest.quantile(0.5)).toBeNull();
    expect(digest.quantile(1)).toBeNull();
  });

  it('answers every quantile of a single value with that value', () => {
    const digest = new TDigest();
    digest.add(42.5);
    for (const q of [0, 0.001, 0.5, 0.999, 1]) expect(digest.quantile(q)).toBe(42.5);
    expect(digest.count).toBe(1);
  });

  it('interpolates between the centres of small centroids', () => {
    const digest = digestOf([4, 1, 3, 2]);
    expect(digest.quantile(0.5)).toBe(2.5);
    expect(digest.quantile(0.375)).toBe(2);
  });

  it('returns the exact min at 0 and the exact max at 1', () => {
    const values = logNormal(100_000, 7);
    const digest = digestOf(values);
    expect(digest.quantile(0)).toBe(Math.min(...values));
    expect(digest.quantile(1)).toBe(Math.max(...values));
  });

  it('skips NaN and infinite values', () => {
    const digest = digestOf([1, Number.NaN, 2, Number.POSITIVE_INFINITY, 3, Number.NEGATIVE_INFINITY]);
    expect(digest.count).toBe(3);
    expect([digest.quantile(0), digest.quantile(1)]).toEqual([1, 3]);
  });

  it('refuses fractions outside [0, 1], bad weights and bad compressions', () => {
    const digest = digestOf([1, 2, 3]);
    for (const q of [-0.1, 1.1, Number.NaN]) expect(() => digest.quantile(q)).toThrow(RangeError);
    for (const weight of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => digest.add(1, weight)).toThrow(RangeError);
    }
    for (const compression of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new TDigest(compression)).toThrow(RangeError);
    }
  });

  it('keeps at most about `compression` centroids', () => {
    for (const compression of [20, 100, 300]) {
      const digest = new TDigest(compression);
      for (const value of logNormal(50_000, 3)) digest.add(value);
      expect(digest.toJSON().means.length).toBeLessThanOrEqual(compression);
    }
  });

  it('handles long runs of equal values', () => {
    const digest = new TDigest();
    for (let i = 0; i < 200_000; i++) digest.add(i % 1000 === 0 ? 9 : 5);
    expect(digest.quantile(0.5)).toBe(5);
    expect(digest.quantile(1)).toBe(9);
  });

  for (const [name, generate] of datasets) {
    it(`keeps rank errors within bounds for 100k ${name} values`, () => {
      for (const seed of [1, 2, 3]) {
        const values = generate(seed);
        expectRankErrors(digestOf(values), values);
      }
    });

    it(`keeps the same bounds when 8 shards of ${name} values are merged`, () => {
      for (const seed of [4, 5, 6]) {
        const values = generate(seed);
        expectRankErrors(mergedShards(values), values);
        // Shards holding disjoint ranges of values, as when files are sorted by the column.
        expectRankErrors(mergedShards(Float64Array.from(values).sort()), values);
      }
    });
  }

  it('leaves the merged-in digest unchanged', () => {
    const ours = digestOf(uniform(10_000, 8));
    const theirs = digestOf(logNormal(10_000, 9));
    const before = theirs.toJSON();
    ours.merge(theirs);
    expect(theirs.toJSON()).toEqual(before);
    expect(ours.count).toBe(20_000);
  });

  it('merges an empty digest, and into an empty digest', () => {
    const values = uniform(1_000, 10);
    const full = digestOf(values);
    full.merge(new TDigest());
    const empty = new TDigest();
    empty.merge(full);
    for (const q of [0, 0.25, 0.5, 0.75, 1]) expect(empty.quantile(q)).toBe(full.quantile(q));
    expect(empty.count).toBe(1_000);
  });

  it('counts buffered and merged weight', () => {
    const digest = new TDigest();
    digest.add(1);
    digest.add(2, 2.5);
    expect(digest.count).toBe(3.5);
    const other = new TDigest();
    for (let i = 0; i < 1_000; i++) other.add(i);
    digest.merge(other);
    expect(digest.count).toBe(1_003.5);
  });

  it('treats a weight as that many copies of the value', () => {
    // Values below 0.5 weigh 3, the rest 1; the same values written out 3 times give the ranks to compare with.
    const values = uniform(50_000, 11);
    const weighted = new TDigest();
    const copies: number[] = [];
    for (const value of values) {
      const weight = value < 0.5 ? 3 : 1;
      weighted.add(value, weight);
      for (let i = 0; i < weight; i++) copies.push(value);
    }
    expect(weighted.count).toBe(copies.length);
    const sorted = Float64Array.from(copies).sort();
    for (const q of [0.1, 0.375, 0.5, 0.75, 0.875, 0.99]) {
      expect(Math.abs(rank(sorted, weighted.quantile(q) as number) - q), `at q = ${q}`).toBeLessThanOrEqual(BODY_BOUND);
    }
  });

  it('round-trips through toJSON/fromJSON, JSON text and structured clone', () => {
    const digest = digestOf(logNormal(100_000, 12));
    digest.add(3); // left in the buffer: toJSON must include it
    const state = digest.toJSON();
    expect(Object.keys(state).sort()).toEqual(['compression', 'max', 'means', 'min', 'weights']);
    const restored = [
      TDigest.fromJSON(state),
      TDigest.fromJSON(JSON.parse(JSON.stringify(state)) as TDigestState),
      TDigest.fromJSON(structuredClone(state)),
    ];
    for (const copy of restored) {
      expect(copy.count).toBe(digest.count);
      expect(copy.toJSON()).toEqual(state);
      for (const q of [0, 0.001, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 1])
        expect(copy.quantile(q)).toBe(digest.quantile(q));
    }
  });

  it('round-trips an empty digest through JSON text', () => {
    const state = JSON.parse(JSON.stringify(new TDigest(50).toJSON())) as TDigestState;
    const restored = TDigest.fromJSON(state);
    expect(restored.count).toBe(0);
    expect(restored.quantile(0.5)).toBeNull();
    expect(restored.toJSON().compression).toBe(50);
  });

  it('refuses states no digest could have produced', () => {
    const good: TDigestState = { compression: 100, means: [1, 2], weights: [1, 1], min: 1, max: 2 };
    expect(TDigest.fromJSON(good).quantile(0.5)).toBe(1.5);
    const bad: TDigestState[] = [
      { ...good, weights: [1] },
      { ...good, means: [2, 1] },
      { ...good, weights: [1, 0] },
      { ...good, means: [1, Number.NaN] },
      { ...good, min: 1.5 },
      { ...good, max: 1.5 },
      { ...good, compression: 0 },
    ];
    for (const state of bad) expect(() => TDigest.fromJSON(state)).toThrow(RangeError);
  });
});
