import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const launcher = join(repo, 'packages', 'gateway', 'bin', 'lakegate.cjs');

/**
 * The Node flags of the launcher's first line (`#!/usr/bin/env -S node <flags>`), which runs it with them when it is
 * run directly, as `npm start` does: tests start it with the same ones.
 */
export function launcherFlags(): string[] {
  const first = readFileSync(launcher, 'utf8').split('\n', 1)[0] ?? '';
  const flags = /^#!\/usr\/bin\/env -S node((?: \S+)*)$/.exec(first);
  if (!flags) throw new Error(`the launcher's first line is not "#!/usr/bin/env -S node <flags>": ${first}`);
  return flags[1]?.split(' ').filter((flag) => flag !== '') ?? [];
}

/**
 * The Postgres listener of a test gateway takes any free port: tests start gateways side by side (and several in
 * one test), which would all claim the default 5433.
 */
const POSTGRES_ANY_PORT = { LAKEGATE_POSTGRES_PORT: '0' };
/** Any free port for the Postgres listener, unless the test's config names one. */
const postgresPort = (config: Record<string, unknown>) =>
  (config.server as { postgres?: { port?: number } } | undefined)?.postgres?.port === undefined
    ? POSTGRES_ANY_PORT
    : {};

export interface GatewayProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Output so far (stdout and stderr), for failure messages. */
  output(): string;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

/** Writes `config` to `configPath` and starts the built gateway binary on it, its output piped. */
async function spawnGateway(
  configPath: string,
  config: Record<string, unknown>,
  args: readonly string[] = [],
  output: 'pipe' | number = 'pipe',
): Promise<ChildProcess> {
  if (!existsSync(join(repo, 'packages', 'gateway', 'dist', 'main.js'))) {
    throw new Error('packages/gateway/dist is missing: run `npm run build` (npm test does)');
  }
  await writeFile(configPath, JSON.stringify(config, null, 2));
  return spawn(process.execPath, [...launcherFlags(), launcher, ...args], {
    env: { ...process.env, LAKEGATE_CONFIG: configPath, LAKEGATE_LOG_LEVEL: 'info', ...postgresPort(config) },
    stdio: ['ignore', output, output],
  });
}

export interface GatewayProcessOptions {
  /**
   * Where the gateway's output goes instead of a pipe to this process: a load test's client must not also be the
   * reader that the gateway's log writes wait for (writes to a pipe are synchronous).
   */
  readonly logFile?: string;
}

/** Starts the built gateway as its own process with a config file, and waits until /readyz answers. */
export async function startGatewayProcess(
  configPath: string,
  config: Record<string, unknown>,
  port: number,
  options: GatewayProcessOptions = {},
): Promise<GatewayProcess> {
  const { logFile } = options;
  const fd = logFile === undefined ? undefined : openSync(logFile, 'a');
  const child = await spawnGateway(configPath, config, [], fd ?? 'pipe').finally(() => {
    if (fd !== undefined) closeSync(fd);
  });
  let piped = '';
  child.stdout?.on('data', (d: Buffer) => {
    piped += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    piped += d.toString();
  });
  const output = (): string => (logFile === undefined ? piped : readFileSync(logFile, 'utf8'));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}:\n${output()}`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`gateway did not become ready:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url,
    child,
    output,
    kill(signal) {
      // A process that already ended (also by a signal, where exitCode stays null) emits no second 'exit'.
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
      return new Promise((resolve) => {
        child.once('exit', (code) => resolve(code));
        child.kill(signal);
      });
    },
  };
}

export interface FinishedProcess {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the built gateway with a config file that should stop it at start-up (or a command, `args`, that prints
 * and exits), and waits for it to exit.
 */
export async function runGatewayProcess(
  configPath: string,
  config: Record<string, unknown>,
  timeoutMs = 30_000,
  args: readonly string[] = [],
): Promise<FinishedProcess> {
  const child = await spawnGateway(configPath, config, args);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  // A gateway that starts after all must not outlive the test.
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}
