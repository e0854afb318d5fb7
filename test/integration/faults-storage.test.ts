import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { parseConfig, silentLogger, startGateway } from '@lakegate/gateway';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { writeParquet } from '../support/duckdb-data.js';
import { createBucket, putObject, S3_CREDENTIALS, s3Client } from '../support/s3-fixtures.js';
import { type StallingProxy, startStallingProxy } from '../support/stalling-proxy.js';

const KEY = 'acme-storage-faults-key';

/** Every file under `dir`, with its size. */
async function filesUnder(dir: string): Promise<{ path: string; size: number }[]> {
  const out: { path: string; size: number }[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out.push({ path, size: (await stat(path)).size });
  }
  return out;
}

/** The cached copies of dataset files (not manifests or usage history). */
const cachedObjects = async (cacheDir: string) =>
  (await filesUnder(cacheDir)).filter((f) => f.path.includes(`${join('objects', '')}`));

/** Gateway, bucket and helpers for one scenario: datasets on the shared s3rver, reached through `endpoint`. */
async function scenario(options: {
  name: string;
  cacheDir: string;
  endpoint: string;
  datasets: Record<string, number>;
  root: string;
  s3: S3Client;
}) {
  const sizes: Record<string, number> = {};
  await createBucket(options.s3, options.name);
  for (const [dataset, rows] of Object.entries(options.datasets)) {
    const path = join(options.root, `${options.name}-${dataset}.parquet`);
    // hash() makes the bytes incompressible, so the file is as large as the row count says.
    await writeParquet(path, `SELECT i AS id, hash(i) AS h FROM range(${rows}) t(i)`);
    const body = await readFile(path);
    sizes[dataset] = body.length;
    await putObject(options.s3, options.name, `${dataset}/part-0.parquet`, body);
  }
  const config = parseConfig(
    {
      server: { port: 0 },
      storage: {
        cacheDir: options.cacheDir,
        s3: { endpoint: options.endpoint, forcePathStyle: true, ...S3_CREDENTIALS, requestTimeoutMs: 1000 },
        warming: { enabled: false },
      },
      engines: { duckdb: { threads: 1 } },
      tenants: {
        acme: {
          apiKeys: [KEY],
          datasets: Object.fromEntries(
            Object.keys(options.datasets).map((d) => [
              d,
              { location: `s3://${options.name}/${d}/`, format: 'parquet' },
            ]),
          ),
        },
      },
    },
    { baseDir: options.root },
  );
  const gateway = await startGateway({ config, logger: silentLogger });
  const query = async (sql: string) => {
    const response = await fetch(`${gateway.url}/v1/query`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ sql }),
    });
    const body = (await response.json()) as { rows?: unknown[][]; error?: { code: string; message: string } };
    return { status: response.status, retryAfter: response.headers.get('retry-after'), ...body };
  };
  /** count(*) and max(id) of a dataset, with what they must be. */
  const check = async (dataset: string) => ({
    answer: await query(`SELECT count(*), max(id) FROM ${dataset}`),
    expected: [[options.datasets[dataset], (options.datasets[dataset] as number) - 1]],
  });
  const datasetsInfo = async () => {
    const response = await fetch(`${gateway.url}/v1/datasets`, { headers: { Authorization: `Bearer ${KEY}` } });
    return ((await response.json()) as { datasets: { name: string; bytesCached: number }[] }).datasets;
  };
  return { gateway, query, check, sizes, datasetsInfo };
}

/**
 * Storage faults under a real gateway and s3rver: a download that freezes mid-body, and a cache disk that fills
 * up. The query gets a correct answer or a clear STORAGE_UNAVAILABLE in bounded time, the cache never keeps a
 * half-written file, and the next query works.
 */
describe('faults: storage', () => {
  let root: string;
  let s3: S3Client;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-storage-faults-'));
    s3 = s3Client(inject('s3Endpoint'));
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    s3?.destroy();
    await rm(root, { recursive: true, force: true });
  });

  describe('an S3 download that stalls mid-body', () => {
    let proxy: StallingProxy;
    let setup: Awaited<ReturnType<typeof scenario>>;
    const cacheDir = () => join(root, 'stall-cache');

    beforeAll(async () => {
      const upstream = new URL(inject('s3Endpoint'));
      proxy = await startStallingProxy({ host: upstream.hostname, port: Number(upstream.port) });
      cleanups.push(() => proxy.close());
      setup = await scenario({
        name: 'stall',
        cacheDir: cacheDir(),
        endpoint: proxy.url,
        datasets: { once: 100_000, always: 100_000 },
        root,
        s3,
      });
      cleanups.push(() => setup.gateway.close());
    });

    it('retries a download frozen once and answers correctly, well within the query’s time', async () => {
      proxy.stall({ count: 1, afterBytes: 200_000, ms: 5000 });
      const started = Date.now();
      const { answer, expected } = await setup.check('once');
      expect(answer.rows, JSON.stringify(answer)).toEqual(expected);
      expect(proxy.stalls).toBe(1);
      // The frozen attempt gives up after the 1 s request limit instead of waiting the 5 s out.
      expect(Date.now() - started).toBeLessThan(4000);
      const objects = await cachedObjects(cacheDir());
      expect(objects.map((f) => f.size)).toEqual([setup.sizes.once]);
    });

    it('answers STORAGE_UNAVAILABLE when every attempt freezes, keeps no partial file, and then recovers', async () => {
      proxy.stall({ count: 100, afterBytes: 200_000, ms: 8000 });
      const started = Date.now();
      const { answer } = await setup.check('always');
      expect(answer.status).toBe(503);
      expect(answer.error?.code).toBe('STORAGE_UNAVAILABLE');
      expect(answer.error?.message).toContain('"always"');
      expect(answer.retryAfter).not.toBeNull();
      expect(Date.now() - started).toBeLessThan(10_000);
      // The gateway hung up on the frozen downloads rather than leaving their connections open until they thaw.
      expect(proxy.frozen).toBe(0);
      // Only the complete file of the other dataset; no temporary left behind, nothing under a real name half full.
      expect((await cachedObjects(cacheDir())).map((f) => f.size)).toEqual([setup.sizes.once]);

      proxy.stall({ count: 0, afterBytes: 0, ms: 0 });
      const { answer: again, expected } = await setup.check('always');
      expect(again.rows, JSON.stringify(again)).toEqual(expected);
      expect((await cachedObjects(cacheDir())).map((f) => f.size).sort()).toEqual(
        [setup.sizes.once, setup.sizes.always].sort(),
      );
    });
  });

  describe('a full cache disk (ENOSPC)', () => {
    const cacheDir = () => join(root, 'full-cache');
    let mounted = false;
    let skipReason = '';

    beforeAll(async () => {
      await mkdir(cacheDir());
      // A 2 MB filesystem of its own: needs root (or a container that allows mount); else the test is skipped.
      const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', cacheDir()], { encoding: 'utf8' });
      mounted = mount.status === 0;
      if (mounted) cleanups.push(async () => spawnSync('umount', ['-l', cacheDir()]));
      else
        skipReason = `cannot mount a small tmpfs for the cache (${(mount.stderr || mount.error?.message || '').trim()})`;
    });

    it('answers a clear STORAGE_UNAVAILABLE, keeps the cache index consistent, and serves nothing half-written', async (context) => {
      if (!mounted) {
        console.warn(`skipping the full-disk test: ${skipReason}`);
        context.skip();
      }
      const setup = await scenario({
        name: 'full',
        cacheDir: cacheDir(),
        endpoint: inject('s3Endpoint'),
        // `big` alone is larger than the disk; `small` fits.
        datasets: { small: 20_000, big: 300_000 },
        root,
        s3,
      });
      cleanups.push(() => setup.gateway.close());
      expect(setup.sizes.big).toBeGreaterThan(2 * 1024 * 1024);

      const first = await setup.check('small');
      expect(first.answer.rows).toEqual(first.expected);
      for (let attempt = 0; attempt < 2; attempt++) {
        const { answer } = await setup.check('big');
        expect(answer.status, JSON.stringify(answer)).toBe(503);
        expect(answer.error?.code).toBe('STORAGE_UNAVAILABLE');
        expect(answer.error?.message).toMatch(/cache disk is full/);
        expect((await cachedObjects(cacheDir())).map((f) => f.size)).toEqual([setup.sizes.small]);
      }
      const info = await setup.datasetsInfo();
      expect(info).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ name: 'small', bytesCached: setup.sizes.small }),
          expect.objectContaining({ name: 'big', bytesCached: 0 }),
        ]),
      );
      const cache = await (
        await fetch(`${setup.gateway.url}/v1/cache`, { headers: { Authorization: `Bearer ${KEY}` } })
      ).json();
      expect(JSON.stringify(cache)).toContain(String(setup.sizes.small));
      const again = await setup.check('small');
      expect(again.answer.rows).toEqual(again.expected);
    });
  });
});
