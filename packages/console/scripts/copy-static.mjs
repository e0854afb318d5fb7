// Copies the console's static files (HTML, CSS, icon) beside the compiled scripts.
import { cp, mkdir } from 'node:fs/promises';

const dist = new URL('../dist/', import.meta.url);
await mkdir(dist, { recursive: true });
await cp(new URL('../static/', import.meta.url), dist, { recursive: true });
