import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export interface ServiceHandle {
  readonly url: string;
  stop(): Promise<void>;
}

/** A free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** The path of `redis-server`, or undefined when it is not installed. */
export function findRedisServer(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path ? path : undefined;
}

async function waitForRedis(port: number, deadline: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.once('error', () => resolve(false));
      socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString().startsWith('+PONG'));
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface RedisHandle extends ServiceHandle {
  readonly port: number;
  /** Stops the server and starts it again on the same port (for reconnection tests). */
  restart(): Promise<void>;
  /** Stops the server without removing its handle. */
  pause(): Promise<void>;
}

/**
 * Starts a throw-away `redis-server` on a free loopback port: without persistence, or, given a folder, with an
 * append-only file there so that a restart keeps the data (as a production Redis would).
 */
export async function startRedis(binary = findRedisServer(), persistDir?: string): Promise<RedisHandle> {
  if (!binary) throw new Error('redis-server is not installed (Debian: apt-get install -y redis-server)');
  const port = await freePort();
  let child: ChildProcess | undefined;
  const persistence = persistDir
    ? ['--dir', persistDir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '']
    : ['--save', '', '--appendonly', 'no'];
  const launch = async (): Promise<void> => {
    child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', ...persistence, '--protected-mode', 'yes'], {
      stdio: 'ignore',
    });
    await waitForRedis(port, Date.now() + 10_000);
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async restart() {
      if (child) await stopChild(child);
      await launch();
    },
    async pause() {
      if (child) await stopChild(child);
    },
    async stop() {
      if (child) await stopChild(child);
    },
  };
}

export interface S3Handle extends ServiceHandle {
  readonly endpoint: string;
  /** Requests the server has seen since the last reset. */
  requests(): Promise<{ method: string; path: string; query: string; range: string | null }[]>;
  resetRequests(): Promise<void>;
  /** Delays every S3 request by `ms` (real S3's first-byte latency). */
  setDelay(ms: number): Promise<void>;
  /** Makes the server drop every S3 request, as an unreachable origin would. */
  setOutage(on: boolean): Promise<void>;
  /** Cuts the next `count` object downloads short after `bytes` bytes. */
  truncateNext(count: number, bytes: number): Promise<void>;
  /** The next `count` object downloads send `bytes` bytes and then hang, connection open. */
  stallNext(count: number, bytes: number): Promise<void>;
}

/** Starts s3rver on a free loopback port (under --openssl-legacy-provider), with a data folder of its own. */
export async function startS3(): Promise<S3Handle> {
  const directory = await mkdtemp(join(tmpdir(), 'lakegate-s3rver-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', join(here, 's3-server-process.mjs'), directory], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('s3rver did not start within 15 s')), 15_000);
    child.once('exit', (code) => reject(new Error(`s3rver exited with code ${code}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const control = async (path: string, method = 'POST'): Promise<Response> => {
    const response = await fetch(`${endpoint}/__control/${path}`, { method });
    if (!response.ok) throw new Error(`s3 control ${path}: ${response.status}`);
    return response;
  };
  return {
    url: endpoint,
    endpoint,
    async requests() {
      return ((await (await control('stats', 'GET')).json()) as { requests: [] }).requests;
    },
    async resetRequests() {
      await control('reset-stats');
    },
    async setDelay(ms) {
      await control(`delay?ms=${ms}`);
    },
    async setOutage(on) {
      await control(`outage?on=${on ? 1 : 0}`);
    },
    async truncateNext(count, bytes) {
      await control(`truncate?count=${count}&bytes=${bytes}`);
    },
    async stallNext(count, bytes) {
      await control(`stall?count=${count}&bytes=${bytes}`);
    },
    async stop() {
      await stopChild(child);
      await rm(directory, { recursive: true, force: true });
    },
  };
}
