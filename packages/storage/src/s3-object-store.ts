import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  S3Client,
} from '@aws-sdk/client-s3';
import type { EngineLogger } from '@lakegate/engine-api';
import { type GetOptions, type ObjectInfo, type ObjectStore, OriginError, type OriginFailure } from './object-store.js';

export interface S3Settings {
  /** Custom endpoint for S3-compatible servers; AWS when absent. */
  readonly endpoint?: string | undefined;
  readonly region: string;
  readonly forcePathStyle: boolean;
  /** Static credentials; the SDK's default chain (env, profile, instance role) when absent. */
  readonly accessKeyId?: string | undefined;
  readonly secretAccessKey?: string | undefined;
  /** Per-request time limit. */
  readonly requestTimeoutMs: number;
  /** Attempts per request, including the first. */
  readonly maxAttempts: number;
}

const S3_DEFAULTS: S3Settings = {
  region: 'us-east-1',
  forcePathStyle: false,
  requestTimeoutMs: 10_000,
  maxAttempts: 2,
};

/**
 * One client per configuration: connections are pooled across every dataset's store. Unset settings default. The
 * SDK's own warnings go to `logger` as one JSON line each, not as multi-line text on the console.
 */
export function createS3Client(given: Partial<S3Settings> = {}, logger?: EngineLogger): S3Client {
  const settings: S3Settings = { ...S3_DEFAULTS, ...given };
  const quiet = (): void => {};
  const text = (content: unknown[]): string => content.map(String).join(' ').replace(/\s+/g, ' ').trim();
  return new S3Client({
    logger: {
      trace: quiet,
      debug: quiet,
      info: quiet,
      warn: (...content: unknown[]) => logger?.warn('s3.warning', { message: text(content) }),
      error: (...content: unknown[]) => logger?.error('s3.error', { message: text(content) }),
    },
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    maxAttempts: settings.maxAttempts,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    ...(settings.accessKeyId && settings.secretAccessKey
      ? { credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey } }
      : {}),
    requestHandler: { connectionTimeout: settings.requestTimeoutMs, requestTimeout: settings.requestTimeoutMs },
  });
}

const REASONS: Readonly<Record<string, OriginFailure>> = {
  NoSuchBucket: 'no-bucket',
  NoSuchKey: 'not-found',
  NotFound: 'not-found',
  AccessDenied: 'access-denied',
  Forbidden: 'access-denied',
  InvalidAccessKeyId: 'access-denied',
  SignatureDoesNotMatch: 'access-denied',
  ExpiredToken: 'access-denied',
  PreconditionFailed: 'changed',
  TimeoutError: 'unreachable',
  RequestTimeout: 'unreachable',
};
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** Classifies an AWS SDK error by its documented error name and HTTP status. */
function classify(error: unknown, what: string): OriginError {
  const e = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  let reason: OriginFailure = REASONS[e.name ?? ''] ?? 'other';
  if (reason === 'other') {
    if (NETWORK.has(e.code ?? '') || NETWORK.has(e.name ?? '') || status === undefined) reason = 'unreachable';
    else if (status === 403) reason = 'access-denied';
    else if (status === 404) reason = 'not-found';
    else if (status === 412) reason = 'changed';
    // Throttled (429, as S3-compatible servers answer it) or failing (5xx): worth another try, after a pause.
    else if (status === 429 || status >= 500) reason = 'unreachable';
  }
  const detail: Record<OriginFailure, string> = {
    'not-found': 'does not exist',
    'no-bucket': 'is in a bucket that does not exist',
    'access-denied': 'was refused: the credentials are missing, wrong, or not allowed to read it',
    unreachable: 'could not be reached',
    changed: 'changed while it was being read',
    truncated: 'was cut short',
    other: `failed (${e.name ?? 'error'})`,
  };
  return new OriginError(reason, `${what} ${detail[reason]}`, { cause: error });
}

export interface S3ObjectStoreOptions {
  /** Keys per listing request; S3's own default (1000) when absent. */
  readonly pageSize?: number | undefined;
  /** A download whose body sends nothing for this long fails as unreachable; default the request time limit. */
  readonly bodyIdleTimeoutMs?: number | undefined;
}

/**
 * Ends a download whose bytes stop arriving for `idleMs`. The SDK's request time limit covers the wait for the
 * answer, not a body that freezes half-way with the connection open, which would otherwise hold the download (and
 * every query waiting on it) for as long as the freeze lasts.
 */
async function* idleBounded(body: AsyncIterable<Uint8Array>, idleMs: number, what: string): AsyncIterable<Uint8Array> {
  const iterator = body[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      const next = iterator.next();
      // Destroying the body below rejects the pending read; that rejection has no one else to go to.
      next.catch(() => undefined);
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new OriginError('unreachable', `${what} stopped sending data for ${idleMs} ms`)),
          idleMs,
        );
      });
      let result: IteratorResult<Uint8Array>;
      try {
        result = await Promise.race([next, idle]);
      } finally {
        clearTimeout(timer);
      }
      if (result.done) {
        finished = true;
        return;
      }
      yield result.value;
    }
  } finally {
    // Frees the connection of a download that did not end normally (stalled, failed, or abandoned by the reader).
    // A Node stream is destroyed directly: an async iterator's return() would wait for the frozen read to end.
    if (!finished) {
      const stream = body as { destroy?: () => void };
      if (typeof stream.destroy === 'function') stream.destroy();
      else iterator.return?.()?.catch(() => undefined);
    }
  }
}

/** An S3 prefix (`s3://bucket/prefix/`) as an object store. */
export function createS3ObjectStore(
  client: S3Client,
  bucket: string,
  prefix: string,
  options: S3ObjectStoreOptions = {},
): ObjectStore {
  const description = `s3://${bucket}/${prefix}`;
  const { pageSize, bodyIdleTimeoutMs = S3_DEFAULTS.requestTimeoutMs } = options;
  return {
    description,
    async list(signal) {
      const out: ObjectInfo[] = [];
      let token: string | undefined;
      do {
        let page: ListObjectsV2CommandOutput;
        try {
          page = await client.send(
            new ListObjectsV2Command({
              Bucket: bucket,
              Prefix: prefix,
              ContinuationToken: token,
              ...(pageSize ? { MaxKeys: pageSize } : {}),
            }),
            signal ? { abortSignal: signal } : {},
          );
        } catch (error) {
          throw classify(error, description);
        }
        for (const object of page.Contents ?? []) {
          if (!object.Key || object.Key.endsWith('/')) continue;
          const key = object.Key.slice(prefix.length);
          if (key.split('/').some((part) => part.startsWith('.') || part.startsWith('_'))) continue;
          out.push({
            key,
            size: object.Size ?? 0,
            etag: (object.ETag ?? '').replaceAll('"', ''),
            lastModified: object.LastModified ?? new Date(0),
          });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },
    async head(key, signal) {
      try {
        const head = await client.send(
          new HeadObjectCommand({ Bucket: bucket, Key: prefix + key }),
          signal ? { abortSignal: signal } : {},
        );
        return {
          key,
          size: head.ContentLength ?? 0,
          etag: (head.ETag ?? '').replaceAll('"', ''),
          lastModified: head.LastModified ?? new Date(0),
        };
      } catch (error) {
        throw classify(error, `${description}${key}`);
      }
    },
    async get(key, options: GetOptions = {}) {
      const range = options.range;
      try {
        const response = await client.send(
          new GetObjectCommand({
            Bucket: bucket,
            Key: prefix + key,
            ...(range ? { Range: `bytes=${range.start}-${range.end - 1}` } : {}),
            ...(options.ifMatch ? { IfMatch: `"${options.ifMatch}"` } : {}),
          }),
          options.signal ? { abortSignal: options.signal } : {},
        );
        if (!response.Body) throw new OriginError('other', `${description}${key} returned no body`);
        return idleBounded(response.Body as AsyncIterable<Uint8Array>, bodyIdleTimeoutMs, `${description}${key}`);
      } catch (error) {
        if (error instanceof OriginError) throw error;
        throw classify(error, `${description}${key}`);
      }
    },
  };
}
