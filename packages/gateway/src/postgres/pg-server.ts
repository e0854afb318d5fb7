import { readFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { GatewayConfig } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import type { Tracing } from '../observability/tracing.js';
import type { QueryLifecycle } from '../query/query-lifecycle.js';
import { PgConnection, type PgServerContext } from './pg-connection.js';
import { PgError, pgErrorFields } from './pg-errors.js';
import { errorResponse } from './pg-messages.js';
import { CancelKeys, ConnectionCounts } from './pg-registry.js';
import { ScramCredentials } from './pg-scram.js';
import { MessageBuilder } from './pg-wire.js';

export interface PostgresServerDeps {
  readonly config: GatewayConfig;
  readonly queries: QueryLifecycle;
  readonly logger: Logger;
  readonly tracing?: Tracing | undefined;
}

export interface RunningPostgresServer {
  readonly port: number;
  /**
   * Takes the tenants' keys of a reloaded configuration: from now on logins check these (a removed key no longer
   * logs in; connections already logged in stay, as HTTP keep-alive connections do).
   */
  reconfigure(tenants: GatewayConfig['tenants']): void;
  /** Connections open now: all sockets (logging in or logged in), and the logged-in ones by tenant. */
  connections(): { readonly open: number; readonly byTenant: Readonly<Record<string, number>> };
  /** Stops accepting connections and closes the open ones (their queries are cancelled). */
  close(): Promise<void>;
}

/**
 * The Postgres wire protocol listener: psql, JDBC and BI tools connect to it as to a Postgres server, with the
 * tenant id as user, one of its API keys as password and `lakegate` as database. SCRAM verifiers of every key are
 * derived here, once.
 */
export async function startPostgresServer(deps: PostgresServerDeps): Promise<RunningPostgresServer> {
  const settings = deps.config.server.postgres;
  const tls = settings.tls;
  const secureContext = tls
    ? createSecureContext({ cert: await readFile(tls.cert), key: await readFile(tls.key) })
    : undefined;
  const counts = new ConnectionCounts(settings.maxConnectionsPerTenant);
  const context: PgServerContext = {
    queries: deps.queries,
    credentials: new ScramCredentials(deps.config.tenants, settings.scramIterations),
    config: settings,
    logger: deps.logger,
    tracing: deps.tracing,
    secureContext,
    cancels: new CancelKeys(),
    counts,
  };
  const open = new Set<PgConnection>();
  const server: Server = createServer((socket: Socket) => {
    counts.total++;
    if (counts.total > settings.maxConnections) {
      // Refused before reading anything: the error is what a client shows, and the socket closes.
      const out = new MessageBuilder();
      errorResponse(out, pgErrorFields(new PgError('53300', 'sorry, too many clients already', 'FATAL')));
      socket.on('error', () => {});
      socket.on('close', () => counts.total--);
      socket.end(out.take());
      return;
    }
    const connection = new PgConnection(socket, context);
    open.add(connection);
    socket.on('close', () => open.delete(connection));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : settings.port;
  return {
    port,
    reconfigure(tenants) {
      context.credentials = new ScramCredentials(tenants, settings.scramIterations);
    },
    connections: () => ({ open: counts.total, byTenant: counts.byTenant() }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const connection of open) connection.shutdown();
      }),
  };
}
