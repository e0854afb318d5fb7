import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { EngineFactory } from '@lakegate/engine-api';
import { duckdbEngineFactory } from '@lakegate/engine-duckdb';
import { createStorage, type StorageOptions } from '@lakegate/storage';
import { createApp } from './app.js';
import type { GatewayConfig } from './config/config.js';
import { EngineRegistry } from './engines/engine-registry.js';
import type { Logger } from './logging/logger.js';

export interface GatewayOptions {
  readonly config: GatewayConfig;
  readonly logger: Logger;
  /** Engine factories; default: DuckDB. */
  readonly engines?: readonly EngineFactory<unknown>[];
}

export interface RunningGateway {
  readonly url: string;
  readonly port: number;
  /** Stops accepting connections, lets running queries finish within the grace period, then cancels them. */
  close(): Promise<void>;
}

/** The storage layer's options from the gateway's configuration. */
export function storageOptions(config: GatewayConfig, logger?: Logger): StorageOptions {
  const { storage } = config;
  return {
    cacheDir: storage.cacheDir,
    cacheMaxBytes: storage.cacheMaxBytes,
    s3: storage.s3,
    fetchConcurrency: storage.fetchConcurrency,
    warming: storage.warming.enabled
      ? { intervalSeconds: storage.warming.intervalSeconds, lookaheadMs: storage.warming.lookaheadMinutes * 60_000 }
      : undefined,
    tenants: Object.fromEntries(
      Object.entries(config.tenants).map(([id, t]) => [id, { cacheMaxBytes: t.cacheMaxBytes, datasets: t.datasets }]),
    ),
    logger,
  };
}

/** Starts a gateway: storage, engines and the HTTP server, bound to `server.host:server.port`. */
export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { config, logger } = options;
  const storage = await createStorage(storageOptions(config, logger.child({ component: 'storage' })));
  const engines = await EngineRegistry.create(
    options.engines ?? [duckdbEngineFactory as EngineFactory<unknown>],
    config.engines,
    { storage, logger: logger.child({ component: 'engine' }) },
    { maxConcurrent: config.query.maxConcurrentQueries, maxQueued: config.query.maxConcurrentQueries * 4 },
  );
  let shuttingDown = false;
  const app = createApp({ config, storage, engines, logger, isShuttingDown: () => shuttingDown });

  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: config.server.host, port: config.server.port }, () => resolve(s));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    close() {
      closing ??= (async () => {
        shuttingDown = true;
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await engines.close(config.server.shutdownGraceMs);
        if ('closeAllConnections' in server) server.closeAllConnections();
        await stopped;
        await storage.close();
      })();
      return closing;
    },
  };
}
