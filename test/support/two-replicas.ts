import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type RedisHandle, startRedis } from '../harness/services.js';
import { writeParquet } from './duckdb-data.js';
import { type GatewayProcess, startGatewayProcess } from './gateway-process.js';
import { livyClient } from './sessions-client.js';

export type ReplicaName = 'a' | 'b';

/** The operators' key of both replicas. */
export const ADMIN_KEY = 'replicas-admin-key';

/**
 * Two gateway processes, replicas `a` and `b`, sharing one real Redis (with persistence, so it can restart) and
 * one tenant `acme` with an `events` dataset of 3000 rows (`id`, `twice`): the fixture of the replica tests.
 */
export function twoReplicas(folderPrefix: string, key: string) {
  let root = '';
  let redis: RedisHandle | undefined;
  const ports: Record<ReplicaName, number> = { a: 0, b: 0 };
  const replicas: Partial<Record<ReplicaName, GatewayProcess>> = {};
  const config = (name: ReplicaName) => ({
    server: { port: ports[name], shutdownGraceMs: 1000 },
    state: { redisUrl: redis?.url, replicaId: `replica-${name}`, resultsLocation: `file:${join(root, 'results')}/` },
    storage: { cacheDir: join(root, `cache-${name}`), warming: { enabled: false } },
    engines: { duckdb: { threads: 1 } },
    sessions: { smallResultBytes: 4000, reapIntervalSeconds: 0.5, outputRows: 10 },
    admin: { apiKeys: [ADMIN_KEY] },
    tenants: {
      acme: { apiKeys: [key], datasets: { events: { location: `file:${join(root, 'events')}/`, format: 'parquet' } } },
    },
  });
  /** Starts (or starts again) a replica on its port. */
  const start = async (name: ReplicaName): Promise<void> => {
    replicas[name] = await startGatewayProcess(join(root, `replica-${name}.json`), config(name), ports[name]);
  };
  const url = (name: ReplicaName) => () => replicas[name]?.url ?? '';
  return {
    replicas,
    start,
    url,
    a: livyClient(url('a'), key),
    b: livyClient(url('b'), key),
    get redis(): RedisHandle {
      if (!redis) throw new Error('the replicas are not set up');
      return redis;
    },
    async setUp(): Promise<void> {
      root = await mkdtemp(join(tmpdir(), folderPrefix));
      await mkdir(join(root, 'events'));
      await mkdir(join(root, 'redis'));
      await writeParquet(join(root, 'events', 'p.parquet'), 'SELECT i AS id, i * 2 AS twice FROM range(3000) t(i)');
      redis = await startRedis(undefined, join(root, 'redis'));
      ports.a = await freePort();
      ports.b = await freePort();
      await Promise.all([start('a'), start('b')]);
    },
    async tearDown(): Promise<void> {
      await Promise.all(Object.values(replicas).map((r) => r?.kill('SIGKILL')));
      await redis?.stop();
      if (root) await rm(root, { recursive: true, force: true });
    },
  };
}
