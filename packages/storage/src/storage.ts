import { join } from 'node:path';
import {
  type DatasetFormat,
  type DatasetSnapshot,
  LakegateError,
  type StorageAccess,
  throwIfAborted,
} from '@lakegate/engine-api';
import { listLocalFolder } from './local-store.js';
import { formatLocation, type Location } from './location.js';
import { matchesFormat, snapshotVersion } from './snapshot.js';

export interface DatasetSpec {
  readonly location: Location;
  readonly format: DatasetFormat;
}

export interface StorageOptions {
  /** Root of the local cache; each tenant gets its own folder below it. */
  readonly cacheDir: string;
  /** Datasets by tenant, then by name. */
  readonly tenants: Readonly<Record<string, { readonly datasets: Readonly<Record<string, DatasetSpec>> }>>;
}

/** The storage layer as the gateway sees it: dataset snapshots, and the directories engines may read. */
export interface Storage extends StorageAccess {
  /** The tenant's dataset names, sorted. */
  datasetNames(tenant: string): readonly string[];
  /** Lists a dataset's location and returns an immutable snapshot of it. */
  resolve(tenant: string, dataset: string, signal?: AbortSignal): Promise<DatasetSnapshot>;
  close(): Promise<void>;
}

export function createStorage(options: StorageOptions): Storage {
  const spec = (tenant: string, dataset: string): DatasetSpec => {
    const found = options.tenants[tenant]?.datasets[dataset];
    if (!found) throw new LakegateError('UNKNOWN_TABLE', `Dataset "${dataset}" does not exist.`);
    return found;
  };

  return {
    datasetNames: (tenant) => Object.keys(options.tenants[tenant]?.datasets ?? {}).sort(),

    tenantDirectories(tenant) {
      const dirs = [join(options.cacheDir, tenant)];
      for (const { location } of Object.values(options.tenants[tenant]?.datasets ?? {})) {
        if (location.kind === 'file') dirs.push(location.path);
      }
      return dirs;
    },

    async resolve(tenant, dataset, signal) {
      throwIfAborted(signal);
      const { location, format } = spec(tenant, dataset);
      if (location.kind !== 'file') {
        throw new LakegateError(
          'STORAGE_UNAVAILABLE',
          `Dataset "${dataset}" is at ${formatLocation(location)}; S3 locations need the storage cache, which this build does not include yet.`,
        );
      }
      let listed: Awaited<ReturnType<typeof listLocalFolder>>;
      try {
        listed = await listLocalFolder(location.path);
      } catch (error) {
        throw new LakegateError('STORAGE_UNAVAILABLE', `Dataset "${dataset}" could not be listed.`, {
          cause: error,
          retryAfterSeconds: 5,
        });
      }
      const files = listed.filter((f) => matchesFormat(f.key, format));
      return Object.freeze({
        tenant,
        dataset,
        format,
        version: snapshotVersion(files),
        files: Object.freeze(
          files.map((f) => Object.freeze({ path: join(location.path, f.key), size: f.size, etag: f.etag })),
        ),
      });
    },

    async close() {},
  };
}
