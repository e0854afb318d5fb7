import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from './atomic-file.js';

describe('writing a file whole or not at all', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-atomic-'));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('replaces the file, and leaves no temporary behind when the write fails', async () => {
    const path = join(root, 'manifests', 'events.json');
    await writeFileAtomic(path, 'one');
    await writeFileAtomic(path, 'two');
    expect(await readFile(path, 'utf8')).toBe('two');
    // A folder where the file should go: the rename fails, after the temporary was written.
    const blocked = join(root, 'blocked');
    await mkdir(join(blocked, 'child'), { recursive: true });
    await expect(writeFileAtomic(blocked, 'three')).rejects.toThrow();
    expect((await readdir(root)).sort()).toEqual(['blocked', 'manifests']);
    expect(await readdir(join(root, 'manifests'))).toEqual(['events.json']);
  });
});
