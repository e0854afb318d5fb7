import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLocation } from './location.js';
import { createStorage } from './storage.js';

describe('parseLocation', () => {
  it('resolves relative file: locations against the config folder', () => {
    expect(parseLocation('file:./data/acme/', '/etc/lakegate')).toEqual({
      kind: 'file',
      path: '/etc/lakegate/data/acme',
    });
    expect(parseLocation('file:///srv/x/', '/ignored')).toEqual({ kind: 'file', path: '/srv/x' });
  });

  it('splits s3 locations into bucket and prefix', () => {
    expect(parseLocation('s3://bucket/acme/events', '/')).toEqual({
      kind: 's3',
      bucket: 'bucket',
      prefix: 'acme/events/',
    });
    expect(parseLocation('s3://bucket', '/')).toEqual({ kind: 's3', bucket: 'bucket', prefix: '' });
  });

  it('describes what is wrong with a bad location', () => {
    expect(parseLocation('http://x/y', '/')).toHaveProperty('problem');
    expect(parseLocation('s3://Bad_Bucket/x', '/')).toHaveProperty('problem');
  });
});

describe('local storage', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-storage-'));
    await mkdir(join(root, 'events', 'day=1'), { recursive: true });
    await mkdir(join(root, 'events', '.tmp'), { recursive: true });
    await writeFile(join(root, 'events', 'a.parquet'), 'aaaa');
    await writeFile(join(root, 'events', 'day=1', 'b.parquet'), 'bb');
    await writeFile(join(root, 'events', '_SUCCESS'), '');
    await writeFile(join(root, 'events', 'notes.txt'), 'ignored');
    await writeFile(join(root, 'events', '.tmp', 'partial.parquet'), 'partial');
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  const storage = () =>
    createStorage({
      cacheDir: join(root, 'cache'),
      tenants: {
        acme: {
          datasets: {
            events: { location: { kind: 'file', path: join(root, 'events') }, format: 'parquet' },
            remote: { location: { kind: 's3', bucket: 'bucket', prefix: 'x/' }, format: 'csv' },
          },
        },
      },
    });

  it('snapshots the data files of a folder, recursively, skipping hidden files and markers', async () => {
    const snapshot = await storage().resolve('acme', 'events');
    expect(snapshot.files.map((f) => [f.path.slice(root.length), f.size])).toEqual([
      ['/events/a.parquet', 4],
      ['/events/day=1/b.parquet', 2],
    ]);
  });

  it('keeps the version while nothing changes and changes it when a file does', async () => {
    const first = await storage().resolve('acme', 'events');
    expect((await storage().resolve('acme', 'events')).version).toBe(first.version);
    await writeFile(join(root, 'events', 'a.parquet'), 'aaaaa');
    expect((await storage().resolve('acme', 'events')).version).not.toBe(first.version);
  });

  it('refuses unknown datasets and datasets of other tenants', async () => {
    await expect(storage().resolve('acme', 'nope')).rejects.toMatchObject({ code: 'UNKNOWN_TABLE' });
    await expect(storage().resolve('globex', 'events')).rejects.toMatchObject({ code: 'UNKNOWN_TABLE' });
  });

  it('gives engines only the tenant’s own folders', () => {
    expect(storage().tenantDirectories('acme')).toEqual([join(root, 'cache', 'acme'), join(root, 'events')]);
    expect(storage().tenantDirectories('globex')).toEqual([join(root, 'cache', 'globex')]);
  });
});
