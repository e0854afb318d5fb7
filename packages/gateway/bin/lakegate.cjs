#!/usr/bin/env -S node --max-semi-space-size=64
// Lakegate's launcher. DuckDB's Node calls each hold one of libuv's threads while they run, and libuv sizes its
// pool (4 threads by default) the first time it is used, which an ES module entry point is too late to
// influence. This CommonJS file runs first, sizes the pool, then loads the gateway.
'use strict';
if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = '64';
import('../dist/main.js').catch((error) => {
  // One JSON line, as everything the process writes.
  const line = { time: new Date().toISOString(), level: 'error', event: 'gateway.start_failed' };
  line.message = 'Lakegate could not be loaded: run `npm run build` first.';
  line.error = String(error?.message ?? error);
  process.stderr.write(`${JSON.stringify(line)}\n`);
  process.exit(1);
});
