const decoder = new TextDecoder();

/** The 32-bit FNV-1a hash the interner keys bytes by: callers that scan a field anyway may hash it as they go. */
export const FNV_OFFSET = 0x811c9dc5 | 0;
export const FNV_PRIME = 0x01000193;
const encoder = new TextEncoder();

/**
 * Gives each distinct string of a column a small integer id, straight from the bytes of the file: the scan hashes
 * a field's bytes in place and creates a JavaScript string only once per distinct value, when a result needs it.
 * Id 0 is never used, so that 0 can stand for "no value".
 */
export class Interner {
  #pool = new Uint8Array(1 << 16);
  #poolUsed = 0;
  #offsets: Int32Array<ArrayBuffer> = new Int32Array(1024);
  #lengths: Int32Array<ArrayBuffer> = new Int32Array(1024);
  #hashes: Int32Array<ArrayBuffer> = new Int32Array(1024);
  #strings: (string | undefined)[] = [undefined];
  readonly #byString = new Map<string, number>();
  #count = 1;
  /** Open-addressing table of ids; 0 is empty. Its size is a power of two, kept at most half full. */
  #table = new Int32Array(2048);

  get size(): number {
    return this.#count - 1;
  }

  /** The id of `bytes[start, end)`, adding it when new. */
  internBytes(bytes: Uint8Array, start: number, end: number): number {
    let hash = FNV_OFFSET;
    for (let i = start; i < end; i++) hash = Math.imul(hash ^ (bytes[i] as number), FNV_PRIME);
    return this.internHashed(bytes, start, end, hash);
  }

  /** {@link internBytes} for a caller that has already computed the bytes' FNV-1a hash. */
  internHashed(bytes: Uint8Array, start: number, end: number, hash: number): number {
    const mask = this.#table.length - 1;
    const length = end - start;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const id = this.#table[slot] as number;
      if (id === 0) return this.#add(bytes, start, end, hash, slot);
      if (this.#hashes[id] === hash && this.#lengths[id] === length && this.#equals(id, bytes, start, length))
        return id;
    }
  }

  /** The id of a string (literals, NDJSON values, merged keys): looked up by the string itself first. */
  internString(text: string): number {
    let id = this.#byString.get(text);
    if (id === undefined) {
      const bytes = encoder.encode(text);
      id = this.internBytes(bytes, 0, bytes.length);
      this.#byString.set(text, id);
    }
    return id;
  }

  /** The FNV-1a hash of the bytes of `id`: the same for the same string in every interner. */
  hashOf(id: number): number {
    return this.#hashes[id] as number;
  }

  string(id: number): string {
    let text = this.#strings[id];
    if (text === undefined) {
      const offset = this.#offsets[id] as number;
      text = decoder.decode(this.#pool.subarray(offset, offset + (this.#lengths[id] as number)));
      this.#strings[id] = text;
    }
    return text;
  }

  #equals(id: number, bytes: Uint8Array, start: number, length: number): boolean {
    const pool = this.#pool;
    const offset = this.#offsets[id] as number;
    for (let i = 0; i < length; i++) if (pool[offset + i] !== bytes[start + i]) return false;
    return true;
  }

  #add(bytes: Uint8Array, start: number, end: number, hash: number, slot: number): number {
    const id = this.#count++;
    const length = end - start;
    if (this.#poolUsed + length > this.#pool.length) {
      const pool = new Uint8Array(Math.max(this.#pool.length * 2, this.#poolUsed + length));
      pool.set(this.#pool.subarray(0, this.#poolUsed));
      this.#pool = pool;
    }
    this.#pool.set(bytes.subarray(start, end), this.#poolUsed);
    if (id >= this.#offsets.length) {
      this.#offsets = grow(this.#offsets);
      this.#lengths = grow(this.#lengths);
      this.#hashes = grow(this.#hashes);
    }
    this.#offsets[id] = this.#poolUsed;
    this.#lengths[id] = length;
    this.#hashes[id] = hash;
    this.#poolUsed += length;
    this.#table[slot] = id;
    if (this.#count * 2 > this.#table.length) this.#rehash();
    return id;
  }

  #rehash(): void {
    const table = new Int32Array(this.#table.length * 2);
    const mask = table.length - 1;
    for (let id = 1; id < this.#count; id++) {
      let slot = (this.#hashes[id] as number) & mask;
      while (table[slot] !== 0) slot = (slot + 1) & mask;
      table[slot] = id;
    }
    this.#table = table;
  }
}

function grow(array: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const next = new Int32Array(array.length * 2);
  next.set(array);
  return next;
}
