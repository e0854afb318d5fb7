import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const BLOCK = 4 * 1024 * 1024;
const MIN_BLOCK = 64 * 1024;

/**
 * A file read forward in blocks into one buffer, synchronously (worker threads read so; the main thread only small
 * files). The buffer is a block, or the file's rest when smaller: small files are read by the thousand, and each
 * buffer is memory to allocate. A reader keeps its unfinished record at the buffer's start between blocks, and the
 * buffer doubles when one record fills it.
 */
export class FileBlocks {
  buffer: Buffer;
  /** Bytes of the buffer that hold the file's. */
  filled = 0;
  /** The file offset of `buffer[0]`. */
  offset: number;
  readonly #fd: number;
  readonly #size: number;
  #position: number;

  constructor(path: string, start: number) {
    this.#fd = openSync(path, 'r');
    try {
      this.#size = fstatSync(this.#fd).size;
    } catch (error) {
      closeSync(this.#fd);
      throw error;
    }
    this.buffer = Buffer.allocUnsafe(Math.min(BLOCK, Math.max(MIN_BLOCK, this.#size - start + 1)));
    this.#position = start;
    this.offset = start;
  }

  /** Reads on after what the buffer holds: the bytes read, 0 at the file's end. */
  fill(): number {
    if (this.filled === this.buffer.length) {
      const bigger = Buffer.allocUnsafe(this.buffer.length * 2);
      this.buffer.copy(bigger, 0, 0, this.filled);
      this.buffer = bigger;
    }
    const read =
      this.#position < this.#size
        ? readSync(this.#fd, this.buffer, this.filled, this.buffer.length - this.filled, this.#position)
        : 0;
    this.#position += read;
    this.filled += read;
    return read;
  }

  /** The byte of the file at `position`. */
  byteAt(position: number): number | undefined {
    const one = Buffer.alloc(1);
    return readSync(this.#fd, one, 0, 1, position) === 1 ? one[0] : undefined;
  }

  /** Drops the buffer's first `used` bytes, read and handled: the rest moves to its start. */
  consume(used: number): void {
    this.buffer.copy(this.buffer, 0, used, this.filled);
    this.filled -= used;
    this.offset += used;
  }

  close(): void {
    closeSync(this.#fd);
  }
}
