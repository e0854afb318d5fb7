import { createReadStream, type Stats } from 'node:fs';
import { constants, copyFile, open, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isHiddenPath, listLocalFolder, localEtag } from './local-store.js';
import { type GetOptions, type ObjectInfo, type ObjectStore, OriginError } from './object-store.js';

function classify(error: unknown, what: string): OriginError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new OriginError('not-found', `${what} does not exist`, { cause: error });
  if (code === 'EACCES' || code === 'EPERM')
    return new OriginError('access-denied', `${what} is not readable`, { cause: error });
  return new OriginError('other', `${what} could not be read`, { cause: error });
}

/** A local folder as an object store: the embedded default for `file:` locations. */
export function createLocalObjectStore(root: string): ObjectStore {
  const pathOf = (key: string): string => {
    const path = join(root, ...key.split('/'));
    if (!path.startsWith(root.endsWith(sep) ? root : root + sep)) throw new OriginError('not-found', `bad key ${key}`);
    return path;
  };
  /** One file's details, as a listing would give them (hidden files and markers are not there). */
  const info = async (key: string): Promise<ObjectInfo> => {
    const missing = () => new OriginError('not-found', `${key} does not exist in ${root}`);
    if (isHiddenPath(key.split('/'))) throw missing();
    let stats: Stats;
    try {
      stats = await stat(pathOf(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw missing();
      throw classify(error, key);
    }
    if (!stats.isFile()) throw missing();
    return { key, size: stats.size, etag: localEtag(stats), lastModified: stats.mtime };
  };

  return {
    description: pathToFileURL(root).href,
    async list() {
      try {
        await stat(root);
      } catch (error) {
        throw classify(error, `folder ${root}`);
      }
      return listLocalFolder(root);
    },
    head: (key) => info(key),
    async get(key, options: GetOptions = {}) {
      if (options.ifMatch !== undefined && (await info(key)).etag !== options.ifMatch) {
        throw new OriginError('changed', `${key} changed since it was listed`);
      }
      const range = options.range;
      const stream = createReadStream(pathOf(key), range ? { start: range.start, end: range.end - 1 } : {});
      return new Promise((resolve, reject) => {
        stream.once('error', (error) => reject(classify(error, key)));
        stream.once('readable', () => resolve(stream));
      });
    },
    async copyTo(key, target, etag) {
      // A copy, not a link: a file rewritten in place at the origin must not change the cached version under the
      // queries reading it. Cloned where the file system can, so that it costs no bytes until one side changes.
      const source = pathOf(key);
      if ((await info(key)).etag !== etag) throw new OriginError('changed', `${key} changed since it was listed`);
      try {
        await copyFile(source, target, constants.COPYFILE_FICLONE);
      } catch (error) {
        // The source gone or unreadable is the origin's; anything else (a full disk) the cache's own.
        const code = (error as NodeJS.ErrnoException).code;
        throw code === 'ENOENT' || code === 'EACCES' || code === 'EPERM' ? classify(error, key) : error;
      }
      // Changed during the copy: the copy may mix both versions.
      if ((await info(key)).etag !== etag) throw new OriginError('changed', `${key} changed while it was copied`);
      // Synced before the cache renames it into place, so that a crash never leaves a short file under its name.
      const handle = await open(target, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    },
  };
}
