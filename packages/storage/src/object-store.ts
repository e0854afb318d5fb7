/** What the storage layer needs from an origin: list a prefix, head and get objects (whole or by range). */

export interface ObjectInfo {
  /** Key relative to the store's root (its folder or S3 prefix), with `/` separators. */
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly lastModified: Date;
}

export interface GetOptions {
  /** Bytes `[start, end)` of the object; the whole object when absent. */
  readonly range?: { readonly start: number; readonly end: number };
  /** Refuse with reason `changed` unless the object still has this ETag. */
  readonly ifMatch?: string;
  readonly signal?: AbortSignal;
}

export interface ObjectStore {
  /** The root as users wrote it (`s3://bucket/prefix/`, `file:///data/x/`), for messages. */
  readonly description: string;
  /** Every object below the root, sorted by key, across all pages of the listing. */
  list(signal?: AbortSignal): Promise<ObjectInfo[]>;
  head(key: string, signal?: AbortSignal): Promise<ObjectInfo>;
  /** The object's bytes, streamed. */
  get(key: string, options?: GetOptions): Promise<AsyncIterable<Uint8Array>>;
  /**
   * A copy of the object at `target`, synced, when the store is on the local disk (a clone where the file system
   * makes one, sharing blocks until either side changes); else undefined. The copy is of the version `etag` names:
   * one that changed is refused as `changed`.
   */
  copyTo?(key: string, target: string, etag: string): Promise<void>;
}

export type OriginFailure =
  /** The object, prefix or bucket does not exist. */
  | 'not-found'
  | 'no-bucket'
  /** Credentials are missing, wrong or not allowed to read. */
  | 'access-denied'
  /** The origin could not be reached or did not answer in time. */
  | 'unreachable'
  /** The object changed since it was listed (ETag mismatch). */
  | 'changed'
  /** A download ended early or its size did not match. */
  | 'truncated'
  | 'other';

/** An origin failure, classified so that callers can name the dataset and choose retry or error. */
export class OriginError extends Error {
  readonly reason: OriginFailure;
  constructor(reason: OriginFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OriginError';
    this.reason = reason;
  }
}

export function isOriginError(value: unknown): value is OriginError {
  return value instanceof OriginError;
}
