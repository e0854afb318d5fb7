import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

// Frozen: the AWS SDK annotates the credential objects it is given, and these are shared.
export const S3_CREDENTIALS = Object.freeze({ accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });

/** An S3 client for arranging test data on a loopback s3rver. */
export function s3Client(endpoint: string): S3Client {
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { ...S3_CREDENTIALS } });
}

export async function createBucket(s3: S3Client, bucket: string): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
}

export async function putObject(s3: S3Client, bucket: string, key: string, body: string | Uint8Array): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

export async function deleteObject(s3: S3Client, bucket: string, key: string): Promise<void> {
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
}

/** The storage layer's S3 settings for a loopback s3rver. */
export function s3Settings(endpoint: string, extra: Record<string, unknown> = {}) {
  return {
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    ...S3_CREDENTIALS,
    requestTimeoutMs: 2000,
    maxAttempts: 2,
    ...extra,
  };
}
