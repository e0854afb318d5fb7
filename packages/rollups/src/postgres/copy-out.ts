import { type Duplex, Readable } from 'node:stream';
import type { Connection, Submittable } from 'pg';

/** Message codes of the protocol's COPY OUT sub-protocol that the stream acts on. */
const COPY_DATA = 0x64; // d
const COPY_DONE = 0x63; // c
const ERROR_RESPONSE = 0x45; // E
/** A message's code and its length (which counts itself). */
const HEADER_BYTES = 5;

/**
 * The output of `COPY ... TO STDOUT`, read straight from the connection's socket. The server sends a message per
 * row; rather than a buffer per message, each chunk the socket gives has its messages' framing stripped in place
 * (the rows' bytes moved to the chunk's front) and is passed on whole, so a dump of millions of rows costs a few
 * hundred chunks, not millions of buffers on the event loop.
 *
 * Submitted to a pg client (`client.query(new CopyOutStream(text))`), it takes the socket's data from pg's parser
 * for the copy's length and gives back what follows the copy (the command's completion, or an error for pg to
 * report through {@link handleError}). Notices during the copy are dropped.
 */
export class CopyOutStream extends Readable implements Submittable {
  readonly #text: string;
  #connection: Connection | undefined;
  /** pg's parser, which reads the socket again once the copy ends. */
  #parser: ((chunk: Buffer) => void) | undefined;
  /** The start of a message header cut by the end of a chunk. */
  readonly #header = Buffer.alloc(HEADER_BYTES);
  #headerBytes = 0;
  /** The message under way: its code, and the bytes of its body still to come. */
  #code = 0;
  #remaining = 0;
  /** The reader wants more: the socket is read until it has none or the reader has enough. */
  #wanted = false;
  #reading = false;
  /** The copy's messages are all read: the socket is pg's again. */
  #over = false;
  /** Rows the server reports it copied. */
  rowCount: number | undefined;

  constructor(text: string) {
    super();
    this.#text = text;
  }

  submit(connection: Connection): void {
    this.#connection = connection;
    const socket = connection.stream;
    const [parser] = socket.listeners('data') as ((chunk: Buffer) => void)[];
    if (!parser) throw new Error('the connection has no reader to take the copy from');
    this.#parser = parser;
    socket.removeListener('data', parser);
    socket.pause();
    socket.on('readable', this.#pump);
    connection.query(this.#text);
  }

  override _read(): void {
    this.#wanted = true;
    this.#pump();
  }

  readonly #pump = (): void => {
    const socket = this.#connection?.stream;
    if (this.#reading || !socket || this.#over) return;
    this.#reading = true;
    try {
      while (this.#wanted && !this.#over) {
        const chunk = socket.read() as Buffer | null;
        if (chunk === null) break;
        this.#wanted = this.#strip(chunk);
      }
    } finally {
      this.#reading = false;
    }
  };

  /** Passes on the rows' bytes of `chunk`; false when the reader has enough for now. */
  #strip(chunk: Buffer): boolean {
    let out = 0;
    let i = 0;
    while (i < chunk.length) {
      if (this.#remaining > 0) {
        const n = Math.min(this.#remaining, chunk.length - i);
        if (this.#code === COPY_DATA) {
          if (out !== i) chunk.copyWithin(out, i, i + n);
          out += n;
        }
        i += n;
        this.#remaining -= n;
        continue;
      }
      // A message's header, whole in the chunk or continued from the previous one.
      let header: Buffer;
      let at: number;
      let body: number;
      if (this.#headerBytes === 0 && chunk.length - i >= HEADER_BYTES) {
        header = chunk;
        at = i;
        body = i + HEADER_BYTES;
      } else {
        const n = Math.min(HEADER_BYTES - this.#headerBytes, chunk.length - i);
        chunk.copy(this.#header, this.#headerBytes, i, i + n);
        this.#headerBytes += n;
        i += n;
        if (this.#headerBytes < HEADER_BYTES) break;
        this.#headerBytes = 0;
        header = this.#header;
        at = 0;
        body = i;
      }
      const code = header[at] as number;
      if (code === ERROR_RESPONSE) {
        // pg parses the error, from the message's start, and reports it to handleError.
        const rest = header === chunk ? chunk.subarray(at) : Buffer.concat([this.#header, chunk.subarray(body)]);
        this.#finish(chunk.subarray(0, out), rest, false);
        return false;
      }
      this.#code = code;
      this.#remaining = header.readInt32BE(at + 1) - 4;
      i = body;
      if (code === COPY_DONE) {
        // (It has no body.) What follows, the command's completion, is pg's.
        this.#finish(chunk.subarray(0, out), chunk.subarray(i + this.#remaining), true);
        return false;
      }
    }
    return out === 0 || this.push(chunk.subarray(0, out));
  }

  /** The copy is over: its last rows are passed on, and what follows goes back to pg's parser. */
  #finish(rows: Buffer, rest: Buffer, done: boolean): void {
    const socket = this.#connection?.stream as Duplex;
    const parser = this.#parser as (chunk: Buffer) => void;
    this.#over = true;
    socket.removeListener('readable', this.#pump);
    socket.on('data', parser);
    if (rows.length > 0) this.push(rows);
    if (done) this.push(null);
    if (rest.length > 0) parser(rest);
    // The socket was paused for the copy; it flows again for pg once this message's handling is over.
    process.nextTick(() => socket.resume());
  }

  /** pg reports an error of the server's, or the connection's loss. */
  handleError(error: Error): void {
    this.destroy(error);
  }

  handleCommandComplete(message: { text?: string }): void {
    const copied = /^COPY (\d+)/.exec(message.text ?? '');
    if (copied) this.rowCount = Number(copied[1]);
  }

  handleReadyForQuery(): void {}
}
