/**
 * A merging t-digest (Dunning & Ertl, "Computing extremely accurate quantiles using t-digests") for
 * `approx_quantile(x, p)`: a sketch of bounded size whose partial states, built in separate workers, merge into one.
 *
 * Values are centroids (mean, weight) sorted by mean. The k1 scale function k(q) = δ/(2π)·asin(2q−1) lets a
 * centroid span at most 1 unit of k, so centroids are small near q = 0 and q = 1 (accurate tails) and at most
 * about π/δ of the weight in the middle; a digest holds at most about δ centroids.
 *
 * Accuracy measured by the tests, with the default compression of 100, on 100 000 seeded values (uniform and
 * log-normal, fed in one digest or as 8 merged shards): the rank of the estimate is within 0.01 of q for q in
 * {0.01, 0.1, 0.5, 0.9, 0.99}, and within 0.002 of q at 0.99 and 0.999. The worst errors seen over 20 seeds
 * leave margin: 0.0015 in one digest and 0.0023 merged, at 0.01..0.9; 0.0012 at 0.99; 0.0006 at 0.999.
 *
 * @example
 * const digest = new TDigest();
 * for (const ms of latencies) digest.add(ms);
 * digest.quantile(0.99); // ≈ the 99th percentile
 */

const DEFAULT_COMPRESSION = 100;
/** The buffer holds this many values per unit of compression before it is merged into the centroids. */
const BUFFER_FACTOR = 5;
/** A digest starts small and grows its arrays, so that a GROUP BY with many small groups stays cheap. */
const INITIAL_CAPACITY = 16;
/** Ranges at most this long are insertion-sorted: quicker than partitioning them further. */
const INSERTION_SORT_LIMIT = 24;

/** A digest as plain data: compact and safe to post between workers or to write as JSON. */
export interface TDigestState {
  readonly compression: number;
  /** Centroid means, ascending. */
  readonly means: readonly number[];
  /** Centroid weights, positive, one per mean. */
  readonly weights: readonly number[];
  /** The exact smallest and largest values added; 0 when the digest is empty. */
  readonly min: number;
  readonly max: number;
}

/**
 * Work space for merging, shared by every digest of this thread: merging is synchronous and never re-entered, and
 * one shared space instead of one per digest keeps a digest's own memory to its centroids and buffer.
 */
let scratchMeans = new Float64Array(0);
let scratchWeights = new Float64Array(0);

export class TDigest {
  readonly #compression: number;
  readonly #bufferLimit: number;
  #bufferMeans = new Float64Array(0);
  #bufferWeights = new Float64Array(0);
  #buffered = 0;
  #means = new Float64Array(0);
  #weights = new Float64Array(0);
  #centroids = 0;
  /** Total weight, buffered values included. */
  #count = 0;
  #min = Number.POSITIVE_INFINITY;
  #max = Number.NEGATIVE_INFINITY;
  /**
   * The greedy merge packs centroids full from the side it starts at and leaves the last one short; alternating the
   * direction, as Dunning's reference implementation does, keeps that from piling up at one end.
   */
  #fromRight = false;

  constructor(compression = DEFAULT_COMPRESSION) {
    if (!(compression > 0 && compression < Number.POSITIVE_INFINITY)) {
      throw new RangeError(`t-digest compression must be a positive number, got ${compression}`);
    }
    this.#compression = compression;
    this.#bufferLimit = Math.max(INITIAL_CAPACITY, Math.ceil(BUFFER_FACTOR * compression));
  }

  /** Total weight added (the number of values when every weight is 1). */
  get count(): number {
    return this.#count;
  }

  /**
   * Adds `value` with `weight` (default 1). Non-finite values (NaN, ±Infinity) are skipped: a centroid's mean can't
   * hold them. Allocation-free except while the buffer is still growing towards its full size.
   */
  add(value: number, weight = 1): void {
    if (!(weight > 0 && weight < Number.POSITIVE_INFINITY)) {
      throw new RangeError(`t-digest weight must be a positive number, got ${weight}`);
    }
    if (!Number.isFinite(value)) return;
    if (this.#buffered === this.#bufferMeans.length) this.#makeRoom();
    this.#bufferMeans[this.#buffered] = value;
    this.#bufferWeights[this.#buffered] = weight;
    this.#buffered++;
    this.#count += weight;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
  }

  /** Adds everything in `other` to this digest; `other` keeps its contents. */
  merge(other: TDigest): void {
    other.#flush();
    this.#flush();
    const theirs = other.#centroids;
    if (theirs === 0) return;
    const total = this.#count + other.#count;
    const size = this.#centroids + theirs;
    ensureScratch(size);
    mergeSorted(this.#means, this.#weights, this.#centroids, other.#means, other.#weights, theirs);
    this.#count = total;
    this.#min = Math.min(this.#min, other.#min);
    this.#max = Math.max(this.#max, other.#max);
    this.#compress(size);
  }

  /**
   * The estimated value at fraction `q` (0..1) of the weight, interpolated between centroid centres; exactly the
   * smallest value at 0 and the largest at 1. Null when the digest is empty.
   */
  quantile(q: number): number | null {
    if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile fraction must be within [0, 1], got ${q}`);
    this.#flush();
    if (this.#centroids === 0) return null;
    if (q === 0) return this.#min;
    if (q === 1) return this.#max;
    const estimate = this.#interpolate(q * this.#count);
    // Incremental means can stray from [min, max] by a rounding error; an estimate never should.
    return Math.min(this.#max, Math.max(this.#min, estimate));
  }

  toJSON(): TDigestState {
    this.#flush();
    const empty = this.#centroids === 0;
    return {
      compression: this.#compression,
      means: Array.from(this.#means.subarray(0, this.#centroids)),
      weights: Array.from(this.#weights.subarray(0, this.#centroids)),
      // ±Infinity, the bounds of nothing, would not survive JSON.stringify.
      min: empty ? 0 : this.#min,
      max: empty ? 0 : this.#max,
    };
  }

  /** Rebuilds a digest from `toJSON()` output; throws a RangeError for a state no digest could have produced. */
  static fromJSON(state: TDigestState): TDigest {
    const digest = new TDigest(state.compression);
    const size = checkState(state);
    if (size === 0) return digest;
    digest.#means = Float64Array.from(state.means);
    digest.#weights = Float64Array.from(state.weights);
    digest.#centroids = size;
    digest.#count = digest.#weights.reduce((sum, weight) => sum + weight, 0);
    digest.#min = state.min;
    digest.#max = state.max;
    return digest;
  }

  /** Grows the buffer while it is below its full size, and merges it once it has reached it. */
  #makeRoom(): void {
    const capacity = this.#bufferMeans.length;
    if (capacity >= this.#bufferLimit) {
      this.#flush();
      return;
    }
    const next = Math.min(this.#bufferLimit, Math.max(INITIAL_CAPACITY, capacity * 2));
    this.#bufferMeans = resized(this.#bufferMeans, next);
    this.#bufferWeights = resized(this.#bufferWeights, next);
  }

  /** Sorts the buffer and merges it into the centroids. */
  #flush(): void {
    const buffered = this.#buffered;
    if (buffered === 0) return;
    sortPairs(this.#bufferMeans, this.#bufferWeights, 0, buffered - 1);
    const size = this.#centroids + buffered;
    ensureScratch(size);
    mergeSorted(this.#means, this.#weights, this.#centroids, this.#bufferMeans, this.#bufferWeights, buffered);
    this.#buffered = 0;
    this.#compress(size);
  }

  /**
   * Greedily combines the `size` sorted entries in the scratch space into as few centroids as the scale function
   * allows, then keeps them as this digest's centroids. Requires `#count` to be the scratch entries' total weight.
   */
  #compress(size: number): void {
    const fromRight = this.#fromRight;
    this.#fromRight = !fromRight;
    const total = this.#count;
    const at = (i: number): number => (fromRight ? size - 1 - i : i);
    let written = 0;
    let closedWeight = 0;
    let limit = total * this.#nextQuantileLimit(0);
    let mean = scratchMeans[at(0)] as number;
    let weight = scratchWeights[at(0)] as number;
    for (let i = 1; i < size; i++) {
      const index = at(i);
      const next = scratchWeights[index] as number;
      if (closedWeight + weight + next <= limit) {
        weight += next;
        mean += (((scratchMeans[index] as number) - mean) * next) / weight;
        continue;
      }
      // Writing in place is safe: the write position never passes the entry being read.
      scratchMeans[at(written)] = mean;
      scratchWeights[at(written)] = weight;
      written++;
      closedWeight += weight;
      limit = total * this.#nextQuantileLimit(closedWeight / total);
      mean = scratchMeans[index] as number;
      weight = next;
    }
    scratchMeans[at(written)] = mean;
    scratchWeights[at(written)] = weight;
    written++;
    this.#keepScratch(fromRight ? size - written : 0, written);
  }

  /** The largest q a centroid starting at `q` may reach: one unit further along the k1 scale. */
  #nextQuantileLimit(q: number): number {
    const delta = this.#compression;
    // Rounding can carry a running weight fraction just past 1, where asin() is NaN.
    const k = (delta / (2 * Math.PI)) * Math.asin(2 * Math.min(q, 1) - 1) + 1;
    // Past the top of the scale sin() would turn back down; the limit is then simply everything.
    if (k >= delta / 4) return 1;
    return (Math.sin((2 * Math.PI * k) / delta) + 1) / 2;
  }

  #keepScratch(start: number, size: number): void {
    if (this.#means.length < size) {
      const capacity = Math.max(size, INITIAL_CAPACITY, this.#means.length * 2);
      this.#means = new Float64Array(capacity);
      this.#weights = new Float64Array(capacity);
    }
    this.#means.set(scratchMeans.subarray(start, start + size));
    this.#weights.set(scratchWeights.subarray(start, start + size));
    this.#centroids = size;
  }

  /**
   * The value at cumulative weight `target`. Each centroid's mean stands at the middle of its weight; the min sits
   * at 0 and the max at the total, so the outer half-centroids interpolate towards the exact extremes.
   */
  #interpolate(target: number): number {
    const means = this.#means;
    const weights = this.#weights;
    const last = this.#centroids - 1;
    const firstHalf = (weights[0] as number) / 2;
    if (target <= firstHalf) return lerp(this.#min, means[0] as number, target / firstHalf);
    const lastHalf = (weights[last] as number) / 2;
    const lastCentre = this.#count - lastHalf;
    if (target >= lastCentre) return lerp(means[last] as number, this.#max, (target - lastCentre) / lastHalf);
    let centre = firstHalf;
    for (let i = 0; i < last; i++) {
      const next = centre + ((weights[i] as number) + (weights[i + 1] as number)) / 2;
      if (target <= next) return lerp(means[i] as number, means[i + 1] as number, (target - centre) / (next - centre));
      centre = next;
    }
    return means[last] as number;
  }
}

function lerp(from: number, to: number, fraction: number): number {
  return from + (to - from) * fraction;
}

function resized(array: Float64Array, capacity: number): Float64Array<ArrayBuffer> {
  const next = new Float64Array(capacity);
  next.set(array.subarray(0, Math.min(array.length, capacity)));
  return next;
}

function ensureScratch(size: number): void {
  if (scratchMeans.length >= size) return;
  const capacity = Math.max(size, scratchMeans.length * 2);
  scratchMeans = new Float64Array(capacity);
  scratchWeights = new Float64Array(capacity);
}

/** Merges two sorted runs of (mean, weight) into the scratch space. */
function mergeSorted(
  leftMeans: Float64Array,
  leftWeights: Float64Array,
  leftSize: number,
  rightMeans: Float64Array,
  rightWeights: Float64Array,
  rightSize: number,
): void {
  let left = 0;
  let right = 0;
  let out = 0;
  while (left < leftSize && right < rightSize) {
    if ((leftMeans[left] as number) <= (rightMeans[right] as number)) {
      scratchMeans[out] = leftMeans[left] as number;
      scratchWeights[out++] = leftWeights[left++] as number;
    } else {
      scratchMeans[out] = rightMeans[right] as number;
      scratchWeights[out++] = rightWeights[right++] as number;
    }
  }
  scratchMeans.set(leftMeans.subarray(left, leftSize), out);
  scratchWeights.set(leftWeights.subarray(left, leftSize), out);
  out += leftSize - left;
  scratchMeans.set(rightMeans.subarray(right, rightSize), out);
  scratchWeights.set(rightWeights.subarray(right, rightSize), out);
}

/**
 * Sorts `keys[lo..hi]` (inclusive) ascending, moving `values` along. Quicksort with Hoare partitioning, which
 * splits runs of equal keys evenly: SQL columns are full of duplicates, and a partition that put them all on one
 * side would go quadratic.
 */
function sortPairs(keys: Float64Array, values: Float64Array, lo: number, hi: number): void {
  while (hi - lo >= INSERTION_SORT_LIMIT) {
    const split = partition(keys, values, lo, hi);
    // Recurse into the smaller side and loop on the larger, so the stack stays logarithmic.
    if (split - lo < hi - split) {
      sortPairs(keys, values, lo, split);
      lo = split + 1;
    } else {
      sortPairs(keys, values, split + 1, hi);
      hi = split;
    }
  }
  insertionSort(keys, values, lo, hi);
}

/** Hoare partition around the median of three; returns `split` with keys[lo..split] ≤ keys[split+1..hi]. */
function partition(keys: Float64Array, values: Float64Array, lo: number, hi: number): number {
  const pivot = medianOfThree(keys[lo] as number, keys[(lo + hi) >>> 1] as number, keys[hi] as number);
  let i = lo - 1;
  let j = hi + 1;
  for (;;) {
    do i++;
    while ((keys[i] as number) < pivot);
    do j--;
    while ((keys[j] as number) > pivot);
    if (i >= j) return j;
    swap(keys, i, j);
    swap(values, i, j);
  }
}

function medianOfThree(a: number, b: number, c: number): number {
  if (a < b) return b < c ? b : a < c ? c : a;
  return a < c ? a : b < c ? c : b;
}

function swap(array: Float64Array, i: number, j: number): void {
  const held = array[i] as number;
  array[i] = array[j] as number;
  array[j] = held;
}

function insertionSort(keys: Float64Array, values: Float64Array, lo: number, hi: number): void {
  for (let i = lo + 1; i <= hi; i++) {
    const key = keys[i] as number;
    const value = values[i] as number;
    let j = i - 1;
    while (j >= lo && (keys[j] as number) > key) {
      keys[j + 1] = keys[j] as number;
      values[j + 1] = values[j] as number;
      j--;
    }
    keys[j + 1] = key;
    values[j + 1] = value;
  }
}

/** Checks a state's shape and returns its number of centroids. */
function checkState(state: TDigestState): number {
  const { means, weights, min, max } = state;
  if (means.length !== weights.length) throw new RangeError('t-digest state has unequal numbers of means and weights');
  for (let i = 0; i < means.length; i++) {
    const mean = means[i] as number;
    const weight = weights[i] as number;
    if (!Number.isFinite(mean) || !(weight > 0 && weight < Number.POSITIVE_INFINITY)) {
      throw new RangeError(`t-digest state has an invalid centroid at ${i}`);
    }
    if (i > 0 && mean < (means[i - 1] as number)) throw new RangeError('t-digest state means are not sorted');
  }
  if (means.length > 0 && !(min <= (means[0] as number) && max >= (means[means.length - 1] as number))) {
    throw new RangeError('t-digest state min/max do not enclose its centroids');
  }
  return means.length;
}
