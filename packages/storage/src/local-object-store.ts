import { createReadStream } from 'node:fs';
import { copyFile, link, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { listLocalFolder } from './local-store.js';
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
  const info = async (key: string): Promise<ObjectInfo> => {
    const list = await listLocalFolder(root);
    const found = list.find((o) => o.key === key);
    if (!found) throw new OriginError('not-found', `${key} does not exist in ${root}`);
    return found;
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
    async linkTo(key, target) {
      const source = pathOf(key);
      try {
        await link(source, target);
      } catch {
        await copyFile(source, target);
      }
      return true;
    },
  };
}
