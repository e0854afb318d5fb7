import type { Stats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

export interface ListedObject {
  /** Key relative to the listed prefix, with `/` separators. */
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly lastModified: Date;
}

/** Local files carry no ETag: size and modification time stand in, as for an S3 object rewritten in place. */
export function localEtag(stats: Stats): string {
  return `${stats.size.toString(16)}-${Math.trunc(stats.mtimeMs).toString(16)}`;
}

/** Hidden files and folders (`.x`) and markers (`_SUCCESS`, `_x`), which listings skip. */
export function isHiddenPath(parts: readonly string[]): boolean {
  return parts.some((part) => part.startsWith('.') || part.startsWith('_'));
}

/**
 * Lists the files below a local folder, recursively, sorted by key. Hidden files and folders (`.x`) and
 * markers (`_SUCCESS`, `_x`) are skipped, as Spark and Hive writers leave them beside the data.
 * A missing folder lists as empty: the caller decides whether that is an error.
 */
export async function listLocalFolder(root: string): Promise<ListedObject[]> {
  let entries: string[];
  try {
    entries = await readdir(root, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const out: ListedObject[] = [];
  for (const entry of entries) {
    if (isHiddenPath(entry.split(sep))) continue;
    const path = join(root, entry);
    const stats = await stat(path);
    if (!stats.isFile()) continue;
    out.push({
      key: relative(root, path).split(sep).join('/'),
      size: stats.size,
      etag: localEtag(stats),
      lastModified: stats.mtime,
    });
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
