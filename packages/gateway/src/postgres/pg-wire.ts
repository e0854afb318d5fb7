/**
 * The byte level of the Postgres protocol v3: framing of what clients send (a startup packet, then typed
 * messages) and a builder for what the server sends. Nothing here knows what a message means.
 */

const EMPTY = Buffer.alloc(0);

/** A message a client sent that breaks the protocol: answered with 08P01 and the connection closed. */
export class ProtocolViolation extends Error {
  override readonly name = 'ProtocolViolation';
}

/** Text that is not valid UTF-8 (client_encoding is UTF8): refused as an error, the connection stays. */
export class InvalidText extends Error {
  override readonly name = 'InvalidText';
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Reads the fields of one message's body, refusing to read past its end. */
export class MessageReader {
  readonly #body: Buffer;
  #offset = 0;

  constructor(body: Buffer) {
    this.#body = body;
  }

  get remaining(): number {
    return this.#body.length - this.#offset;
  }

  #need(bytes: number, what: string): void {
    if (this.#offset + bytes > this.#body.length) {
      throw new ProtocolViolation(`The message ends inside its ${what}: its length does not match its contents.`);
    }
  }

  byte(): number {
    this.#need(1, 'fields');
    return this.#body[this.#offset++] as number;
  }

  int16(): number {
    this.#need(2, 'fields');
    const value = this.#body.readInt16BE(this.#offset);
    this.#offset += 2;
    return value;
  }

  /** A count of the protocol's (of parameters, of formats): an unsigned 16-bit number, as the server reads it. */
  uint16(): number {
    this.#need(2, 'fields');
    const value = this.#body.readUInt16BE(this.#offset);
    this.#offset += 2;
    return value;
  }

  int32(): number {
    this.#need(4, 'fields');
    const value = this.#body.readInt32BE(this.#offset);
    this.#offset += 4;
    return value;
  }

  /** A NUL-terminated UTF-8 string; bytes that are not UTF-8 are refused as Postgres refuses them (22021). */
  cstring(): string {
    const end = this.#body.indexOf(0, this.#offset);
    if (end < 0) throw new ProtocolViolation('A string of the message is not terminated.');
    let text: string;
    try {
      text = UTF8.decode(this.#body.subarray(this.#offset, end));
    } catch {
      throw new InvalidText('invalid byte sequence for encoding "UTF8"');
    }
    this.#offset = end + 1;
    return text;
  }

  bytes(length: number): Buffer {
    if (length < 0) throw new ProtocolViolation('A length in the message is negative.');
    this.#need(length, 'values');
    const value = this.#body.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return value;
  }

  /** Refuses bytes after the last field: a message longer than its contents is as malformed as a shorter one. */
  end(): void {
    if (this.#offset !== this.#body.length) throw new ProtocolViolation('The message has bytes after its last field.');
  }
}

export interface FramedMessage {
  /** The type byte as a character (`Q`, `P`, ...); empty for the untyped startup-phase packets. */
  readonly type: string;
  readonly body: Buffer;
}

/**
 * Splits the byte stream into messages. The startup phase sends untyped packets (length first), then every message
 * has a type byte. A claimed length above the limit is refused as soon as the length is read, before any of the
 * body is buffered, so that a client cannot make the server hold a gigabyte by announcing one.
 */
export class MessageFramer {
  /** The bytes from the next message's start, in one buffer. */
  #buffer: Buffer = EMPTY;
  /**
   * Chunks received after `#buffer`, joined to it only once they complete what is read next: joined at each chunk,
   * a message trickled in small pieces would be copied again at every piece, its size times over.
   */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #typed = false;

  constructor(
    readonly maxMessageBytes: number,
    /** Largest startup-phase packet (Postgres itself accepts 10,000 bytes). */
    readonly maxStartupBytes = 10_000,
  ) {}

  /** Bytes received and not yet returned as a message. */
  get buffered(): number {
    return this.#buffer.length + this.#pendingBytes;
  }

  /** After the startup packet, messages carry a type byte. */
  startTyped(): void {
    this.#typed = true;
  }

  push(chunk: Buffer): void {
    if (this.#buffer.length === 0 && this.#pendingBytes === 0) this.#buffer = chunk;
    else {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
    }
  }

  /** Whether `bytes` have arrived; when so, `#buffer` holds them. */
  #gather(bytes: number): boolean {
    if (this.#buffer.length >= bytes) return true;
    if (this.#buffer.length + this.#pendingBytes < bytes) return false;
    this.#buffer = Buffer.concat([this.#buffer, ...this.#pending]);
    this.#pending = [];
    this.#pendingBytes = 0;
    return true;
  }

  /** The next complete message, or undefined until more bytes arrive. */
  next(): FramedMessage | undefined {
    const header = this.#typed ? 5 : 4;
    if (!this.#gather(header)) return undefined;
    const type = this.#typed ? String.fromCharCode(this.#buffer[0] as number) : '';
    const length = this.#buffer.readInt32BE(this.#typed ? 1 : 0);
    const limit = this.#typed ? this.maxMessageBytes : this.maxStartupBytes;
    if (length < 4) throw new ProtocolViolation(`Invalid message length ${length}.`);
    if (length > limit) {
      throw new ProtocolViolation(
        `The ${this.#typed ? 'message' : 'startup packet'} is ${length} bytes long; at most ${limit} are accepted.`,
      );
    }
    const total = length + (this.#typed ? 1 : 0);
    if (!this.#gather(total)) return undefined;
    const body = this.#buffer.subarray(header, total);
    // An idle connection keeps no view of the last chunk it received.
    this.#buffer = total === this.#buffer.length ? EMPTY : this.#buffer.subarray(total);
    return { type, body };
  }
}

/** The smallest buffer allocated: enough for the replies of most statements in one go. */
const MIN_BYTES = 16 * 1024;

/**
 * Builds outgoing messages into one buffer, so that a result's rows leave in large writes. `take()` hands the
 * bytes over and holds no buffer until the next message: an idle connection keeps no output memory, which is
 * what lets a gateway hold thousands of them.
 */
export class MessageBuilder {
  #buffer: Buffer = EMPTY;
  #length = 0;
  /** Capacity of the last buffer taken, to size the next one like it (rows keep coming in pieces that size). */
  #capacity = MIN_BYTES;
  #start = -1;

  get length(): number {
    return this.#length;
  }

  #ensure(bytes: number): void {
    if (this.#length + bytes <= this.#buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#buffer.length * 2, this.#capacity, this.#length + bytes));
    this.#buffer.copy(grown, 0, 0, this.#length);
    this.#buffer = grown;
  }

  /** Starts a message of `type`; its length is written by {@link end}. */
  begin(type: string): this {
    this.#ensure(5);
    this.#buffer[this.#length] = type.charCodeAt(0);
    this.#start = this.#length + 1;
    this.#length += 5;
    return this;
  }

  end(): this {
    this.#buffer.writeInt32BE(this.#length - this.#start, this.#start);
    return this;
  }

  byte(value: number): this {
    this.#ensure(1);
    this.#buffer[this.#length++] = value;
    return this;
  }

  int16(value: number): this {
    this.#ensure(2);
    this.#buffer.writeInt16BE(value, this.#length);
    this.#length += 2;
    return this;
  }

  int32(value: number): this {
    this.#ensure(4);
    this.#buffer.writeInt32BE(value, this.#length);
    this.#length += 4;
    return this;
  }

  int64(value: bigint): this {
    this.#ensure(8);
    this.#buffer.writeBigInt64BE(value, this.#length);
    this.#length += 8;
    return this;
  }

  float32(value: number): this {
    this.#ensure(4);
    this.#buffer.writeFloatBE(value, this.#length);
    this.#length += 4;
    return this;
  }

  float64(value: number): this {
    this.#ensure(8);
    this.#buffer.writeDoubleBE(value, this.#length);
    this.#length += 8;
    return this;
  }

  /** UTF-8 text without a terminator. */
  text(value: string): this {
    this.#ensure(value.length * 3);
    this.#length += this.#buffer.write(value, this.#length, 'utf8');
    return this;
  }

  cstring(value: string): this {
    return this.text(value).byte(0);
  }

  bytes(value: Uint8Array): this {
    this.#ensure(value.length);
    this.#buffer.set(value, this.#length);
    this.#length += value.length;
    return this;
  }

  /**
   * Starts a length-prefixed field (a DataRow value, an array element) and returns where its length goes, for
   * {@link endField}: fields nest (an array's elements inside its value).
   */
  beginField(): number {
    this.#ensure(4);
    const at = this.#length;
    this.#length += 4;
    return at;
  }

  endField(at: number): this {
    this.#buffer.writeInt32BE(this.#length - at - 4, at);
    return this;
  }

  /** A length-prefixed UTF-8 field. */
  textField(value: string): this {
    const at = this.beginField();
    return this.text(value).endField(at);
  }

  /** The bytes built so far; the builder starts empty again. */
  take(): Buffer {
    const out = this.#buffer.subarray(0, this.#length);
    this.#capacity = Math.max(MIN_BYTES, Math.min(this.#buffer.length, 1024 * 1024));
    this.#buffer = EMPTY;
    this.#length = 0;
    return out;
  }
}
