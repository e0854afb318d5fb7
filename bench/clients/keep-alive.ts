/**
 * One keep-alive HTTP/1.1 connection that sends one POST at a time and reads only what it needs of each answer:
 * the status code and the body's framing (Content-Length or chunked). Node's HTTP client costs several times the
 * gateway's own work per cached query; with thousands of connections on the same machine, a lighter client leaves
 * the CPU to what is measured. The connection opens at the first request and again after it is lost.
 */
import { connect, type Socket } from 'node:net';

const HEADERS_END = Buffer.from('\r\n\r\n');
const LINE_END = Buffer.from('\r\n');

/** The whole `POST /v1/query` request of `sql` with an API key, as bytes for {@link KeepAliveConnection.send}. */
export function queryRequest(host: string, port: number, key: string, sql: string): Buffer {
  const body = JSON.stringify({ sql });
  return Buffer.from(
    `POST /v1/query HTTP/1.1\r\nHost: ${host}:${port}\r\nAuthorization: Bearer ${key}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

export class KeepAliveConnection {
  readonly #host: string;
  readonly #port: number;
  readonly #timeoutMs: number;
  #socket: Socket | undefined;
  #pending: ((outcome: string) => void) | undefined;
  #received: Buffer = Buffer.alloc(0);

  constructor(host: string, port: number, timeoutMs = 30_000) {
    this.#host = host;
    this.#port = port;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * Sends `request` (the whole HTTP request, bytes) and resolves to the answer's status code, or an error's kind. A
   * timeout says on which connection it came: a new one (opened for this request: the server may not have accepted
   * it yet, though its handshake seemed done to this side) or one already used, and whether part of the answer came.
   */
  send(request: Buffer): Promise<string> {
    if (this.#pending) return Promise.reject(new Error('one request at a time'));
    return new Promise<string>((resolve) => {
      const fresh = this.#socket === undefined;
      const timer = setTimeout(() => {
        const partly = this.#received.length > 0 ? ', answer cut short' : '';
        this.#end(`timeout (${fresh ? 'new' : 'reused'} connection${partly})`);
      }, this.#timeoutMs);
      this.#pending = (outcome) => {
        clearTimeout(timer);
        resolve(outcome);
      };
      this.#received = Buffer.alloc(0);
      this.#open().write(request);
    });
  }

  close(): void {
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  #open(): Socket {
    if (this.#socket) return this.#socket;
    const socket = connect({ host: this.#host, port: this.#port, noDelay: true });
    socket.on('data', (chunk: Buffer) => {
      if (socket !== this.#socket) return;
      this.#received = this.#received.length === 0 ? chunk : Buffer.concat([this.#received, chunk]);
      const status = answered(this.#received);
      if (status !== undefined) this.#settle(status);
    });
    // A socket already given up (destroyed after a timeout) still reports its close later: only the current one
    // may end the request waiting, which may be on a new socket by then.
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (socket === this.#socket) this.#end(error.code ?? 'socket error');
    });
    socket.on('close', () => {
      if (socket === this.#socket) this.#end('closed');
    });
    this.#socket = socket;
    return socket;
  }

  /** The connection is lost: the request waiting, if any, ends with `outcome`. */
  #end(outcome: string): void {
    this.close();
    this.#settle(outcome);
  }

  #settle(outcome: string): void {
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.(outcome);
  }
}

/** The status code of a whole answer in `bytes`, or undefined while it is incomplete. */
function answered(bytes: Buffer): string | undefined {
  const headersEnd = bytes.indexOf(HEADERS_END);
  if (headersEnd < 0) return undefined;
  const head = bytes.toString('latin1', 0, headersEnd);
  const status = head.slice(9, 12);
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  const bodyStart = headersEnd + HEADERS_END.length;
  if (length) return bytes.length >= bodyStart + Number(length[1]) ? status : undefined;
  if (!/\r\ntransfer-encoding:\s*chunked/i.test(head)) return status;
  // Chunked: sizes in hex, each chunk followed by CRLF, ended by a chunk of size 0 and an empty line.
  let at = bodyStart;
  for (;;) {
    const lineEnd = bytes.indexOf(LINE_END, at);
    if (lineEnd < 0) return undefined;
    const size = Number.parseInt(bytes.toString('latin1', at, lineEnd), 16);
    if (size === 0) return bytes.length >= lineEnd + 2 * LINE_END.length ? status : undefined;
    at = lineEnd + LINE_END.length + size + LINE_END.length;
    if (at > bytes.length) return undefined;
  }
}
