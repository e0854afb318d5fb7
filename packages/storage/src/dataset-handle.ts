import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  abortError,
  type DatasetFormat,
  type DatasetSnapshot,
  type EngineLogger,
  isLakegateError,
  LakegateError,
} from '@lakegate/engine-api';
import { writeFileAtomic } from './atomic-file.js';
import { type CacheEntry, type DiskCache, entryId, extensionOf, writeStream } from './disk-cache.js';
import { isOriginError, type ObjectInfo, type ObjectStore, OriginError } from './object-store.js';
import { matchesFormat, snapshotVersion } from './snapshot.js';
import type { MetricsRegistry } from './storage-metrics.js';

export interface DatasetSpec {
  readonly format: DatasetFormat;
  /** Keep the current snapshot's files in the cache whatever the pressure. */
  readonly pin?: boolean;
  /** Seconds between listings of the location; default 60. */
  readonly refreshIntervalSeconds?: number;
}

/** A snapshot handed to a query. Release it when the query ends; until then its files stay on disk. */
export interface SnapshotLease {
  readonly snapshot: DatasetSnapshot;
  /** The origin could not be reached at the last refresh: this is the last complete version known. */
  readonly stale: boolean;
  release(): void;
}

export interface DatasetInfo {
  readonly name: string;
  readonly format: DatasetFormat;
  readonly location: string;
  readonly pinned: boolean;
  readonly version: string | null;
  readonly files: number;
  readonly bytes: number;
  readonly bytesCached: number;
  readonly lastRefreshAt: string | null;
  readonly stale: boolean;
  /** False when no version could be read yet and the last attempt failed (`lastError` says why). */
  readonly available: boolean;
  readonly lastError: string | null;
}

export interface DatasetContext {
  readonly cache: DiskCache;
  readonly metrics: MetricsRegistry;
  readonly clock: () => number;
  readonly fetchConcurrency: number;
  readonly autoRefresh: boolean;
  readonly logger?: EngineLogger | undefined;
}

interface SnapshotFileRef {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly id: string;
  readonly extension: string;
}

interface Materialized {
  readonly snapshot: DatasetSnapshot;
  readonly files: readonly SnapshotFileRef[];
  leases: number;
  superseded: boolean;
}

interface Manifest {
  readonly location: string;
  readonly format: DatasetFormat;
  readonly version: string;
  readonly refreshedAt: number;
  readonly files: readonly { key: string; size: number; etag: string }[];
}

const FETCH_ATTEMPTS = 3;
/** The pause before a fetch's second attempt; each next one doubles it. */
const FETCH_BACKOFF_MS = 200;

/** Waits for `promise` unless `signal` aborts first. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * One dataset of one tenant: its current snapshot (complete on disk before it becomes current), the
 * snapshots queries still hold, refreshes, polling, and the manifest that lets a restart start warm.
 */
export class DatasetHandle {
  readonly tenant: string;
  readonly name: string;
  readonly spec: DatasetSpec;
  readonly store: ObjectStore;
  readonly #ctx: DatasetContext;
  #current: Materialized | undefined;
  #refreshing: Promise<Materialized> | undefined;
  #lastRefreshAt: number | undefined;
  #lastError: string | undefined;
  #stale = false;
  #timer: NodeJS.Timeout | undefined;
  /** Stopped (removed or replaced by a reload, or the storage closed): it neither polls nor pins again. */
  #stopped = false;
  /** The entries this handle pins (a `pin: true` dataset's current files that are cached), each once. */
  readonly #pinned = new Map<string, CacheEntry>();

  constructor(tenant: string, name: string, spec: DatasetSpec, store: ObjectStore, ctx: DatasetContext) {
    this.tenant = tenant;
    this.name = name;
    this.spec = spec;
    this.store = store;
    this.#ctx = ctx;
  }

  get #manifestPath(): string {
    return join(this.#ctx.cache.tenantDirectory(this.tenant), 'manifests', `${this.name}.json`);
  }

  /** Loads the last complete snapshot recorded on disk, if it matches the configured location and format. */
  async restore(): Promise<boolean> {
    let manifest: Manifest;
    try {
      manifest = JSON.parse(await readFile(this.#manifestPath, 'utf8')) as Manifest;
    } catch {
      return false;
    }
    if (manifest.location !== this.store.description || manifest.format !== this.spec.format) return false;
    this.#install(this.#materialize(manifest.files, manifest.version));
    this.#lastRefreshAt = manifest.refreshedAt;
    return true;
  }

  /** Lists the location now; a new version becomes current once all its files are cached. */
  refresh(): Promise<Materialized> {
    this.#refreshing ??= this.#refreshWithRetry()
      .then(
        (m) => {
          this.#stale = false;
          this.#lastError = undefined;
          this.#schedulePolling();
          return m;
        },
        (error: unknown) => {
          this.#ctx.metrics.add(this.tenant, 'refreshFailures');
          const mapped = this.#describe(error);
          // Kept also when no version was ever read: `available: false` with the reason is what operators look for.
          this.#lastError = mapped.message;
          if (this.#current) {
            this.#stale = true;
            this.#ctx.logger?.warn('storage.refresh_failed', {
              tenant: this.tenant,
              dataset: this.name,
              error: mapped.message,
            });
          }
          throw mapped;
        },
      )
      .finally(() => {
        this.#refreshing = undefined;
      });
    return this.#refreshing;
  }

  /** Makes sure the current snapshot (loading it if needed) is entirely cached, without holding it. */
  async warm(signal?: AbortSignal): Promise<void> {
    const lease = await this.acquire(signal, false);
    lease.release();
  }

  /**
   * Hands the current snapshot to a query. Never waits for a refresh: only a dataset that was never loaded,
   * or whose files were evicted, waits for the origin.
   */
  async acquire(signal?: AbortSignal, countAsQuery = true, relisted = false): Promise<SnapshotLease> {
    const cold = this.#current === undefined;
    const m = this.#current ?? (await raceAbort(this.refresh(), signal));
    m.leases++;
    const held: CacheEntry[] = [];
    const missing: SnapshotFileRef[] = [];
    for (const file of m.files) {
      const entry = this.#ctx.cache.lookup(file.id, file.size);
      if (entry) {
        this.#ctx.cache.retain(entry);
        held.push(entry);
      } else {
        missing.push(file);
      }
    }
    const releaseAll = (entries: readonly CacheEntry[]): void => {
      for (const entry of entries) this.#ctx.cache.release(entry);
    };
    if (missing.length > 0) {
      const fetching = this.#fetchAll(missing);
      try {
        held.push(...(await raceAbort(fetching, signal)));
      } catch (error) {
        fetching.then(releaseAll, () => undefined);
        releaseAll(held);
        this.#leaveSnapshot(m);
        // A file of the current version was evicted, and the origin has since changed or removed it: that version
        // cannot be read again. The location is listed again, once, and the query reads the version it holds now,
        // rather than fail until the next poll (or for good, without polling).
        // (Another query's listing may have made a newer version current meanwhile: that one is read.)
        const gone = isOriginError(error) && (error.reason === 'changed' || error.reason === 'not-found');
        if (gone && !relisted) {
          if (m === this.#current) await raceAbort(this.refresh(), signal);
          return this.acquire(signal, countAsQuery, true);
        }
        throw this.#describe(error);
      }
    }
    // A pinned dataset's files fetched now (evicted before it was pinned, or missing at a restart) are pinned too.
    if (missing.length > 0 && m === this.#current) this.#pinCurrent();
    if (countAsQuery) this.#countQuery(m, !cold && missing.length === 0);
    let released = false;
    return {
      snapshot: m.snapshot,
      stale: this.#stale,
      release: () => {
        if (released) return;
        released = true;
        releaseAll(held);
        this.#leaveSnapshot(m);
      },
    };
  }

  /**
   * The current snapshot, when it is loaded and every file of it is cached, without holding it: for an answer that
   * reads none of its files (a cached result). Undefined when a query would have to wait for the origin.
   */
  peek(): { snapshot: DatasetSnapshot; stale: boolean } | undefined {
    const m = this.#current;
    if (!m) return undefined;
    for (const file of m.files) if (!this.#ctx.cache.lookup(file.id)) return undefined;
    return { snapshot: m.snapshot, stale: this.#stale };
  }

  /** Counts a query answered from {@link peek}'s snapshot, as {@link acquire} counts a query of a cached one. */
  countPeeked(): void {
    if (this.#current) this.#countQuery(this.#current, true);
  }

  /** A query of snapshot `m`: a hit when every file of it was cached, and its bytes as served. */
  #countQuery(m: Materialized, hit: boolean): void {
    this.#ctx.metrics.add(this.tenant, hit ? 'hits' : 'misses');
    this.#ctx.metrics.add(
      this.tenant,
      'bytesServed',
      m.files.reduce((sum, f) => sum + f.size, 0),
    );
  }

  /** Lets the warming policy put this dataset's unused files first in line for eviction. */
  letGo(): void {
    for (const file of this.#current?.files ?? []) {
      const entry = this.#ctx.cache.lookup(file.id);
      if (entry && entry.refs === 0) this.#ctx.cache.demote(entry);
    }
  }

  /** Bytes of the current snapshot, or 0 before the first load. */
  get bytes(): number {
    return this.#current?.files.reduce((sum, f) => sum + f.size, 0) ?? 0;
  }

  info(): DatasetInfo {
    const files = this.#current?.files ?? [];
    return {
      name: this.name,
      format: this.spec.format,
      location: this.store.description,
      pinned: this.spec.pin === true,
      version: this.#current?.snapshot.version ?? null,
      files: files.length,
      bytes: this.bytes,
      bytesCached: files.reduce((sum, f) => sum + (this.#ctx.cache.lookup(f.id) ? f.size : 0), 0),
      lastRefreshAt: this.#lastRefreshAt === undefined ? null : new Date(this.#lastRefreshAt).toISOString(),
      stale: this.#stale,
      available: this.#current !== undefined || this.#lastError === undefined,
      lastError: this.#lastError ?? null,
    };
  }

  /**
   * The file for `key`, for ranged reads: from the current snapshot, or asked of the origin alone when the
   * dataset is not loaded (reading a footer must not download the whole dataset).
   */
  async fileFor(key: string): Promise<SnapshotFileRef> {
    const known = this.#current?.files.find((f) => f.key === key);
    if (known) return known;
    if (this.#current || !matchesFormat(key, this.spec.format)) {
      throw new LakegateError('NOT_FOUND', `Dataset "${this.name}" has no file "${key}".`);
    }
    let info: ObjectInfo;
    try {
      info = await this.store.head(key);
    } catch (error) {
      throw isOriginError(error) && error.reason === 'not-found'
        ? new LakegateError('NOT_FOUND', `Dataset "${this.name}" has no file "${key}".`)
        : this.#describe(error);
    }
    const [file] = this.#materialize([info], '').files;
    return file as SnapshotFileRef;
  }

  /**
   * Stops polling, for good (a refresh under way does not start it again), and gives up the handle's pins: a
   * dataset a reload removed or replaced leaves its files to eviction, and the handle that replaces it pins them
   * again.
   */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pinCurrent();
  }

  /** Fetches one file into the cache (retained), retrying truncated or interrupted downloads. */
  async fetchFile(file: SnapshotFileRef, range?: { start: number; end: number }): Promise<CacheEntry> {
    const id = range
      ? entryId(this.tenant, this.store.description, file.key, file.etag, file.size, `${range.start}-${range.end}`)
      : file.id;
    const size = range ? range.end - range.start : file.size;
    const extension = range ? '.range' : file.extension;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#ctx.cache.fill(this.tenant, id, extension, size, async (temporary) => {
          this.#ctx.metrics.add(this.tenant, 'originRequests');
          if (this.store.copyTo && !range) {
            await this.store.copyTo(file.key, temporary, file.etag);
          } else {
            const body = await this.store.get(file.key, { ifMatch: file.etag, ...(range ? { range } : {}) });
            try {
              await writeStream(body, temporary);
            } catch (error) {
              throw isOriginError(error)
                ? error
                : new OriginError('truncated', `${file.key} download broke off`, { cause: error });
            }
          }
          this.#ctx.metrics.add(this.tenant, 'originBytes', size);
        });
      } catch (error) {
        const retryable = isOriginError(error) && (error.reason === 'truncated' || error.reason === 'unreachable');
        if (!retryable || attempt >= FETCH_ATTEMPTS) throw error;
        this.#ctx.logger?.warn('storage.fetch_retry', {
          tenant: this.tenant,
          dataset: this.name,
          key: file.key,
          attempt,
        });
        // A pause that doubles, jittered, so that a throttled or struggling origin is not asked again at once.
        await new Promise((resolve) =>
          setTimeout(resolve, FETCH_BACKOFF_MS * 2 ** (attempt - 1) * (0.5 + Math.random())),
        );
      }
    }
  }

  async #refreshWithRetry(): Promise<Materialized> {
    try {
      return await this.#refreshOnce();
    } catch (error) {
      // An object replaced or removed between listing and download: list again, once.
      if (isOriginError(error) && (error.reason === 'changed' || error.reason === 'not-found'))
        return this.#refreshOnce();
      throw error;
    }
  }

  async #refreshOnce(): Promise<Materialized> {
    const listed = (await this.store.list()).filter((o) => matchesFormat(o.key, this.spec.format));
    this.#ctx.metrics.add(this.tenant, 'refreshes');
    if (listed.length === 0) {
      throw new LakegateError(
        'NOT_FOUND',
        `Dataset "${this.name}" has no ${this.spec.format} files at ${this.store.description}.`,
      );
    }
    const version = snapshotVersion(listed);
    this.#lastRefreshAt = this.#ctx.clock();
    if (this.#current?.snapshot.version === version) return this.#current;
    this.#ctx.metrics.add(this.tenant, 'versionsChanged');

    const next = this.#materialize(listed, version);
    // Every file is on disk before the version becomes current, and held until then so eviction cannot undo it.
    const held = await this.#fetchAll(next.files);
    try {
      this.#install(next);
      await this.#writeManifest(listed, version);
    } finally {
      for (const entry of held) this.#ctx.cache.release(entry);
    }
    return next;
  }

  /** Fetches files with bounded concurrency; all retained on success, none on failure. */
  async #fetchAll(files: readonly SnapshotFileRef[]): Promise<CacheEntry[]> {
    const held: CacheEntry[] = [];
    let next = 0;
    let failure: unknown;
    const worker = async (): Promise<void> => {
      while (failure === undefined && next < files.length) {
        const file = files[next++] as SnapshotFileRef;
        try {
          held.push(await this.fetchFile(file));
        } catch (error) {
          failure ??= error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#ctx.fetchConcurrency, files.length) }, worker));
    if (failure !== undefined) {
      for (const entry of held) this.#ctx.cache.release(entry);
      throw failure;
    }
    return held;
  }

  #materialize(files: readonly Pick<ObjectInfo, 'key' | 'size' | 'etag'>[], version: string): Materialized {
    const refs = files.map((f) => {
      const id = entryId(this.tenant, this.store.description, f.key, f.etag, f.size);
      return { key: f.key, size: f.size, etag: f.etag, id, extension: extensionOf(f.key) };
    });
    const snapshot: DatasetSnapshot = Object.freeze({
      tenant: this.tenant,
      dataset: this.name,
      format: this.spec.format,
      version,
      files: Object.freeze(
        refs.map((f) =>
          Object.freeze({ path: this.#ctx.cache.pathFor(this.tenant, f.id, f.extension), size: f.size, etag: f.etag }),
        ),
      ),
    });
    return { snapshot, files: refs, leases: 0, superseded: false };
  }

  /** Makes `next` current in one step; the previous snapshot lives on until its last query ends. */
  #install(next: Materialized): void {
    const previous = this.#current;
    this.#current = next;
    this.#pinCurrent();
    if (previous) {
      previous.superseded = true;
      if (previous.leases === 0) this.#free(previous);
    }
  }

  /**
   * Pins the current snapshot's cached files, each once, and unpins those it no longer has; a stopped handle, or a
   * dataset not pinned, holds no pin.
   */
  #pinCurrent(): void {
    const wanted = new Set(this.spec.pin && !this.#stopped ? this.#current?.files.map((f) => f.id) : []);
    for (const [id, entry] of this.#pinned) {
      if (wanted.has(id)) continue;
      this.#pinned.delete(id);
      this.#ctx.cache.unpin(entry);
    }
    for (const id of wanted) {
      const entry = this.#ctx.cache.lookup(id);
      const held = this.#pinned.get(id);
      if (held === entry) continue;
      // The entry pinned was replaced (a damaged file fetched again): the new one is pinned instead.
      if (held) this.#ctx.cache.unpin(held);
      this.#pinned.delete(id);
      if (!entry) continue;
      this.#pinned.set(id, entry);
      this.#ctx.cache.pin(entry);
    }
  }

  #leaveSnapshot(m: Materialized): void {
    m.leases--;
    if (m.superseded && m.leases === 0) this.#free(m);
  }

  /** Deletes a superseded snapshot's files that the current one does not share. */
  #free(old: Materialized): void {
    const keep = new Set(this.#current?.files.map((f) => f.id));
    for (const file of old.files) if (!keep.has(file.id)) this.#ctx.cache.discard(file.id);
  }

  async #writeManifest(files: readonly ObjectInfo[], version: string): Promise<void> {
    const manifest: Manifest = {
      location: this.store.description,
      format: this.spec.format,
      version,
      refreshedAt: this.#lastRefreshAt ?? this.#ctx.clock(),
      files: files.map((f) => ({ key: f.key, size: f.size, etag: f.etag })),
    };
    await writeFileAtomic(this.#manifestPath, JSON.stringify(manifest));
  }

  #schedulePolling(): void {
    if (!this.#ctx.autoRefresh || this.#timer || this.#stopped) return;
    const seconds = this.spec.refreshIntervalSeconds ?? 60;
    // Jitter spreads the listings of many datasets over the interval.
    const delay = seconds * 1000 * (0.9 + Math.random() * 0.2);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.refresh().catch(() => this.#schedulePolling());
    }, delay);
    this.#timer.unref();
  }

  /** Names the dataset in whatever went wrong, with the code a client can act on. */
  #describe(error: unknown): LakegateError {
    if (isLakegateError(error)) return error;
    const where = `Dataset "${this.name}" (${this.store.description})`;
    if (isOriginError(error)) {
      switch (error.reason) {
        case 'unreachable':
        case 'truncated':
        case 'changed':
          return new LakegateError('STORAGE_UNAVAILABLE', `${where} is unavailable: ${error.message}.`, {
            cause: error,
            retryAfterSeconds: 5,
          });
        case 'no-bucket':
          return new LakegateError('STORAGE_UNAVAILABLE', `${where} is unavailable: its bucket does not exist.`, {
            cause: error,
            retryAfterSeconds: 60,
          });
        case 'access-denied':
          return new LakegateError(
            'STORAGE_UNAVAILABLE',
            `${where} is unavailable: the storage credentials are missing, wrong, or not allowed to read it.`,
            { cause: error, retryAfterSeconds: 60 },
          );
        case 'not-found':
          return new LakegateError('NOT_FOUND', `${where} does not exist.`, { cause: error });
        default:
          return new LakegateError('STORAGE_UNAVAILABLE', `${where} could not be read.`, {
            cause: error,
            retryAfterSeconds: 5,
          });
      }
    }
    return new LakegateError('STORAGE_UNAVAILABLE', `${where} could not be read.`, {
      cause: error,
      retryAfterSeconds: 5,
    });
  }
}
