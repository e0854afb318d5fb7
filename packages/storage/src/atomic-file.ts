import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Writes a file whole or not at all: to a uniquely named temporary beside it, then renamed over it, so readers see
 * the old or the new content and two overlapping writers never share a temporary.
 */
export async function writeFileAtomic(path: string, body: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await writeFile(temporary, body);
  await rename(temporary, path);
}
