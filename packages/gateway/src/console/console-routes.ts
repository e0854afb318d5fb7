import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { consoleDir } from '@lakegate/console';
import type { Hono } from 'hono';
import type { GatewayEnv } from '../app-env.js';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * The console's policy: scripts and styles from the gateway only (no inline script or style, nothing from another
 * origin), requests to the gateway only, and no framing.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** Files of the console kept at most: it has a few; a path beyond them is read, never kept. */
const KEPT_FILES = 64;

/**
 * Reads files once and keeps them: only files that exist, and at most `limit` of them, since anyone may ask for
 * any path (missing paths are as many as anyone cares to send).
 */
export function keptFiles(limit = KEPT_FILES): { read(path: string): Promise<Buffer | undefined>; size(): number } {
  const files = new Map<string, Promise<Buffer | undefined>>();
  return {
    read(path) {
      const kept = files.get(path);
      if (kept) return kept;
      const file = readFile(path).catch(() => undefined);
      if (files.size < limit) {
        files.set(path, file);
        void file.then((body) => {
          if (body === undefined && files.get(path) === file) files.delete(path);
        });
      }
      return file;
    },
    size: () => files.size,
  };
}

/**
 * Serves the web console at `/ui/` (its files are public: every call they make takes a key) and redirects `/`
 * there. Files are read once and kept: the console is a few small files.
 */
export function consoleRoutes(app: Hono<GatewayEnv>, files = keptFiles()): void {
  const read = (path: string): Promise<Buffer | undefined> => files.read(path);
  app.get('/', (c) => c.redirect('/ui/', 302));
  app.get('/ui', (c) => c.redirect('/ui/', 301));
  app.get('/ui/*', async (c) => {
    let relative: string;
    try {
      relative = decodeURIComponent(c.req.path.slice('/ui/'.length)) || 'index.html';
    } catch {
      // A malformed escape names no file of the console.
      return c.notFound();
    }
    const path = normalize(join(consoleDir, relative));
    // Only files of the console's folder: never a path that climbs out of it.
    const inside = path.startsWith(consoleDir.endsWith(sep) ? consoleDir : `${consoleDir}${sep}`);
    const type = TYPES[extname(path)];
    const body = inside && type ? await read(path) : undefined;
    if (!body) return c.notFound();
    return c.body(new Uint8Array(body), 200, {
      'Content-Type': type as string,
      'Content-Security-Policy': CONSOLE_CSP,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': relative === 'index.html' ? 'no-cache' : 'public, max-age=300',
    });
  });
}
