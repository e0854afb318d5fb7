import { createRequire } from 'node:module';
import type { Context } from 'hono';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };

/** Trino's duration format, as `/v1/info` writes uptime: `12.50s`, `3.20m`, `1.05h`, `2.00d`. */
function duration(ms: number): string {
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(2)}s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(2)}m`;
  if (seconds < 86_400) return `${(seconds / 3600).toFixed(2)}h`;
  return `${(seconds / 86_400).toFixed(2)}d`;
}

/**
 * `GET /v1/info`, without credentials, as a Trino coordinator serves it: clients and load balancers read it to
 * check that a server is up and speaks the protocol before they authenticate.
 */
export function trinoInfo(startedAt: number, isStarting: () => boolean) {
  return function serverInfo(c: Context) {
    return c.json({
      nodeVersion: { version: `lakegate-${pkg.version}` },
      environment: 'lakegate',
      coordinator: true,
      starting: isStarting(),
      uptime: duration(Date.now() - startedAt),
    });
  };
}
