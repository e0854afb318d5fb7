import { createHash } from 'node:crypto';
import type { DatasetFormat } from '@lakegate/engine-api';

const EXTENSIONS: Readonly<Record<DatasetFormat, readonly string[]>> = {
  parquet: ['.parquet', '.parq'],
  csv: ['.csv', '.csv.gz'],
  tsv: ['.tsv', '.tsv.gz', '.tab'],
  ndjson: ['.ndjson', '.jsonl', '.json', '.ndjson.gz', '.jsonl.gz'],
  pgcopy: ['.pgcopy'],
};

/** True if a file name belongs to a dataset of this format (other files in the folder are ignored). */
export function matchesFormat(key: string, format: DatasetFormat): boolean {
  const lower = key.toLowerCase();
  return EXTENSIONS[format].some((ext) => lower.endsWith(ext));
}

/** A version id derived from the files: equal listings give equal versions, any change a new one. */
export function snapshotVersion(files: readonly { key: string; size: number; etag: string }[]): string {
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${f.key}\0${f.size}\0${f.etag}\n`);
  return hash.digest('hex').slice(0, 16);
}
