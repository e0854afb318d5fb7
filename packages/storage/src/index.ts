export type { ListedObject } from './local-store.js';
export { listLocalFolder } from './local-store.js';
export type { Location } from './location.js';
export { formatLocation, parseLocation } from './location.js';
export { matchesFormat, snapshotVersion } from './snapshot.js';
export type { DatasetSpec, Storage, StorageOptions } from './storage.js';
export { createStorage } from './storage.js';
