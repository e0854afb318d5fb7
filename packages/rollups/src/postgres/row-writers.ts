/** The binary COPY header: its signature, its flags and the length of its extension (which follows). */
const HEADER_BYTES = 19;

/** Where a {@link RowWriters} is in the stream. */
enum At {
  /** The header, and then its extension: passed on. */
  Header,
  Extension,
  /** A row's field count (or the trailer's -1): held until whole, then passed on less the dropped field. */
  Count,
  /** The dropped first field: its length (always 4) and the row's xmin. */
  XminLength,
  Xmin,
  /** Another field: its length, then its bytes, passed on. */
  Length,
  Data,
  /** After the trailer: nothing more may come. */
  End,
}

/**
 * The output of `COPY (SELECT xmin, …) TO STDOUT (FORMAT binary)`, passed on without its first column, as if the
 * query had not selected it, and tallied on the way: the rows, and the sum of their `xmin` (the transaction that
 * wrote each). Those two are the fingerprint a later look for late rows compares with (see PostgresRollups), taken
 * from the rows the dump holds rather than from a second scan of the table.
 *
 * The bytes are walked field by field whatever the chunks and the server's messages: a row and any of its numbers
 * may be cut anywhere. A chunk is passed on in place, the dropped bytes squeezed out of it.
 */
export class RowWriters {
  /** Rows passed on. */
  rows = 0;
  /** The sum of the rows' xmin, in two parts: a number kept below 2^53 and what it overflowed into. */
  #sum = 0;
  #carried = 0n;
  #at = At.Header;
  /** The bytes of the header, or of the number under way, still to come; and that number so far. */
  #need = HEADER_BYTES;
  #value = 0;
  /** The header's bytes, held until the extension's length is known. */
  #header = 0;
  /** Fields of the row under way still to come, besides the one being read. */
  #fields = 0;

  /** The sum of the rows' xmin. */
  get writers(): bigint {
    return this.#carried + BigInt(this.#sum);
  }

  /** Whether the trailer came: the stream is whole. */
  get complete(): boolean {
    return this.#at === At.End;
  }

  /**
   * The rows of `input` (a Readable or any stream of chunks), less their first column; a stream that ends before
   * its trailer, or whose first column is not a 4-byte xmin, throws.
   */
  async *strip(input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const chunk of input) yield* this.take(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    if (!this.complete) throw new Error('the binary COPY output ended before its trailer');
  }

  /** The pieces of `chunk` to pass on, in order (`chunk` itself is overwritten with some of them). */
  take(chunk: Buffer): Buffer[] {
    const pieces: Buffer[] = [];
    /** Bytes of `chunk` passed on so far (moved to its front), and where the run being passed on began. */
    let out = 0;
    let run = 0;
    let i = 0;
    const length = chunk.length;
    // Ends the run before `end`: its bytes join those passed on.
    const keep = (end: number): void => {
      if (end > run) {
        if (out !== run) chunk.copyWithin(out, run, end);
        out += end - run;
      }
    };
    while (i < length) {
      if (this.#at === At.Count && this.#need === 2) {
        // Rows whole in the chunk, the most of them, are read here at once; the rest a step at a time below.
        const last = this.#wholeRows(chunk, i, out, run);
        if (last.i !== i) {
          ({ i, out, run } = last);
          continue;
        }
      }
      switch (this.#at) {
        case At.Header:
        case At.Extension: {
          const n = Math.min(this.#need, length - i);
          if (this.#at === At.Header) {
            // The extension's length is the header's last four bytes.
            for (let k = 0; k < n; k++) {
              this.#header++;
              if (this.#header > HEADER_BYTES - 4) this.#value = this.#value * 256 + (chunk[i + k] as number);
            }
          }
          i += n;
          this.#need -= n;
          if (this.#need > 0) break;
          if (this.#at === At.Header) {
            if (this.#value > 0x7fffffff) throw new Error('the binary COPY header is damaged');
            this.#at = At.Extension;
            this.#need = this.#value;
            this.#value = 0;
          }
          if (this.#need === 0) this.#start(At.Count, 2);
          break;
        }
        case At.Count: {
          // A whole count in the chunk is read at once; one cut by the chunk's end is read a byte at a time.
          if (this.#need === 2 && length - i >= 2) {
            this.#value = chunk.readInt16BE(i);
            i += 2;
            this.#need = 0;
          } else {
            this.#value = this.#value * 256 + (chunk[i++] as number);
            if (--this.#need > 0) {
              // Held back: it is passed on, less one, once whole.
              keep(i - 1);
              run = i;
              break;
            }
            this.#value = (this.#value << 16) >> 16;
          }
          const count = this.#value;
          if (count < 1 && count !== -1) throw new Error('a row of the binary COPY output lacks its xmin');
          // The trailer as it is, a row's count less one: where it stood in the chunk when whole in it, or as a
          // piece of its own when cut.
          const passed = count === -1 ? -1 : count - 1;
          if (i - run >= 2) {
            keep(i - 2);
            chunk.writeInt16BE(passed, out);
            out += 2;
          } else {
            keep(run);
            const piece = Buffer.allocUnsafe(2);
            piece.writeInt16BE(passed, 0);
            if (out > 0) pieces.push(Buffer.from(chunk.subarray(0, out)));
            pieces.push(piece);
            // The chunk's front is free again: what was passed on is copied out.
            out = 0;
          }
          run = i;
          if (count === -1) {
            this.#at = At.End;
            break;
          }
          this.rows++;
          this.#fields = count - 1;
          this.#start(At.XminLength, 4);
          break;
        }
        case At.XminLength:
        case At.Xmin:
        case At.Length: {
          if (this.#need === 4 && length - i >= 4) {
            this.#value = this.#at === At.Xmin ? chunk.readUInt32BE(i) : chunk.readInt32BE(i);
            i += 4;
            this.#need = 0;
          } else {
            this.#value = this.#value * 256 + (chunk[i++] as number);
            if (--this.#need > 0) break;
            if (this.#at !== At.Xmin) this.#value |= 0;
          }
          if (this.#at === At.XminLength) {
            if (this.#value !== 4) throw new Error('a row of the binary COPY output lacks its xmin');
            this.#start(At.Xmin, 4);
          } else if (this.#at === At.Xmin) {
            this.#add(this.#value);
            // The dropped field's bytes are squeezed out: the run passed on starts after them.
            keep(Math.max(run, i - 8));
            run = i;
            this.#next();
          } else if (this.#value > 0) {
            this.#at = At.Data;
            this.#need = this.#value;
          } else {
            // NULL (-1) or empty: no bytes follow.
            if (this.#value < -1) throw new Error('a field of the binary COPY output has a negative length');
            this.#next();
          }
          break;
        }
        case At.Data: {
          const n = Math.min(this.#need, length - i);
          i += n;
          this.#need -= n;
          if (this.#need === 0) this.#next();
          break;
        }
        case At.End:
          throw new Error('the binary COPY output goes on after its trailer');
      }
    }
    // The xmin's bytes cut by the chunk's end are not passed on.
    if (this.#at === At.XminLength || this.#at === At.Xmin) keep(Math.max(run, length - this.#xminSoFar()));
    else keep(length);
    if (out > 0) pieces.push(chunk.subarray(0, out));
    return pieces;
  }

  /**
   * Passes on the rows whole in `chunk` from `i` on, each less its xmin (moved to `out`, the run passed on having
   * begun at `run`); stops at the trailer or at a row cut by the chunk's end, which the steps of {@link take} read.
   */
  #wholeRows(chunk: Buffer, i: number, out: number, run: number): { i: number; out: number; run: number } {
    const length = chunk.length;
    while (length - i >= 10) {
      const count = (((chunk[i] as number) << 24) | ((chunk[i + 1] as number) << 16)) >> 16;
      if (count < 1) break;
      const xminLength =
        ((chunk[i + 2] as number) << 24) |
        ((chunk[i + 3] as number) << 16) |
        ((chunk[i + 4] as number) << 8) |
        (chunk[i + 5] as number);
      if (xminLength !== 4) break;
      let end = i + 10;
      let fields = count - 1;
      while (fields > 0 && length - end >= 4) {
        const n =
          ((chunk[end] as number) << 24) |
          ((chunk[end + 1] as number) << 16) |
          ((chunk[end + 2] as number) << 8) |
          (chunk[end + 3] as number);
        if (n < -1) break;
        end += n > 0 ? 4 + n : 4;
        fields--;
      }
      if (fields > 0 || end > length) break;
      this.#add(
        (chunk[i + 6] as number) * 0x1000000 +
          (((chunk[i + 7] as number) << 16) | ((chunk[i + 8] as number) << 8) | (chunk[i + 9] as number)),
      );
      // The run before the row is passed on, then the row's count less one; the row's fields start the next run.
      if (i > run) {
        if (out === run) out = i;
        else {
          chunk.copyWithin(out, run, i);
          out += i - run;
        }
      }
      const passed = count - 1;
      chunk[out] = (passed >> 8) & 0xff;
      chunk[out + 1] = passed & 0xff;
      out += 2;
      run = i + 10;
      i = end;
      this.rows++;
    }
    return { i, out, run };
  }

  /** Bytes of the dropped field read so far (of its eight). */
  #xminSoFar(): number {
    return this.#at === At.XminLength ? 4 - this.#need : 8 - this.#need;
  }

  #start(at: At, need: number): void {
    this.#at = at;
    this.#need = need;
    this.#value = 0;
  }

  /** The next field of the row, or the next row's count. */
  #next(): void {
    if (this.#fields > 0) {
      this.#fields--;
      this.#start(At.Length, 4);
    } else {
      this.#start(At.Count, 2);
    }
  }

  #add(xmin: number): void {
    this.#sum += xmin;
    if (this.#sum > Number.MAX_SAFE_INTEGER - 0xffffffff) {
      this.#carried += BigInt(this.#sum);
      this.#sum = 0;
    }
  }
}
