import type { TestProject } from 'vitest/node';
import { findRedisServer, type RedisHandle, type S3Handle, startRedis, startS3 } from './services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `redis://127.0.0.1:<port>` of the shared test Redis, or '' when redis-server is not installed. */
    redisUrl: string;
    /** Why Redis tests are skipped, when they are. */
    redisSkipReason: string;
    /** Endpoint of the shared s3rver. */
    s3Endpoint: string;
  }
}

/**
 * Starts the real services the integration tests talk to, once per run, and stops them afterwards, also when
 * tests fail. Without redis-server, Redis tests skip with a message, except in CI, where that is an error.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started: (RedisHandle | S3Handle)[] = [];
  const redisBinary = findRedisServer();
  if (redisBinary) {
    const redis = await startRedis(redisBinary);
    started.push(redis);
    project.provide('redisUrl', redis.url);
    project.provide('redisSkipReason', '');
  } else if (process.env.CI) {
    throw new Error('redis-server is not installed; CI must install it (apt-get install -y redis-server)');
  } else {
    project.provide('redisUrl', '');
    project.provide(
      'redisSkipReason',
      'redis-server is not installed (apt-get install -y redis-server); skipping Redis tests',
    );
  }
  const s3 = await startS3();
  started.push(s3);
  project.provide('s3Endpoint', s3.endpoint);
  return async () => {
    await Promise.all(started.map((s) => s.stop()));
  };
}
