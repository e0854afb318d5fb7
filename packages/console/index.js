import { fileURLToPath } from 'node:url';

/** The folder of the console's built files (index.html, assets/), which the gateway serves at /ui/. */
export const consoleDir = fileURLToPath(new URL('./dist/', import.meta.url));
