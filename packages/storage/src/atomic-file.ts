import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Writes a file whole or not at all: to a uniquely named temporary beside it, synced, then renamed over it, so
 * readers see the old or the new content, two overlapping writers never share a temporary, and a crash never leaves
 * the name holding fewer bytes than were written (a rename can reach the disk before the bytes it names). A write
 * that fails leaves no temporary behind.
 */
export async function writeFileAtomic(path: string, body: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    const handle = await open(temporary, 'w');
    try {
      await handle.writeFile(body);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
}
