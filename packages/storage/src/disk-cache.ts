import { createHash, randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { LakegateError } from '@lakegate/engine-api';
import { OriginError } from './object-store.js';

/** One cached file. Mutable fields are owned by the cache. */
export interface CacheEntry {
  readonly id: string;
  readonly tenant: string;
  readonly path: string;
  readonly size: number;
  /** For LRU; 0 puts the entry first in line for eviction. */
  lastAccess: number;
  /** Queries (snapshot leases) and refreshes using the file: it cannot be evicted while > 0. */
  refs: number;
  /** Pinned datasets using the file: it cannot be evicted while > 0. */
  pins: number;
  /** Delete as soon as nothing uses it (its snapshot was superseded). */
  doomed: boolean;
}

export interface DiskCacheOptions {
  readonly dir: string;
  readonly maxBytes: number;
  /** A tenant's byte quota, or undefined for none. */
  readonly quotaFor: (tenant: string) => number | undefined;
  readonly clock?: () => number;
  /** Called for each entry evicted to make room (not for superseded files freed). */
  readonly onEvict?: (entry: CacheEntry) => void;
}

interface FillJob {
  waiters: number;
  promise: Promise<CacheEntry>;
}

/** Errors of a local disk with no room left (the device, or the user's quota). */
const DISK_FULL = new Set(['ENOSPC', 'EDQUOT']);

/**
 * The error for a write the cache disk had no room for, or undefined for any other failure. The download may have
 * wrapped the disk's error as its cause. A full disk is the cache's problem, not the origin's: the download is not
 * retried, and the message says what an operator can change.
 */
function diskFullError(error: unknown): LakegateError | undefined {
  const codeOf = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;
  const code = codeOf(error) ?? codeOf((error as { cause?: unknown } | undefined)?.cause);
  if (!code || !DISK_FULL.has(code)) return undefined;
  return new LakegateError(
    'STORAGE_UNAVAILABLE',
    'The gateway’s cache disk is full, so the dataset cannot be loaded; retry later. (Operators: free space on the cache disk or lower storage.cacheMaxBytes below its size.)',
    { cause: error, retryAfterSeconds: 30 },
  );
}

const ENTRY_NAME = /^([0-9a-f]{64})(\.[A-Za-z0-9.]*)?$/;
const TEMP_MARK = '.tmp-';

/**
 * A cache entry id: the origin object's identity at one version, in one tenant's cache. Each tenant holds its own
 * copy in its own folder (where its engine may read), so two tenants with one location share no entry: neither's
 * bytes count against the other's bound, nor does one's eviction or refresh remove the other's files.
 */
export function entryId(tenant: string, origin: string, key: string, etag: string, size: number, variant = ''): string {
  return createHash('sha256').update(`${tenant}\0${origin}\0${key}\0${etag}\0${size}\0${variant}`).digest('hex');
}

/** The file extension kept on cached copies, so engines that sniff it (compression, format) still can. */
export function extensionOf(key: string): string {
  const base = key.slice(key.lastIndexOf('/') + 1);
  const match = /((?:\.[A-Za-z0-9]{1,10}){1,2})$/.exec(base);
  return match?.[1]?.toLowerCase() ?? '';
}

/**
 * The local, on-disk cache: whole files (and ranges) keyed by origin identity and version, bounded by a global
 * size and per-tenant quotas, evicted least-recently-used first. Files are written under a temporary name,
 * synced and renamed, so a crash never leaves a partial file under a real name; the index is rebuilt from the
 * folder on start, so a restarted gateway starts warm.
 */
export class DiskCache {
  readonly #options: DiskCacheOptions;
  readonly #clock: () => number;
  readonly #entries = new Map<string, CacheEntry>();
  readonly #inflight = new Map<string, FillJob>();
  readonly #usage = new Map<string, number>();
  /** Bytes promised to downloads in progress, per tenant and in total. */
  readonly #reserved = new Map<string, number>();
  #total = 0;
  #reservedTotal = 0;

  private constructor(options: DiskCacheOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
  }

  /** Opens the cache folder: removes leftovers of interrupted writes and indexes every complete file. */
  static async open(options: DiskCacheOptions): Promise<DiskCache> {
    const cache = new DiskCache(options);
    await mkdir(options.dir, { recursive: true });
    for (const tenant of await readdir(options.dir, { withFileTypes: true })) {
      if (!tenant.isDirectory()) continue;
      const objects = join(options.dir, tenant.name, 'objects');
      let shards: string[];
      try {
        shards = await readdir(objects);
      } catch {
        continue;
      }
      for (const shard of shards) {
        for (const name of await readdir(join(objects, shard)).catch(() => [] as string[])) {
          const path = join(objects, shard, name);
          if (name.includes(TEMP_MARK)) {
            await unlink(path).catch(() => undefined);
            continue;
          }
          const match = ENTRY_NAME.exec(name);
          if (!match?.[1]) continue;
          const stats = await stat(path);
          cache.#add({
            id: match[1],
            tenant: tenant.name,
            path,
            size: stats.size,
            lastAccess: stats.mtimeMs,
            refs: 0,
            pins: 0,
            doomed: false,
          });
        }
      }
    }
    return cache;
  }

  /** Where the file for `id` lives (whether or not it is cached yet). */
  pathFor(tenant: string, id: string, extension: string): string {
    return join(this.#options.dir, tenant, 'objects', id.slice(0, 2), `${id}${extension}`);
  }

  tenantDirectory(tenant: string): string {
    return join(this.#options.dir, tenant);
  }

  /**
   * The entry for `id`. With the `size` its id was made for, an entry of another size is a file a crash left short
   * (its copy renamed before its bytes reached the disk): removed, unless a reader holds it, and not returned.
   */
  lookup(id: string, size?: number): CacheEntry | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined || size === undefined || entry.size === size) return entry;
    if (entry.refs === 0) void this.#remove(entry);
    return undefined;
  }

  touch(entry: CacheEntry): void {
    entry.lastAccess = this.#clock();
  }

  /** Bytes cached for a tenant, or in total. */
  usage(tenant?: string): number {
    return tenant === undefined ? this.#total : (this.#usage.get(tenant) ?? 0);
  }

  get maxBytes(): number {
    return this.#options.maxBytes;
  }

  /**
   * Returns the entry for `id`, retained for the caller (release it when done), filling it with
   * `write(temporaryPath)` on a miss. Concurrent calls for the same id share one fill, hence one origin read.
   * The written file must have exactly `size` bytes.
   */
  fill(
    tenant: string,
    id: string,
    extension: string,
    size: number,
    write: (temporaryPath: string) => Promise<void>,
  ): Promise<CacheEntry> {
    const existing = this.#entries.get(id);
    if (existing) {
      this.retain(existing);
      return Promise.resolve(existing);
    }
    let job = this.#inflight.get(id);
    if (!job) {
      const created: FillJob = { waiters: 0, promise: Promise.resolve(undefined as unknown as CacheEntry) };
      created.promise = this.#fill(tenant, id, extension, size, write, created).finally(() =>
        this.#inflight.delete(id),
      );
      this.#inflight.set(id, created);
      job = created;
    }
    job.waiters++;
    return job.promise;
  }

  async #fill(
    tenant: string,
    id: string,
    extension: string,
    size: number,
    write: (temporaryPath: string) => Promise<void>,
    job: FillJob,
  ): Promise<CacheEntry> {
    // Reserve first, so concurrent fills see each other's bytes while they make room.
    this.#reserve(tenant, size);
    const path = this.pathFor(tenant, id, extension);
    const temporary = `${path}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await this.#makeRoom(tenant, size);
      await mkdir(join(this.#options.dir, tenant, 'objects', id.slice(0, 2)), { recursive: true });
      await write(temporary);
      const written = (await stat(temporary)).size;
      if (written !== size) {
        throw new OriginError('truncated', `expected ${size} bytes, received ${written}`);
      }
      await rename(temporary, path);
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw diskFullError(error) ?? error;
    } finally {
      this.#reserve(tenant, -size);
    }
    // Born retained by every caller waiting on this fill, so nothing can evict it before they see it.
    const entry: CacheEntry = {
      id,
      tenant,
      path,
      size,
      lastAccess: this.#clock(),
      refs: job.waiters,
      pins: 0,
      doomed: false,
    };
    this.#add(entry);
    return entry;
  }

  /** Marks an entry as used by a query or refresh: it will not be evicted until released. */
  retain(entry: CacheEntry): void {
    entry.refs++;
    entry.lastAccess = this.#clock();
  }

  release(entry: CacheEntry): void {
    entry.refs--;
    if (entry.refs === 0 && entry.doomed && entry.pins === 0) void this.#remove(entry);
  }

  pin(entry: CacheEntry): void {
    entry.pins++;
  }

  unpin(entry: CacheEntry): void {
    entry.pins--;
    if (entry.pins === 0 && entry.refs === 0 && entry.doomed) void this.#remove(entry);
  }

  /** Frees a file no current snapshot needs: now if unused, else when its last user releases it. */
  discard(id: string): void {
    const entry = this.#entries.get(id);
    if (!entry) return;
    entry.doomed = true;
    if (entry.refs === 0 && entry.pins === 0) void this.#remove(entry);
  }

  /** Moves an entry to the front of the eviction line (a cold dataset the warming policy lets go). */
  demote(entry: CacheEntry): void {
    entry.lastAccess = 0;
  }

  #add(entry: CacheEntry): void {
    this.#entries.set(entry.id, entry);
    this.#usage.set(entry.tenant, (this.#usage.get(entry.tenant) ?? 0) + entry.size);
    this.#total += entry.size;
  }

  async #remove(entry: CacheEntry): Promise<void> {
    if (this.#entries.get(entry.id) !== entry) return;
    this.#entries.delete(entry.id);
    this.#usage.set(entry.tenant, (this.#usage.get(entry.tenant) ?? 0) - entry.size);
    this.#total -= entry.size;
    await unlink(entry.path).catch(() => undefined);
  }

  #reserve(tenant: string, bytes: number): void {
    this.#reserved.set(tenant, (this.#reserved.get(tenant) ?? 0) + bytes);
    this.#reservedTotal += bytes;
  }

  /** The least recently used entry that nothing holds, among one tenant's or all. */
  #victim(tenant?: string): CacheEntry | undefined {
    let victim: CacheEntry | undefined;
    for (const entry of this.#entries.values()) {
      if (entry.refs > 0 || entry.pins > 0) continue;
      if (tenant !== undefined && entry.tenant !== tenant) continue;
      if (!victim || entry.lastAccess < victim.lastAccess) victim = entry;
    }
    return victim;
  }

  /**
   * Evicts until the reserved bytes (including this fill's `size`) fit: first within the tenant's quota (only its own files), then within the
   * global bound (least recently used of anyone's). Refuses when the files in use leave no room.
   */
  async #makeRoom(tenant: string, size: number): Promise<void> {
    const quota = this.#options.quotaFor(tenant);
    const limit = Math.min(quota ?? Number.POSITIVE_INFINITY, this.#options.maxBytes);
    if (size > limit) {
      throw new LakegateError(
        'RESOURCE_EXHAUSTED',
        `A ${size}-byte file does not fit the cache (${quota !== undefined && quota < this.#options.maxBytes ? `tenant quota ${quota}` : `cache limit ${limit}`} bytes).`,
      );
    }
    const evict = async (victim: CacheEntry | undefined, what: string): Promise<void> => {
      if (!victim) {
        throw new LakegateError(
          'RESOURCE_EXHAUSTED',
          `The ${what} is full of files that running queries or pinned datasets use; retry later or raise the limit.`,
          { retryAfterSeconds: 5 },
        );
      }
      this.#options.onEvict?.(victim);
      await this.#remove(victim);
    };
    if (quota !== undefined) {
      while (this.usage(tenant) + (this.#reserved.get(tenant) ?? 0) > quota) {
        await evict(this.#victim(tenant), 'tenant cache quota');
      }
    }
    while (this.#total + this.#reservedTotal > this.#options.maxBytes) {
      await evict(this.#victim(), 'cache');
    }
  }
}

/** Chunks are gathered up to this many bytes per write: an origin's 16–64 KiB chunks would each cost a write. */
const WRITE_BYTES = 1 << 20;

/** Writes a byte stream to a new file, synced to disk before it is closed. */
export async function writeStream(source: AsyncIterable<Uint8Array>, path: string): Promise<number> {
  const handle = await open(path, 'wx');
  let bytes = 0;
  let gathered: Uint8Array[] = [];
  let gatheredBytes = 0;
  try {
    for await (const chunk of source) {
      gathered.push(chunk);
      gatheredBytes += chunk.byteLength;
      bytes += chunk.byteLength;
      if (gatheredBytes >= WRITE_BYTES) {
        await writeAll(handle, gathered);
        gathered = [];
        gatheredBytes = 0;
      }
    }
    await writeAll(handle, gathered);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return bytes;
}

/** Writes the chunks in order, resuming after a partial write (writev may write fewer bytes than asked). */
async function writeAll(handle: FileHandle, chunks: Uint8Array[]): Promise<void> {
  let pending = chunks;
  while (pending.length > 0) {
    let { bytesWritten } = await handle.writev(pending);
    let first = 0;
    while (first < pending.length && bytesWritten >= (pending[first] as Uint8Array).byteLength) {
      bytesWritten -= (pending[first] as Uint8Array).byteLength;
      first++;
    }
    pending = pending.slice(first);
    if (pending.length > 0 && bytesWritten > 0) pending[0] = (pending[0] as Uint8Array).subarray(bytesWritten);
  }
}
