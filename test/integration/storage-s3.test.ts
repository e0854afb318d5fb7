import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  createS3Client,
  createS3ObjectStore,
  createStorage,
  type Storage,
  type StorageOptions,
  type StorageTenantSpec,
} from '@lakegate/storage';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type S3Handle, startS3 } from '../harness/services.js';
import { createBucket, putObject, s3Client, s3Settings } from '../support/s3-fixtures.js';

const here = dirname(fileURLToPath(import.meta.url));
const sha = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');

/** The storage layer against a real S3-compatible server (s3rver on loopback), one server for this file. */
describe('storage against S3 (s3rver)', () => {
  let server: S3Handle;
  let s3: S3Client;
  let root: string;
  let bucket: string;
  const opened: Storage[] = [];

  beforeAll(async () => {
    server = await startS3();
    s3 = s3Client(server.endpoint);
  });
  afterAll(async () => {
    s3?.destroy();
    await server?.stop();
  });

  let bucketCounter = 0;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-s3-storage-'));
    bucket = `bucket-${++bucketCounter}`;
    await server.setDelay(0);
    await server.setOutage(false);
    await createBucket(s3, bucket);
    await server.resetRequests();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    await rm(root, { recursive: true, force: true });
  });

  const dataset = (prefix: string, extra: Record<string, unknown> = {}) => ({
    location: { kind: 's3' as const, bucket, prefix },
    format: 'parquet' as const,
    ...extra,
  });
  const open = async (tenants: Record<string, StorageTenantSpec>, extra: Partial<StorageOptions> = {}) => {
    const storage = await createStorage({
      cacheDir: join(root, 'cache'),
      cacheMaxBytes: 1024 ** 3,
      autoRefresh: false,
      s3: s3Settings(server.endpoint),
      tenants,
      ...extra,
    });
    opened.push(storage);
    return storage;
  };
  const gets = async (path?: string) =>
    (await server.requests()).filter(
      (r) => r.method === 'GET' && !r.query.includes('list-type') && (!path || r.path.endsWith(path)),
    );

  it('lists every page of a prefix', async () => {
    for (let i = 0; i < 7; i++) await putObject(s3, bucket, `acme/events/part-${i}.parquet`, `p${i}`);
    await putObject(s3, bucket, 'acme/other/x.parquet', 'not ours');
    const client = createS3Client(s3Settings(server.endpoint));
    const store = createS3ObjectStore(client, bucket, 'acme/events/', { pageSize: 2 });
    await server.resetRequests();
    const listed = await store.list();
    expect(listed.map((o) => o.key)).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `part-${i}.parquet`));
    const listings = (await server.requests()).filter((r) => r.query.includes('list-type=2'));
    expect(listings).toHaveLength(4);
    client.destroy();
  });

  it('coalesces concurrent misses into one origin GET per file', async () => {
    for (let i = 0; i < 3; i++) await putObject(s3, bucket, `acme/events/part-${i}.parquet`, randomBytes(50_000));
    await server.setDelay(50);
    const storage = await open({ acme: { datasets: { events: dataset('acme/events/') } } });
    await server.resetRequests();
    const leases = await Promise.all(Array.from({ length: 20 }, () => storage.acquire('acme', 'events')));
    expect(new Set(leases.map((l) => l.snapshot.version)).size).toBe(1);
    for (let i = 0; i < 3; i++) expect(await gets(`part-${i}.parquet`)).toHaveLength(1);
    for (const lease of leases) lease.release();
  });

  it('reads byte ranges from the origin and caches them', async () => {
    const body = randomBytes(100_000);
    await putObject(s3, bucket, 'acme/events/big.parquet', body);
    const storage = await open({ acme: { datasets: { events: dataset('acme/events/') } } });
    await server.resetRequests();
    const footer = await storage.readRange('acme', 'events', 'big.parquet', 99_992, 100_000);
    expect(Buffer.from(footer).equals(body.subarray(99_992))).toBe(true);
    const ranged = (await server.requests()).filter((r) => r.range !== null);
    expect(ranged.map((r) => r.range)).toEqual(['bytes=99992-99999']);
    await storage.readRange('acme', 'events', 'big.parquet', 99_992, 100_000);
    expect((await server.requests()).filter((r) => r.range !== null)).toHaveLength(1);
  });

  it('discards a truncated download and fetches the file again', async () => {
    const body = randomBytes(200_000);
    await putObject(s3, bucket, 'acme/events/a.parquet', body);
    const storage = await open({ acme: { datasets: { events: dataset('acme/events/') } } });
    await server.truncateNext(1, 1000);
    const lease = await storage.acquire('acme', 'events');
    expect(sha(await readFile(lease.snapshot.files[0]?.path ?? ''))).toBe(sha(body));
    expect(await gets('a.parquet')).toHaveLength(2);
    lease.release();
  });

  it('never exposes a partial file after a crash mid-download, and recovers', async () => {
    const body = randomBytes(4_000_000);
    await putObject(s3, bucket, 'acme/big/data.parquet', body);
    // The download writes in 1 MiB gathers: stalled at 2.5 MB, two of them are on disk.
    await server.stallNext(1, 2_500_000);
    const cacheDir = join(root, 'cache');
    const child = spawn(
      process.execPath,
      [
        '--conditions=@lakegate/source',
        '--import',
        'tsx',
        join(here, '..', 'support', 'crash-download.ts'),
        cacheDir,
        server.endpoint,
        bucket,
        'acme/big/',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) => createInterface({ input: child.stdout }).once('line', () => resolve()));
    // Wait until the download has written a good part of the file under its temporary name, then kill.
    const findTemporary = async (): Promise<string | undefined> => {
      const objects = join(cacheDir, 'acme', 'objects');
      for (const shard of await readdir(objects).catch(() => [] as string[])) {
        for (const name of await readdir(join(objects, shard))) {
          if (name.includes('.tmp-')) return join(objects, shard, name);
        }
      }
      return undefined;
    };
    const deadline = Date.now() + 20_000;
    let temporary: string | undefined;
    while (Date.now() < deadline) {
      temporary = await findTemporary();
      if (temporary && ((await stat(temporary).catch(() => undefined))?.size ?? 0) >= 2 * 1024 * 1024) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(temporary, 'the child never started writing').toBeDefined();
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const written = (await stat(temporary ?? '')).size;
    expect(written >= 2 * 1024 * 1024 && written <= 2_500_000, `${written} bytes written`).toBe(true);

    const storage = await open({ acme: { datasets: { big: dataset('acme/big/') } } });
    expect(await findTemporary()).toBeUndefined();
    expect(storage.describe('acme')[0]).toMatchObject({ version: null, bytesCached: 0 });
    const lease = await storage.acquire('acme', 'big');
    expect(sha(await readFile(lease.snapshot.files[0]?.path ?? ''))).toBe(sha(body));
    lease.release();
  });

  it('starts warm after a restart and serves while the origin is down, flagged stale', async () => {
    await putObject(s3, bucket, 'acme/events/a.parquet', 'version-1');
    const first = await open({ acme: { datasets: { events: dataset('acme/events/') } } });
    (await first.acquire('acme', 'events')).release();
    await first.close();

    await server.setOutage(true);
    await server.resetRequests();
    const second = await open({ acme: { datasets: { events: dataset('acme/events/') } } });
    const lease = await second.acquire('acme', 'events');
    expect(await readFile(lease.snapshot.files[0]?.path ?? '', 'utf8')).toBe('version-1');
    lease.release();
    await expect(second.refresh('acme', 'events')).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    const stale = await second.acquire('acme', 'events');
    expect(stale.stale).toBe(true);
    expect(second.describe('acme')[0]).toMatchObject({ stale: true, bytesCached: 9 });
    stale.release();
    expect(second.metrics('acme')).toMatchObject({ hits: 2, misses: 0 });
  });

  it('answers STORAGE_UNAVAILABLE with Retry-After when the origin is down and nothing is cached', async () => {
    await putObject(s3, bucket, 'acme/events/a.parquet', 'x');
    await server.setOutage(true);
    const storage = await open({ acme: { datasets: { events: dataset('acme/events/') } } });
    const error = await storage.acquire('acme', 'events').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STORAGE_UNAVAILABLE', retryAfterSeconds: 5 });
    expect((error as Error).message).toMatch(/Dataset "events" \(s3:\/\/bucket-\d+\/acme\/events\/\) is unavailable/);
  });

  it('names the dataset for an unknown bucket, a missing prefix or refused credentials', async () => {
    const storage = await open({
      acme: {
        datasets: {
          nobucket: { location: { kind: 's3', bucket: 'no-such-bucket', prefix: 'x/' }, format: 'parquet' },
          noprefix: dataset('nothing/here/'),
        },
      },
    });
    await expect(storage.acquire('acme', 'nobucket')).rejects.toThrow(/Dataset "nobucket" .* bucket does not exist/);
    await expect(storage.acquire('acme', 'noprefix')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(storage.acquire('acme', 'noprefix')).rejects.toThrow(/Dataset "noprefix" has no parquet files/);

    await putObject(s3, bucket, 'acme/events/a.parquet', 'x');
    const refused = await open(
      { acme: { datasets: { events: dataset('acme/events/') } } },
      {
        s3: s3Settings(server.endpoint, { accessKeyId: 'WRONG', secretAccessKey: 'WRONG' }),
        cacheDir: join(root, 'other'),
      },
    );
    await expect(refused.acquire('acme', 'events')).rejects.toThrow(/Dataset "events" .* credentials/);
  });

  it('switches to a changed version in one step while held snapshots stay whole', async () => {
    await putObject(s3, bucket, 'acme/events/a.parquet', 'a-v1');
    await putObject(s3, bucket, 'acme/events/b.parquet', 'b-v1');
    const storage = await open({ acme: { datasets: { events: dataset('acme/events/') } } });
    const running = await storage.acquire('acme', 'events');
    await putObject(s3, bucket, 'acme/events/a.parquet', 'a-v2');
    await putObject(s3, bucket, 'acme/events/c.parquet', 'c-v2');
    const info = await storage.refresh('acme', 'events');
    expect(info).toMatchObject({ files: 3, bytesCached: 12 });
    const next = await storage.acquire('acme', 'events');
    expect(next.snapshot.version).not.toBe(running.snapshot.version);
    const read = (lease: typeof next) => Promise.all(lease.snapshot.files.map((f) => readFile(f.path, 'utf8')));
    expect(await read(running)).toEqual(['a-v1', 'b-v1']);
    expect(await read(next)).toEqual(['a-v2', 'b-v1', 'c-v2']);
    const oldA = running.snapshot.files[0]?.path ?? '';
    running.release();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await expect(stat(oldA)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(storage.metrics('acme')).toMatchObject({ refreshes: 2, versionsChanged: 2 });
    next.release();
  });

  it('keeps each tenant within its quota without flushing the others, and never evicts pinned datasets', async () => {
    for (const name of ['a', 'b', 'c', 'd'])
      await putObject(s3, bucket, `greedy/${name}/x.parquet`, randomBytes(40_000));
    await putObject(s3, bucket, 'polite/p/x.parquet', randomBytes(40_000));
    await putObject(s3, bucket, 'pinned/p/x.parquet', randomBytes(40_000));
    await putObject(s3, bucket, 'pinned/q/x.parquet', randomBytes(40_000));
    const storage = await open(
      {
        greedy: {
          cacheMaxBytes: 100_000,
          datasets: Object.fromEntries(['a', 'b', 'c', 'd'].map((n) => [n, dataset(`greedy/${n}/`)])),
        },
        polite: { datasets: { p: dataset('polite/p/') } },
        pinned: { datasets: { p: dataset('pinned/p/', { pin: true }), q: dataset('pinned/q/') } },
      },
      { cacheMaxBytes: 190_000 },
    );
    const use = async (tenant: string, name: string) => (await storage.acquire(tenant, name)).release();
    await use('polite', 'p');
    await use('pinned', 'p');
    for (const name of ['a', 'b', 'c', 'd']) await use('greedy', name);
    expect(storage.metrics('greedy').bytesCached).toBeLessThanOrEqual(100_000);
    expect(storage.metrics('greedy').evictions).toBe(2);
    expect(storage.metrics('polite')).toMatchObject({ bytesCached: 40_000, evictions: 0 });
    // Global pressure: the pinned dataset stays, the least recently used unpinned file goes.
    await use('pinned', 'q');
    expect(storage.describe('pinned').find((d) => d.name === 'p')).toMatchObject({ bytesCached: 40_000 });
    expect(storage.metrics('polite').evictions).toBe(1);
  });
});
