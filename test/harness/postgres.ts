import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { freePort } from './services.js';

/**
 * The folder of PostgreSQL's server programs (`initdb`, `postgres`), or undefined when none is installed. Debian's
 * `postgresql` package keeps them out of PATH, under `/usr/lib/postgresql/<version>/bin`; the newest wins.
 */
export function findPostgres(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  const onPath = found.stdout.trim();
  if (found.status === 0 && onPath) return join(onPath, '..');
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

export interface PostgresServer {
  /** `postgres://lakegate:<password>@127.0.0.1:<port>/lakegate` */
  readonly url: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** A client as the administrator (closed by `stop()`). */
  readonly sql: postgres.Sql;
  /** Stops the server (a fast shutdown), keeping its data; `start()` brings it back on the same port. */
  pause(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Postgres refuses to run as root: as root, the server runs as this system user (Debian's package creates it). */
const UNPRIVILEGED = 'postgres';

/** Runs `program` as an unprivileged user when this process is root, else as this user. */
function asServerUser(program: string, args: readonly string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [program, [...args]];
  return ['setpriv', [`--reuid=${UNPRIVILEGED}`, `--regid=${UNPRIVILEGED}`, '--init-groups', '--', program, ...args]];
}

async function waitForServer(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode}: ${output()}`);
    const probe = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
    try {
      await probe`SELECT 1`;
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`postgres did not answer within 30 s: ${(error as Error).message}`);
    } finally {
      await probe.end({ timeout: 1 });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A real PostgreSQL server of its own, on a free loopback port, its data in a new temporary folder: `initdb` and
 * `postgres` run as an unprivileged user, with SCRAM passwords over TCP and no Unix socket outside the folder.
 */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = findPostgres();
  if (!bin) throw new Error('PostgreSQL is not installed (Debian: apt-get install postgresql)');
  const dir = await mkdtemp(join(tmpdir(), 'lakegate-postgres-'));
  const data = join(dir, 'data');
  const user = 'lakegate';
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const port = await freePort();
  await writeFile(join(dir, 'password'), password);
  if (process.getuid?.() === 0) spawnSync('chown', ['-R', `${UNPRIVILEGED}:`, dir]);
  await chmod(dir, 0o700);
  const [initdb, initArgs] = asServerUser(join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    user,
    `--pwfile=${join(dir, 'password')}`,
    '--auth-host=scram-sha-256',
    '--auth-local=trust',
    '-E',
    'UTF8',
    '--no-locale',
    '--no-sync',
  ]);
  const init = spawnSync(initdb, initArgs, { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  const url = `postgres://${user}:${password}@127.0.0.1:${port}/postgres`;
  let child: ChildProcess | undefined;
  let log = '';
  const start = async (): Promise<void> => {
    const [program, args] = asServerUser(join(bin, 'postgres'), [
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
      '-c',
      'shared_buffers=64MB',
      '-c',
      'max_connections=60',
    ]);
    log = '';
    const started = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    started.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    started.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    child = started;
    await waitForServer(url, started, () => log);
  };
  const halt = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    // SIGINT: Postgres's fast shutdown (sessions ended, data kept).
    running.kill('SIGINT');
    await exited;
  };
  await start();
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  return {
    url,
    port,
    user,
    password,
    sql,
    pause: halt,
    start,
    async stop() {
      await sql.end({ timeout: 2 }).catch(() => undefined);
      await halt();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
