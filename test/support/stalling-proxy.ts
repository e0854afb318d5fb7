import { createServer, type Server, Socket } from 'node:net';

export interface StallingProxy {
  /** `http://127.0.0.1:<port>`: point the client here instead of at the server. */
  readonly url: string;
  /**
   * Arms a stall: each of the next `count` connections whose answer passes `afterBytes` bytes (counted from now)
   * stops receiving for `ms` milliseconds, connection open, then carries on: a download frozen mid-body.
   */
  stall(options: { count: number; afterBytes: number; ms: number }): void;
  /** Connections stalled so far. */
  readonly stalls: number;
  /** Connections frozen right now, that the client has not closed. */
  readonly frozen: number;
  close(): Promise<void>;
}

/**
 * A TCP proxy on the loopback interface that forwards to `target` and can freeze answers in the middle, for the
 * faults an HTTP-level fake server cannot stage (a body that stops arriving while the socket stays up).
 */
export async function startStallingProxy(target: { host: string; port: number }): Promise<StallingProxy> {
  let armed = { count: 0, afterBytes: 0, ms: 0 };
  // Bumped by every stall(): connections count their bytes afresh from then (pooled ones too).
  let generation = 0;
  let stalls = 0;
  const sockets = new Set<Socket>();
  const frozenClients = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = new Socket();
    sockets.add(client);
    sockets.add(upstream);
    let seen = 0;
    let seenGeneration = generation;
    let frozen = false;
    // A connection freezes at most once per stall(): afterwards it runs free.
    let stalledOnce = false;
    upstream.connect(target.port, target.host);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (seenGeneration !== generation) {
        seenGeneration = generation;
        seen = 0;
        stalledOnce = false;
      }
      seen += chunk.length;
      if (!frozen && !stalledOnce && armed.count > 0 && seen > armed.afterBytes) {
        armed.count--;
        stalledOnce = true;
        stalls++;
        frozen = true;
        frozenClients.add(client);
        // Send what came before the stall point, then hold the rest back for a while.
        const cut = chunk.length - (seen - armed.afterBytes);
        client.write(chunk.subarray(0, Math.max(0, cut)));
        const rest = chunk.subarray(Math.max(0, cut));
        upstream.pause();
        setTimeout(() => {
          frozenClients.delete(client);
          if (client.destroyed) return;
          client.write(rest);
          frozen = false;
          upstream.resume();
        }, armed.ms);
        return;
      }
      if (!client.write(chunk)) {
        upstream.pause();
        client.once('drain', () => {
          if (!frozen) upstream.resume();
        });
      }
    });
    upstream.on('end', () => client.end());
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      frozenClients.delete(client);
    };
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);
    client.on('close', closeBoth);
    upstream.on('close', () => {
      // Let the client read what is still buffered before its side closes.
      if (!frozen) client.end();
    });
  });
  const port = await new Promise<number>((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stall(options) {
      armed = { ...options };
      generation++;
    },
    get stalls() {
      return stalls;
    },
    get frozen() {
      return frozenClients.size;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
