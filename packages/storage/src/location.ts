import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where a dataset's files live: a local folder or an S3 prefix. */
export type Location =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 's3'; readonly bucket: string; readonly prefix: string };

/**
 * Parses a dataset location. `file:` locations may be relative (`file:./data/x/`), resolved against `baseDir`
 * (the config file's folder); `s3://bucket/prefix/` names a bucket and a key prefix.
 * Returns a problem description instead of throwing, for config validation.
 */
export function parseLocation(text: string, baseDir: string): Location | { readonly problem: string } {
  if (text.startsWith('s3://')) {
    const rest = text.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? '' : rest.slice(slash + 1);
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
      return { problem: `"${bucket}" is not a valid S3 bucket name` };
    return { kind: 's3', bucket, prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/` };
  }
  if (text.startsWith('file:')) {
    let path: string;
    if (text.startsWith('file://')) {
      try {
        path = fileURLToPath(text);
      } catch {
        return { problem: `"${text}" is not a valid file URL` };
      }
    } else {
      const raw = decodeURIComponent(text.slice('file:'.length));
      path = isAbsolute(raw) ? raw : resolve(baseDir, raw);
    }
    return { kind: 'file', path: resolve(path) };
  }
  return { problem: `"${text}" must start with file: or s3://` };
}
