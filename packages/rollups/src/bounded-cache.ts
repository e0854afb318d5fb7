/** An insertion-ordered cache of at most `limit` entries: the oldest entry goes first. */
export class BoundedCache<K, V> {
  readonly #entries = new Map<K, V>();
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  has(key: K): boolean {
    return this.#entries.has(key);
  }

  get(key: K): V | undefined {
    return this.#entries.get(key);
  }

  /** Stores `value` and returns it. */
  set(key: K, value: V): V {
    if (this.#entries.size >= this.#limit && !this.#entries.has(key))
      this.#entries.delete(this.#entries.keys().next().value as K);
    this.#entries.set(key, value);
    return value;
  }
}
