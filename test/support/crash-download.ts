/**
 * Child process for the crash test: opens the storage layer over a cache folder and loads one S3 dataset,
 * printing "started" once the download is under way. The parent kills it with SIGKILL mid-download.
 * Args: <cacheDir> <endpoint> <bucket> <prefix>
 */
import { createStorage } from '@lakegate/storage';
import { s3Settings } from './s3-fixtures.js';

const [cacheDir = '', endpoint = '', bucket = '', prefix = ''] = process.argv.slice(2);
const storage = await createStorage({
  cacheDir,
  cacheMaxBytes: 1024 ** 3,
  autoRefresh: false,
  s3: s3Settings(endpoint),
  tenants: { acme: { datasets: { big: { location: { kind: 's3', bucket, prefix }, format: 'parquet' } } } },
});
process.stdout.write('started\n');
await storage.acquire('acme', 'big');
process.stdout.write('finished\n');
