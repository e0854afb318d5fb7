import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/**
 * A bare Postgres protocol client for the tests that must send what no driver sends: truncated messages, wrong
 * lengths, invalid UTF-8. It logs in with SCRAM-SHA-256 like libpq, then sends raw messages and reads replies.
 */

export interface WireMessage {
  readonly type: string;
  readonly body: Buffer;
}

/** An ErrorResponse's fields by their code letter (`C` the SQLSTATE, `M` the message, `S` the severity). */
export function errorFields(message: WireMessage): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < message.body.length && message.body[i] !== 0) {
    const code = String.fromCharCode(message.body[i] as number);
    const end = message.body.indexOf(0, i + 1);
    out[code] = message.body.toString('utf8', i + 1, end);
    i = end + 1;
  }
  return out;
}

export function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

export const cstring = (text: string | Buffer): Buffer =>
  Buffer.concat([typeof text === 'string' ? Buffer.from(text) : text, Buffer.from([0])]);

export function startupPacket(parameters: Record<string, string>): Buffer {
  const body = Buffer.concat([
    ...Object.entries(parameters).flatMap(([k, v]) => [cstring(k), cstring(v)]),
    Buffer.from([0]),
  ]);
  const head = Buffer.alloc(8);
  head.writeInt32BE(body.length + 8, 0);
  head.writeInt32BE(196_608, 4);
  return Buffer.concat([head, body]);
}

const salted = new Map<string, Buffer>();

/** SCRAM's SaltedPassword (PBKDF2-SHA-256), derived once per password, salt and iteration count. */
function saltedPassword(password: string, salt: string, iterations: number): Buffer {
  const key = `${password}\u0000${salt}\u0000${iterations}`;
  let value = salted.get(key);
  if (!value) {
    value = pbkdf2Sync(password, Buffer.from(salt, 'base64'), iterations, 32, 'sha256');
    salted.set(key, value);
  }
  return value;
}

export class WireClient {
  readonly socket: Socket;
  #buffer = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      for (const wake of this.#waiters.splice(0)) wake();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const wake of this.#waiters.splice(0)) wake();
    });
    socket.on('error', () => {});
  }

  static async open(port: number): Promise<WireClient> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    return new WireClient(socket);
  }

  /**
   * Opens a connection and logs in as `user` with SCRAM-SHA-256, up to the first ReadyForQuery. The salted
   * password is derived once per password and salt, as a pooling driver would keep it.
   */
  static async login(port: number, user: string, password: string, opened?: WireClient): Promise<WireClient> {
    const client = opened ?? (await WireClient.open(port));
    client.send(startupPacket({ user, database: 'lakegate' }));
    await client.expect('R');
    const nonce = randomBytes(12).toString('base64');
    const clientFirstBare = `n=,r=${nonce}`;
    const first = Buffer.from(`n,,${clientFirstBare}`);
    const length = Buffer.alloc(4);
    length.writeInt32BE(first.length);
    client.send(message('p', Buffer.concat([cstring('SCRAM-SHA-256'), length, first])));
    const serverFirst = (await client.expect('R')).body.subarray(4).toString();
    const fields = Object.fromEntries(serverFirst.split(',').map((f) => [f[0], f.slice(2)]));
    const salted = saltedPassword(password, fields.s as string, Number(fields.i));
    const clientKey = createHmac('sha256', salted).update('Client Key').digest();
    const storedKey = createHash('sha256').update(clientKey).digest();
    const withoutProof = `c=biws,r=${fields.r}`;
    const signature = createHmac('sha256', storedKey)
      .update(`${clientFirstBare},${serverFirst},${withoutProof}`)
      .digest();
    const proof = Buffer.from(clientKey.map((b, i) => b ^ (signature[i] as number))).toString('base64');
    client.send(message('p', Buffer.from(`${withoutProof},p=${proof}`)));
    await client.until('Z');
    return client;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next single byte (the answer to SSLRequest or GSSENCRequest). */
  async byte(timeoutMs = 10_000): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.#buffer.length === 0) {
      if (this.closed) return undefined;
      if (Date.now() > deadline) throw new Error('no byte from the server in time');
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    const byte = String.fromCharCode(this.#buffer[0] as number);
    this.#buffer = this.#buffer.subarray(1);
    return byte;
  }

  /** The next message, or undefined once the server closed the connection. */
  async next(timeoutMs = 10_000): Promise<WireMessage | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.#buffer.length >= 5) {
        const length = this.#buffer.readInt32BE(1);
        if (this.#buffer.length >= length + 1) {
          const type = String.fromCharCode(this.#buffer[0] as number);
          const body = this.#buffer.subarray(5, length + 1);
          this.#buffer = this.#buffer.subarray(length + 1);
          return { type, body };
        }
      }
      if (this.closed) return undefined;
      if (Date.now() > deadline) throw new Error('no message from the server in time');
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  /** The next message, which must be of `type`. */
  async expect(type: string): Promise<WireMessage> {
    const next = await this.next();
    if (next?.type !== type) {
      throw new Error(`expected ${type}, got ${next?.type}: ${next ? JSON.stringify(errorFields(next)) : 'closed'}`);
    }
    return next;
  }

  /** Every message up to and including the first of `type` (or the close). */
  async until(type: string): Promise<WireMessage[]> {
    const out: WireMessage[] = [];
    for (;;) {
      const next = await this.next();
      if (!next) return out;
      out.push(next);
      if (next.type === type) return out;
    }
  }

  /** Resolves once the server has closed the connection. */
  async waitClosed(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}
