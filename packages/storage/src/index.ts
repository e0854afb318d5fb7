export type { BlobStore } from './blob-store.js';
export { createBlobStore, createFileBlobStore, createS3BlobStore } from './blob-store.js';
export type { DatasetInfo, DatasetSpec, SnapshotLease } from './dataset-handle.js';
export type { CacheEntry, DiskCacheOptions } from './disk-cache.js';
export { DiskCache, entryId, extensionOf, writeStream } from './disk-cache.js';
export { createLocalObjectStore } from './local-object-store.js';
export type { ListedObject } from './local-store.js';
export { listLocalFolder } from './local-store.js';
export type { Location } from './location.js';
export { parseLocation } from './location.js';
export type { GetOptions, ObjectInfo, ObjectStore, OriginFailure } from './object-store.js';
export { isOriginError, OriginError } from './object-store.js';
export type { S3Settings } from './s3-object-store.js';
export { createS3Client, createS3ObjectStore, type S3ObjectStoreOptions } from './s3-object-store.js';
export { matchesFormat, snapshotVersion } from './snapshot.js';
export type {
  Storage,
  StorageDatasetSpec,
  StorageOptions,
  StorageTenantSpec,
  WarmingOptions,
  WarmingPlanEntry,
  WarmingReport,
} from './storage.js';
export { createStorage } from './storage.js';
export type { TenantCacheMetrics } from './storage-metrics.js';
export type { WarmingCandidate, WarmingPlan, WarmingPolicyOptions } from './usage-history.js';
export { planWarming, UsageHistory } from './usage-history.js';
