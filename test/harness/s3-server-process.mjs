// An S3-compatible server for tests: s3rver behind a thin HTTP front that counts requests and can delay them
// (to stand in for real S3's first-byte latency) or refuse them (an origin outage). Run it under
// `node --openssl-legacy-provider`; s3rver's paginated listings need that on Node 20.
//
// Usage: node --openssl-legacy-provider s3-server-process.mjs <directory>
// Prints one line of JSON, {"port": N}, once it listens on 127.0.0.1.
//
// Control endpoints (not part of S3): GET /__control/stats, POST /__control/reset-stats,
// POST /__control/delay?ms=N, POST /__control/outage?on=1|0, POST /__control/truncate?count=N&bytes=B,
// POST /__control/stall?count=N&bytes=B.
import { createServer } from 'node:http';
import S3rver from 's3rver';

const directory = process.argv[2];
if (!directory) {
  console.error('usage: s3-server-process.mjs <directory>');
  process.exit(2);
}

const s3 = new S3rver({ directory, silent: true, vhostBuckets: false, allowMismatchedSignatures: true });
const handle = s3.callback();
const state = { delayMs: 0, outage: false, truncate: 0, truncateBytes: 0, stall: 0, stallBytes: 0, requests: [] };

/** `/bucket/key...`: an object, not a bucket listing. */
const isObjectPath = (path) => /^\/[^/]+\/.+/.test(path);

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (url.pathname.startsWith('/__control/')) {
    const action = url.pathname.slice('/__control/'.length);
    if (action === 'stats') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ requests: state.requests }));
      return;
    }
    if (action === 'reset-stats') state.requests = [];
    else if (action === 'delay') state.delayMs = Number(url.searchParams.get('ms') ?? 0);
    else if (action === 'outage') state.outage = url.searchParams.get('on') === '1';
    else if (action === 'stall') {
      state.stall = Number(url.searchParams.get('count') ?? 1);
      state.stallBytes = Number(url.searchParams.get('bytes') ?? 10);
    } else if (action === 'truncate') {
      state.truncate = Number(url.searchParams.get('count') ?? 1);
      state.truncateBytes = Number(url.searchParams.get('bytes') ?? 10);
    } else res.statusCode = 404;
    res.end();
    return;
  }
  state.requests.push({ method: req.method, path: url.pathname, query: url.search, range: req.headers.range ?? null });
  if (state.outage) {
    // An unreachable origin: drop the connection without an answer.
    req.socket.destroy();
    return;
  }
  if (state.truncate > 0 && req.method === 'GET' && isObjectPath(url.pathname)) {
    // Cut the body short after a few bytes and drop the connection, as a broken download would.
    state.truncate--;
    let sent = 0;
    const write = res.write.bind(res);
    res.write = (chunk, ...rest) => {
      const room = state.truncateBytes - sent;
      if (room <= 0) return true;
      const part = Buffer.from(chunk).subarray(0, room);
      sent += part.length;
      write(part, ...rest);
      if (sent >= state.truncateBytes) setImmediate(() => res.socket?.destroy());
      return true;
    };
  }
  if (state.stall > 0 && req.method === 'GET' && isObjectPath(url.pathname)) {
    // Send the first bytes of the body, then nothing more, holding the connection open: a download in flight.
    state.stall--;
    let sent = 0;
    const write = res.write.bind(res);
    res.write = (chunk, ...rest) => {
      const room = state.stallBytes - sent;
      if (room > 0) {
        const part = Buffer.from(chunk).subarray(0, room);
        sent += part.length;
        write(part, ...rest);
      }
      return true;
    };
    res.end = () => res;
  }
  if (state.delayMs > 0) setTimeout(() => handle(req, res), state.delayMs);
  else handle(req, res);
});

s3.configureBuckets().then(() => {
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
  });
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Exit with the parent: the test runner may die without calling teardown.
process.stdin.on('end', stop);
process.stdin.resume();
