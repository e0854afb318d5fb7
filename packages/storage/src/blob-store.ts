import { readFile, rm } from 'node:fs/promises';
import { join, sep } from 'node:path';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { writeFileAtomic } from './atomic-file.js';
import type { Location } from './location.js';

/**
 * A small read-write store of whole objects, for data the gateway writes itself (such as large session results)
 * where every replica can read it: a local folder (replicas sharing a disk) or an S3 prefix.
 */
export interface BlobStore {
  put(key: string, body: string): Promise<void>;
  /** The object's text, or undefined when it does not exist. */
  get(key: string): Promise<string | undefined>;
  /** Deletes every object whose key starts with `prefix`. */
  deletePrefix(prefix: string): Promise<void>;
}

const safeKey = (key: string): string => {
  if (key.split('/').some((part) => part === '..' || part === '')) throw new Error(`bad blob key ${key}`);
  return key;
};

export function createFileBlobStore(root: string): BlobStore {
  const pathOf = (key: string): string => join(root, ...safeKey(key).split('/'));
  return {
    async put(key, body) {
      await writeFileAtomic(pathOf(key), body);
    },
    async get(key) {
      try {
        return await readFile(pathOf(key), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    async deletePrefix(prefix) {
      const path = join(root, ...prefix.split('/').filter(Boolean));
      if (!path.startsWith(root + sep)) return;
      await rm(path, { recursive: true, force: true });
    },
  };
}

export function createS3BlobStore(client: S3Client, bucket: string, prefix: string): BlobStore {
  return {
    async put(key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: prefix + safeKey(key), Body: body }));
    },
    async get(key) {
      try {
        const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: prefix + safeKey(key) }));
        return await response.Body?.transformToString();
      } catch (error) {
        if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
        throw error;
      }
    },
    async deletePrefix(keyPrefix) {
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix + keyPrefix, ContinuationToken: token }),
        );
        const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
        if (keys.length > 0) await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    },
  };
}

/** A blob store at a `file:` or `s3://` location. */
export function createBlobStore(location: Location, s3: () => S3Client): BlobStore {
  return location.kind === 'file'
    ? createFileBlobStore(location.path)
    : createS3BlobStore(s3(), location.bucket, location.prefix);
}
