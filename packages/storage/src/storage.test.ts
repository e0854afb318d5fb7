import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStorage, type StorageOptions } from './storage.js';

describe('storage over a local folder', () => {
  let root: string;
  let origin: string;
  const options = (extra: Partial<StorageOptions> = {}): StorageOptions => ({
    cacheDir: join(root, 'cache'),
    cacheMaxBytes: 1_000_000,
    autoRefresh: false,
    tenants: {
      acme: {
        datasets: {
          events: { location: { kind: 'file', path: origin }, format: 'parquet' },
          empty: { location: { kind: 'file', path: join(root, 'nothing') }, format: 'csv' },
        },
      },
    },
    ...extra,
  });

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-storage-'));
    origin = join(root, 'origin', 'events');
    await mkdir(join(origin, 'day=1'), { recursive: true });
    await mkdir(join(origin, '.staging'), { recursive: true });
    await writeFile(join(origin, 'a.parquet'), 'version-1-a');
    await writeFile(join(origin, 'day=1', 'b.parquet'), 'version-1-b');
    await writeFile(join(origin, '_SUCCESS'), '');
    await writeFile(join(origin, 'notes.txt'), 'not data');
    await writeFile(join(origin, '.staging', 'c.parquet'), 'partial');
    // A folder that exists but holds no csv file: "empty", not "missing".
    await mkdir(join(root, 'nothing'));
    await writeFile(join(root, 'nothing', 'notes.txt'), 'not data');
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('takes new tenants and datasets on reconfigure, keeping unchanged ones and the leases already given', async () => {
    const storage = await createStorage(options());
    const lease = await storage.acquire('acme', 'events');
    const other = join(root, 'origin', 'other');
    await mkdir(other, { recursive: true });
    await writeFile(join(other, 'x.csv'), 'a\n1\n');
    const report = await storage.reconfigure({
      acme: {
        cacheMaxBytes: 500,
        datasets: {
          events: { location: { kind: 'file', path: origin }, format: 'parquet' },
          other: { location: { kind: 'file', path: other }, format: 'csv' },
        },
      },
      globex: { datasets: { mine: { location: { kind: 'file', path: other }, format: 'csv' } } },
    });
    expect(report).toEqual({ added: ['acme/other', 'globex/mine'], changed: [], removed: ['acme/empty'] });
    expect(storage.datasetNames('acme')).toEqual(['events', 'other']);
    await expect(storage.acquire('acme', 'empty')).rejects.toMatchObject({ code: 'UNKNOWN_TABLE' });
    expect((await storage.acquire('globex', 'mine')).snapshot.files).toHaveLength(1);
    // The lease given before the reload still reads its files.
    expect(await readFile(lease.snapshot.files[0]?.path ?? '', 'utf8')).toBe('version-1-a');
    lease.release();
    // A changed location is a new dataset behind the same name.
    const moved = await storage.reconfigure({
      acme: { datasets: { events: { location: { kind: 'file', path: other }, format: 'csv' } } },
    });
    expect(moved).toEqual({ added: [], changed: ['acme/events'], removed: ['acme/other', 'globex/mine'] });
    expect((await storage.acquire('acme', 'events')).snapshot.format).toBe('csv');
    expect(storage.datasetNames('globex')).toEqual([]);
    await storage.close();
  });

  it('gives two tenants of one location a copy each, in each one’s own folder and bound', async () => {
    const shared = { location: { kind: 'file' as const, path: origin }, format: 'parquet' as const };
    const storage = await createStorage(
      options({ tenants: { acme: { datasets: { events: shared } }, globex: { datasets: { events: shared } } } }),
    );
    const leases = [await storage.acquire('acme', 'events'), await storage.acquire('globex', 'events')];
    for (const [i, tenant] of ['acme', 'globex'].entries()) {
      const files = leases[i]?.snapshot.files ?? [];
      expect(files).toHaveLength(2);
      for (const file of files) {
        const [folder] = storage.tenantDirectories(tenant);
        expect(file.path.startsWith(`${folder}`), file.path).toBe(true);
        expect((await readFile(file.path, 'utf8')).startsWith('version-1-')).toBe(true);
      }
      expect(storage.metrics(tenant)).toMatchObject({ bytesCached: 22 });
    }
    for (const lease of leases) lease.release();
    await storage.close();
  });

  it('gives up a pinned dataset’s pins when a reload removes it, and pins files fetched after a restart', async () => {
    // 22 bytes pinned, and another dataset of 40 bytes, under a bound of 50: both fit only once the pins go.
    const other = join(root, 'origin', 'other');
    await mkdir(other, { recursive: true });
    await writeFile(join(other, 'x.csv'), 'a'.repeat(40));
    const pinned = { location: { kind: 'file' as const, path: origin }, format: 'parquet' as const, pin: true };
    const second = { location: { kind: 'file' as const, path: other }, format: 'csv' as const };
    const bounded = (datasets: Record<string, typeof pinned | typeof second>) =>
      options({ cacheMaxBytes: 50, tenants: { acme: { datasets } } });
    const storage = await createStorage(bounded({ events: pinned }));
    (await storage.acquire('acme', 'events')).release();
    // A changed spec replaces the handle: its pins go with it, and the new handle pins the same files once.
    await storage.reconfigure({ acme: { datasets: { events: { ...pinned, refreshIntervalSeconds: 30 } } } });
    (await storage.acquire('acme', 'events')).release();
    await storage.reconfigure({ acme: { datasets: { other: second } } });
    const lease = await storage.acquire('acme', 'other');
    expect(await readFile(lease.snapshot.files[0]?.path ?? '', 'utf8')).toBe('a'.repeat(40));
    lease.release();
    await storage.close();

    // After a restart whose cached files are gone, the pinned dataset's files are fetched again, and pinned.
    await rm(join(root, 'cache'), { recursive: true, force: true });
    const warm = await createStorage(bounded({ events: pinned }));
    (await warm.acquire('acme', 'events')).release();
    await rm(join(root, 'cache', 'acme', 'objects'), { recursive: true, force: true });
    await warm.close();
    const restarted = await createStorage(bounded({ events: pinned, other: second }));
    (await restarted.acquire('acme', 'events')).release();
    // No room for the other dataset while the pinned one holds its files: they stay.
    await expect(restarted.acquire('acme', 'other')).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    expect(restarted.describe('acme').find((d) => d.name === 'events')).toMatchObject({ bytesCached: 22 });
    await restarted.close();
  });

  it('stops polling a dataset a reload removed, even when a refresh was under way', async () => {
    const polled = { location: { kind: 'file' as const, path: origin }, format: 'parquet' as const };
    const storage = await createStorage(
      options({
        autoRefresh: true,
        tenants: { acme: { datasets: { events: { ...polled, refreshIntervalSeconds: 0.02 } } } },
      }),
    );
    (await storage.acquire('acme', 'events')).release();
    const refreshing = storage.refresh('acme', 'events');
    await storage.reconfigure({ acme: { datasets: {} } });
    await refreshing;
    const refreshes = storage.metrics('acme').refreshes;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(storage.metrics('acme').refreshes).toBe(refreshes);
    await storage.close();
  });

  it('keeps a local file’s cached version whole when the origin file is rewritten in place', async () => {
    const storage = await createStorage(options());
    const lease = await storage.acquire('acme', 'events');
    const cached = lease.snapshot.files.map((f) => f.path);
    const before = await Promise.all(cached.map((path) => readFile(path, 'utf8')));
    // Rewritten in place, same size: the same file, new bytes.
    await writeFile(join(origin, 'a.parquet'), 'version-2-a');
    expect(await Promise.all(cached.map((path) => readFile(path, 'utf8')))).toEqual(before);
    lease.release();
    await storage.close();
  });

  it('lists a location again when an evicted file of its version has changed or gone at the origin', async () => {
    const other = join(root, 'origin', 'other');
    await mkdir(other, { recursive: true });
    await writeFile(join(other, 'x.csv'), 'a'.repeat(40));
    // 22 bytes of events and 40 of other under a bound of 50: reading one evicts the other's files.
    const storage = await createStorage(
      options({
        cacheMaxBytes: 50,
        tenants: {
          acme: {
            datasets: {
              events: { location: { kind: 'file', path: origin }, format: 'parquet' },
              other: { location: { kind: 'file', path: other }, format: 'csv' },
            },
          },
        },
      }),
    );
    const read = async () => {
      const lease = await storage.acquire('acme', 'events');
      const texts = await Promise.all(lease.snapshot.files.map((f) => readFile(f.path, 'utf8')));
      lease.release();
      (await storage.acquire('acme', 'other')).release();
      return texts.sort();
    };
    expect(await read()).toEqual(['version-1-a', 'version-1-b']);
    // Changed at the origin while evicted (autoRefresh is off: no poll would ever see it).
    await writeFile(join(origin, 'a.parquet'), 'version-2-a');
    expect(await read()).toEqual(['version-1-b', 'version-2-a']);
    // Removed at the origin while evicted.
    await rm(join(origin, 'day=1', 'b.parquet'));
    expect(await read()).toEqual(['version-2-a']);
    await storage.close();
  });

  it('fetches again a cached file a crash left short, rather than serve it', async () => {
    const first = await createStorage(options());
    const lease = await first.acquire('acme', 'events');
    const path = lease.snapshot.files.find((f) => f.size === 11)?.path as string;
    lease.release();
    await first.close();
    // A copy renamed before its bytes reached the disk: the name is there, the bytes are not all.
    await writeFile(path, 'versi');
    const second = await createStorage(options());
    const again = await second.acquire('acme', 'events');
    for (const file of again.snapshot.files) expect((await stat(file.path)).size).toBe(file.size);
    expect((await readFile(path, 'utf8')).startsWith('version-1-')).toBe(true);
    again.release();
    await second.close();
  });

  it('snapshots the data files of the folder into the tenant’s cache', async () => {
    const storage = await createStorage(options());
    const lease = await storage.acquire('acme', 'events');
    expect(lease.snapshot.files.map((f) => f.size)).toEqual([11, 11]);
    for (const file of lease.snapshot.files) expect(file.path.startsWith(join(root, 'cache', 'acme'))).toBe(true);
    expect(await Promise.all(lease.snapshot.files.map((f) => readFile(f.path, 'utf8')))).toEqual([
      'version-1-a',
      'version-1-b',
    ]);
    expect(storage.tenantDirectories('acme')).toEqual([join(root, 'cache', 'acme')]);
    lease.release();
    await storage.close();
  });

  it('keeps a held snapshot readable after a refresh and frees its files when released', async () => {
    const storage = await createStorage(options());
    const old = await storage.acquire('acme', 'events');
    await rm(join(origin, 'a.parquet'));
    await writeFile(join(origin, 'a2.parquet'), 'version-2-a');
    const info = await storage.refresh('acme', 'events');
    expect(info.version).not.toBe(old.snapshot.version);
    const fresh = await storage.acquire('acme', 'events');
    expect(await Promise.all(fresh.snapshot.files.map((f) => readFile(f.path, 'utf8')))).toEqual([
      'version-2-a',
      'version-1-b',
    ]);
    // The old snapshot is still whole while held.
    expect(await readFile(old.snapshot.files[0]?.path ?? '', 'utf8')).toBe('version-1-a');
    old.release();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await expect(stat(old.snapshot.files[0]?.path ?? '')).rejects.toMatchObject({ code: 'ENOENT' });
    // Files shared by both versions stay.
    expect(await readFile(fresh.snapshot.files[1]?.path ?? '', 'utf8')).toBe('version-1-b');
    fresh.release();
    await storage.close();
  });

  it('starts warm after a restart, from the last complete snapshot, even with the origin gone', async () => {
    const first = await createStorage(options());
    const lease = await first.acquire('acme', 'events');
    const version = lease.snapshot.version;
    lease.release();
    await first.close();
    await rm(origin, { recursive: true });

    const second = await createStorage(options());
    const again = await second.acquire('acme', 'events');
    expect(again.snapshot.version).toBe(version);
    expect(await readFile(again.snapshot.files[0]?.path ?? '', 'utf8')).toBe('version-1-a');
    expect(second.metrics('acme')).toMatchObject({ hits: 1, misses: 0, originRequests: 0 });
    again.release();
    await second.close();
  });

  it('names the dataset when its location is empty or unknown', async () => {
    const storage = await createStorage(options());
    await expect(storage.acquire('acme', 'empty')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(storage.acquire('acme', 'empty')).rejects.toThrow(/Dataset "empty"/);
    await expect(storage.acquire('acme', 'nope')).rejects.toMatchObject({ code: 'UNKNOWN_TABLE' });
    await expect(storage.acquire('globex', 'events')).rejects.toMatchObject({ code: 'UNKNOWN_TABLE' });
    await storage.close();
  });

  it('reports datasets and per-tenant metrics', async () => {
    const storage = await createStorage(options());
    (await storage.acquire('acme', 'events')).release();
    (await storage.acquire('acme', 'events')).release();
    const [empty, events] = storage.describe('acme');
    expect(empty).toMatchObject({ name: 'empty', version: null, files: 0 });
    expect(events).toMatchObject({
      name: 'events',
      files: 2,
      bytes: 22,
      bytesCached: 22,
      stale: false,
      format: 'parquet',
    });
    expect(storage.metrics('acme')).toMatchObject({ hits: 1, misses: 1, hitRatio: 0.5, refreshes: 1, bytesCached: 22 });
    expect(storage.metrics('globex')).toMatchObject({ hits: 0, bytesCached: 0 });
    await storage.close();
  });

  it('reads byte ranges of a file', async () => {
    const storage = await createStorage(options());
    expect(new TextDecoder().decode(await storage.readRange('acme', 'events', 'a.parquet', 8, 11))).toBe('1-a');
    await expect(storage.readRange('acme', 'events', 'a.parquet', 5, 50)).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    });
    await storage.close();
  });

  it('polls the listing and switches to a changed version by itself', async () => {
    const storage = await createStorage(
      options({
        autoRefresh: true,
        tenants: {
          acme: {
            datasets: {
              events: { location: { kind: 'file', path: origin }, format: 'parquet', refreshIntervalSeconds: 1 },
            },
          },
        },
      }),
    );
    const first = await storage.acquire('acme', 'events');
    first.release();
    await writeFile(join(origin, 'z.parquet'), 'new file');
    const deadline = Date.now() + 5000;
    while (storage.describe('acme')[0]?.files !== 3 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(storage.describe('acme')[0]).toMatchObject({ files: 3 });
    const next = await storage.acquire('acme', 'events');
    expect(next.snapshot.version).not.toBe(first.snapshot.version);
    next.release();
    await storage.close();
  });

  it('warms the datasets a tenant usually queries at this hour, and lets idle ones go first', async () => {
    const HOUR = 3_600_000;
    let now = 0;
    const other = join(root, 'origin', 'other');
    await mkdir(other, { recursive: true });
    await writeFile(join(other, 'o.parquet'), 'x'.repeat(30));
    const storage = await createStorage(
      options({
        cacheMaxBytes: 40,
        clock: () => now,
        tenants: {
          acme: { datasets: { events: { location: { kind: 'file', path: origin }, format: 'parquet' } } },
          night: { datasets: { other: { location: { kind: 'file', path: other }, format: 'parquet' } } },
        },
      }),
    );
    // acme queries events at 09:00 every day; night queries its dataset at 21:00.
    for (let day = 0; day < 5; day++) {
      now = day * 24 * HOUR + 9 * HOUR;
      (await storage.acquire('acme', 'events')).release();
      now = day * 24 * HOUR + 21 * HOUR;
      (await storage.acquire('night', 'other')).release();
    }
    // At 21:00 the night tenant's file pushed acme's out (40-byte cache, 22 + 30 bytes).
    expect(storage.describe('acme')[0]?.bytesCached).toBe(0);
    now = 5 * 24 * HOUR + 8 * HOUR + 30 * 60_000;
    // The plan says what the policy will do, and why, before it runs.
    expect(storage.warmingPlan('acme', now)).toMatchObject([
      {
        dataset: 'events',
        decision: 'warm',
        reason: expect.stringMatching(/^queried at this time before: \d+% likely within 60 min/),
      },
    ]);
    expect(storage.warmingPlan('night', now)).toMatchObject([{ dataset: 'other', decision: 'let-go' }]);
    const report = await storage.runWarming(now);
    expect(report.warmed).toEqual(['acme/events']);
    expect(report.letGo).toEqual(['night/other']);
    expect(storage.describe('acme')[0]?.bytesCached).toBe(22);
    now += 30 * 60_000;
    const lease = await storage.acquire('acme', 'events');
    lease.release();
    expect(storage.metrics('acme').hits).toBeGreaterThan(0);
    expect(storage.metrics('night').evictions).toBeGreaterThan(0);
    await storage.close();
  });
});
