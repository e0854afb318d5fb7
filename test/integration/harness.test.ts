import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';

describe('test harness', () => {
  const redisUrl = inject('redisUrl');

  it.skipIf(!redisUrl)(`talks to a real redis-server on loopback ${inject('redisSkipReason')}`, async () => {
    const redis = new Redis(redisUrl, { lazyConnect: true });
    await redis.connect();
    try {
      expect(redisUrl).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
      await redis.set('harness:key', 'value');
      expect(await redis.get('harness:key')).toBe('value');
      expect((await redis.info('server')).includes('redis_version')).toBe(true);
    } finally {
      redis.disconnect();
    }
  });

  it('talks to a real s3rver on loopback: paginated listing, ranged reads, request counting', async () => {
    const endpoint = inject('s3Endpoint');
    const s3 = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    try {
      await s3.send(new CreateBucketCommand({ Bucket: 'harness' }));
      for (let i = 0; i < 5; i++) {
        await s3.send(new PutObjectCommand({ Bucket: 'harness', Key: `p/${i}.txt`, Body: `object-${i}` }));
      }
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await s3.send(
          new ListObjectsV2Command({ Bucket: 'harness', Prefix: 'p/', MaxKeys: 2, ContinuationToken: token }),
        );
        keys.push(...(page.Contents ?? []).map((o) => o.Key ?? ''));
        token = page.NextContinuationToken;
      } while (token);
      expect(keys).toEqual(['p/0.txt', 'p/1.txt', 'p/2.txt', 'p/3.txt', 'p/4.txt']);

      const ranged = await s3.send(new GetObjectCommand({ Bucket: 'harness', Key: 'p/3.txt', Range: 'bytes=7-7' }));
      expect(await ranged.Body?.transformToString()).toBe('3');

      const counted = await fetch(`${endpoint}/__control/stats`);
      const { requests } = (await counted.json()) as { requests: { method: string; range: string | null }[] };
      expect(requests.filter((r) => r.method === 'GET' && r.range === 'bytes=7-7')).toHaveLength(1);
    } finally {
      s3.destroy();
    }
  });
});
