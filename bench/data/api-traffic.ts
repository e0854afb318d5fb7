/**
 * Synthetic API-gateway traffic as CSV, for benchmarks that need a large, realistic, reproducible event table:
 * skewed tenants, proxies and URIs, mostly-GET verbs, mostly-200 statuses and long-tailed latencies.
 *
 * The same options and seed always give the same bytes. Every value is plain ASCII without commas or quotes, so
 * the file needs no quoting and its length in characters is its length in bytes.
 *
 * @example
 * await ensureApiTrafficCsv(join(dataDir, 'api-traffic-6m.csv'), { rows: 6_000_000 });
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { access, mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { finished } from 'node:stream/promises';
import { seeded } from '../../test/support/traffic-csv.js';

export interface TrafficOptions {
  readonly rows: number;
  /** Default 1. */
  readonly seed?: number;
  /** The first event's time; default 2026-01-01T00:00:00Z. */
  readonly start?: Date;
  /** The time the events spread over; default 24 hours. */
  readonly spanMs?: number;
  /** Default 20. */
  readonly organizations?: number;
  /** Default 50. */
  readonly proxies?: number;
}

export interface TrafficFile {
  readonly rows: number;
  readonly bytes: number;
}

export const API_TRAFFIC_COLUMNS = [
  'ts',
  'organization',
  'environment',
  'api_proxy',
  'developer_app',
  'verb',
  'uri',
  'status_code',
  'target_response_ms',
  'total_response_ms',
  'request_size',
  'response_size',
  'client_ip',
  'user_agent',
] as const;

/**
 * Writes `options.rows` events to `path`. The rows go to `<path>.tmp` first and are renamed into place at the end,
 * so an interrupted run never leaves a partial file behind under the real name.
 */
export async function writeApiTrafficCsv(path: string, options: TrafficOptions): Promise<TrafficFile> {
  const generator = new TrafficGenerator(options);
  const temp = `${path}.tmp`;
  await mkdir(dirname(path), { recursive: true });
  try {
    const bytes = await writeChunks(temp, generator);
    await rename(temp, path);
    return { rows: options.rows, bytes };
  } catch (error) {
    // The error that stopped the run is the one to report, not a failure to clean up after it.
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
}

/**
 * Generates the file unless it already exists. Only the path is checked, so name the file after the options that
 * matter (`api-traffic-6m.csv`).
 */
export async function ensureApiTrafficCsv(path: string, options: TrafficOptions): Promise<void> {
  if (await exists(path)) return;
  await writeApiTrafficCsv(path, options);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Rows per buffer handed to the stream: a few MB, so that writes are few and large. */
const ROWS_PER_CHUNK = 20_000;

async function writeChunks(path: string, generator: TrafficGenerator): Promise<number> {
  const stream = createWriteStream(path);
  // Without a listener, an error between awaits (e.g. a full disk) would crash the process instead of rejecting.
  let failure: unknown;
  stream.on('error', (error) => {
    failure ??= error;
  });
  let bytes = 0;
  const write = async (chunk: Uint8Array): Promise<void> => {
    if (failure !== undefined) throw failure;
    bytes += chunk.length;
    if (!stream.write(chunk)) await once(stream, 'drain');
  };
  try {
    await write(Buffer.from(`${API_TRAFFIC_COLUMNS.join(',')}\n`, 'latin1'));
    for (let from = 0; from < generator.rowCount; from += ROWS_PER_CHUNK) {
      await write(generator.chunk(from, ROWS_PER_CHUNK));
    }
    stream.end();
    await finished(stream);
    return bytes;
  } finally {
    // On failure, wait for the file to be closed, so that removing it afterwards can't race a late open.
    stream.destroy();
    if (!stream.closed) await once(stream, 'close');
  }
}

const DEFAULT_START = Date.UTC(2026, 0, 1);
const DAY_MS = 24 * 60 * 60 * 1000;
const APPS = 500;
const CLIENT_IPS = 20_000;
const MAX_TOTAL_MS = 60_000;
const MAX_REQUEST_SIZE = 1_000_000;
const MAX_RESPONSE_SIZE = 5_000_000;
/** `YYYY-MM-DD HH:MM:SS.mmm,` */
const TIMESTAMP_BYTES = 24;
/** Status (3 digits), target and total (≤ 5), request and response sizes (≤ 7), each with its comma. */
const NUMBER_FIELDS_BYTES = 4 + 6 + 6 + 8 + 8;

/**
 * Picks indexes in proportion to weights in O(1): a guide table holds, for each of n equal slices of [0, 1), the
 * first index a value in that slice can pick, so a pick starts there and rarely steps more than once or twice.
 */
class Distribution {
  readonly #cumulative: Float64Array;
  readonly #guide: Uint32Array;

  constructor(weights: readonly number[]) {
    const sum = weights.reduce((total, weight) => total + weight, 0);
    this.#cumulative = new Float64Array(weights.length);
    // Summed in the same order as `sum`, so that the last share is exactly 1 and every u < 1 finds an index.
    for (let i = 0, running = 0; i < weights.length; i++) {
      running += weights[i] as number;
      this.#cumulative[i] = running / sum;
    }
    this.#guide = new Uint32Array(weights.length);
    for (let slice = 0, index = 0; slice < weights.length; slice++) {
      while ((this.#cumulative[index] as number) <= slice / weights.length) index++;
      this.#guide[slice] = index;
    }
  }

  /** The index for `u`, uniform in [0, 1). */
  pick(u: number): number {
    const cumulative = this.#cumulative;
    let index = this.#guide[(u * cumulative.length) | 0] as number;
    while ((cumulative[index] as number) <= u) index++;
    return index;
  }
}

/** Weights 1/k^s for ranks 1..n: a few heavy hitters and a long tail, as tenants and endpoints have. */
function zipf(n: number, s: number): Distribution {
  return new Distribution(Array.from({ length: n }, (_, rank) => 1 / (rank + 1) ** s));
}

/**
 * Values as bytes with the separator that follows them (`prod,`), so that a row is a series of copies and
 * integers, with no strings built per row.
 */
function field(text: string, separator = ','): Uint8Array {
  if (/[,"\r\n]/.test(text)) throw new Error(`CSV value needs quoting: ${text}`);
  return Buffer.from(text + separator, 'latin1');
}

/** Values with weights: their encoded fields and a distribution to pick from. */
interface Weighted {
  readonly names: readonly string[];
  readonly fields: readonly Uint8Array[];
  readonly distribution: Distribution;
}

function weighted(weights: Readonly<Record<string, number>>, separator = ','): Weighted {
  const names = Object.keys(weights);
  return {
    names,
    fields: names.map((name) => field(name, separator)),
    distribution: new Distribution(names.map((name) => weights[name] ?? 0)),
  };
}

const ENVIRONMENTS = weighted({ prod: 70, test: 20, dev: 10 });
const VERBS = weighted({ GET: 68, POST: 17, PUT: 6, DELETE: 4, PATCH: 5 });
const GET = VERBS.names.indexOf('GET');
const POST = VERBS.names.indexOf('POST');
const DELETE = VERBS.names.indexOf('DELETE');
/** Statuses with their shares; 201 and 204 come from 200 by verb, in statusFor(). */
const STATUS_CODES = [200, 400, 401, 404, 429, 500, 502, 503];
const STATUS_SHARES = new Distribution([86.5, 2.5, 1.5, 4, 2, 1.5, 1, 1]);

/** Real clients' agents, trimmed where the originals hold commas ("KHTML, like Gecko"). Last in a row. */
const USER_AGENTS = weighted(
  {
    'okhttp/4.12.0': 16,
    'python-requests/2.31.0': 14,
    'Go-http-client/2.0': 14,
    'axios/1.6.7': 10,
    'curl/8.5.0': 8,
    'Apache-HttpClient/4.5.14 (Java/17.0.9)': 7,
    'PostmanRuntime/7.36.1': 4,
    'Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8)': 8,
    'MyShop/5.2.1 (iPhone; iOS 17.2.1; Scale/3.00)': 9,
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/121.0.0.0 Safari/537.36': 4,
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2_1) AppleWebKit/605.1.15 Version/17.2 Safari/605.1.15': 3,
    'Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0': 3,
  },
  '\n',
);

const RESOURCES = [
  'users',
  'orders',
  'products',
  'payments',
  'carts',
  'inventory',
  'shipments',
  'invoices',
  'accounts',
  'sessions',
  'reviews',
  'prices',
];

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer: ${value}`);
  return value;
}

function longest(fields: readonly Uint8Array[]): number {
  return fields.reduce((max, bytes) => Math.max(max, bytes.length), 0);
}

/** Produces the rows, in order; each chunk continues the same random sequence. */
class TrafficGenerator {
  readonly #rows: number;
  readonly #random: () => number;
  readonly #startMs: number;
  readonly #msPerRow: number;
  readonly #organizationShares: Distribution;
  readonly #organizations: readonly Uint8Array[];
  readonly #proxyShares: Distribution;
  readonly #proxies: readonly Uint8Array[];
  readonly #appShares = zipf(APPS, 0.8);
  readonly #apps = Array.from({ length: APPS }, (_, i) => field(`app-${i + 1}`));
  readonly #uris: readonly Uint8Array[];
  readonly #uriShares: Distribution;
  readonly #clientIps: readonly Uint8Array[];
  readonly #clientShares = zipf(CLIENT_IPS, 0.7);
  /** An upper bound of a row's length, so that a chunk's buffer is allocated once at its final size. */
  readonly #maxRowBytes: number;
  /** The current day as `YYYY-MM-DD `: formatted once a day, the time of day is written digit by digit. */
  #day = Number.NaN;
  #dayBytes = new Uint8Array(0);

  constructor(options: TrafficOptions) {
    const { rows, seed = 1, start = new Date(DEFAULT_START), spanMs = DAY_MS } = options;
    if (!Number.isSafeInteger(rows) || rows < 0) throw new RangeError(`rows must be a whole number: ${rows}`);
    if (!(spanMs > 0 && Number.isFinite(spanMs))) throw new RangeError(`spanMs must be positive: ${spanMs}`);
    if (!Number.isFinite(start.getTime())) throw new RangeError('start must be a valid date');
    this.#rows = rows;
    this.#random = seeded(seed);
    this.#startMs = start.getTime();
    this.#msPerRow = spanMs / Math.max(rows, 1);
    const organizations = positiveInteger('organizations', options.organizations ?? 20);
    this.#organizationShares = zipf(organizations, 1.1);
    this.#organizations = Array.from({ length: organizations }, (_, i) => field(`org-${i + 1}`));
    const proxies = positiveInteger('proxies', options.proxies ?? 50);
    this.#proxyShares = zipf(proxies, 0.9);
    this.#proxies = Array.from({ length: proxies }, (_, i) => field(`proxy-${i + 1}`));
    this.#uris = uris(this.#random).map((uri) => field(uri));
    this.#uriShares = zipf(this.#uris.length, 0.9);
    this.#clientIps = Array.from({ length: CLIENT_IPS }, () => field(ipv4(this.#random)));
    const fields = [this.#organizations, ENVIRONMENTS.fields, this.#proxies, this.#apps, VERBS.fields, this.#uris];
    this.#maxRowBytes =
      TIMESTAMP_BYTES +
      fields.reduce((sum, values) => sum + longest(values), 0) +
      NUMBER_FIELDS_BYTES +
      longest(this.#clientIps) +
      longest(USER_AGENTS.fields);
  }

  get rowCount(): number {
    return this.#rows;
  }

  /** Rows `from` .. `from + count - 1` (clipped to the total). Call in order: rows share one random sequence. */
  chunk(from: number, count: number): Uint8Array {
    const to = Math.min(this.#rows, from + count);
    const out = new ByteWriter(Math.max(0, to - from) * this.#maxRowBytes);
    for (let i = from; i < to; i++) this.#row(out, i);
    return out.written();
  }

  #row(out: ByteWriter, i: number): void {
    const random = this.#random;
    // Row i falls at a random point of its own slice of the span, so times never go backwards.
    this.#timestamp(out, this.#startMs + Math.floor((i + random()) * this.#msPerRow));
    const org = this.#organizationShares.pick(random());
    out.bytes(this.#organizations[org] as Uint8Array);
    out.bytes(ENVIRONMENTS.fields[ENVIRONMENTS.distribution.pick(random())] as Uint8Array);
    // Each organization favours different proxies and apps: the same skew, shifted by the organization.
    out.bytes(this.#proxies[(this.#proxyShares.pick(random()) + org * 7) % this.#proxies.length] as Uint8Array);
    out.bytes(this.#apps[(this.#appShares.pick(random()) + org * 25) % APPS] as Uint8Array);
    const verb = VERBS.distribution.pick(random());
    out.bytes(VERBS.fields[verb] as Uint8Array);
    out.bytes(this.#uris[this.#uriShares.pick(random())] as Uint8Array);
    const status = statusFor(verb, STATUS_CODES[STATUS_SHARES.pick(random())] as number, random());
    out.integer(status);
    const total = Math.min(MAX_TOTAL_MS, Math.max(1, Math.round(logNormal(random, 4.1, 1.1))));
    // Refused at the gateway (auth, rate limit): no backend was called.
    out.integer(status === 401 || status === 429 ? 0 : Math.floor(total * (0.55 + 0.4 * random())));
    out.integer(total);
    out.integer(
      verb === GET || verb === DELETE ? 0 : Math.min(MAX_REQUEST_SIZE, Math.round(logNormal(random, 6.4, 0.9))),
    );
    out.integer(responseSizeFor(status, random));
    out.bytes(this.#clientIps[this.#clientShares.pick(random())] as Uint8Array);
    out.bytes(USER_AGENTS.fields[USER_AGENTS.distribution.pick(random())] as Uint8Array);
  }

  #timestamp(out: ByteWriter, ms: number): void {
    const day = Math.floor(ms / DAY_MS);
    if (day !== this.#day) {
      this.#day = day;
      this.#dayBytes = Buffer.from(`${new Date(day * DAY_MS).toISOString().slice(0, 10)} `, 'latin1');
    }
    out.bytes(this.#dayBytes);
    out.timeOfDay(ms - day * DAY_MS);
  }
}

const COMMA = 0x2c;
const DOT = 0x2e;
const COLON = 0x3a;
const ZERO = 0x30;
const LOOP_COPY_LIMIT = 24;

/** Appends to a buffer allocated once at its final size. */
class ByteWriter {
  readonly #buffer: Buffer;
  #length = 0;

  constructor(capacity: number) {
    // Uninitialised memory is fine: only the written part is handed out.
    this.#buffer = Buffer.allocUnsafe(capacity);
  }

  bytes(source: Uint8Array): void {
    const buffer = this.#buffer;
    let at = this.#length;
    // A loop beats set()'s call overhead for the short values; set() wins on long user agents.
    if (source.length > LOOP_COPY_LIMIT) {
      buffer.set(source, at);
      at += source.length;
    } else {
      for (let i = 0; i < source.length; i++) buffer[at++] = source[i] as number;
    }
    this.#length = at;
  }

  /** A non-negative integer below 2^31, then a comma. */
  integer(value: number): void {
    let digits = 1;
    for (let rest = value; rest >= 10; rest = (rest / 10) | 0) digits++;
    const buffer = this.#buffer;
    const end = this.#length + digits;
    let rest = value;
    for (let at = end - 1; at >= this.#length; at--) {
      const tenth = (rest / 10) | 0;
      buffer[at] = ZERO + rest - tenth * 10;
      rest = tenth;
    }
    buffer[end] = COMMA;
    this.#length = end + 1;
  }

  /** `HH:MM:SS.mmm` for `ms` since midnight, then a comma. */
  timeOfDay(ms: number): void {
    const seconds = (ms / 1000) | 0;
    const minutes = (seconds / 60) | 0;
    this.#twoDigits((minutes / 60) | 0, COLON);
    this.#twoDigits(minutes % 60, COLON);
    this.#twoDigits(seconds % 60, DOT);
    const millis = ms - seconds * 1000;
    const buffer = this.#buffer;
    const at = this.#length;
    buffer[at] = ZERO + ((millis / 100) | 0);
    buffer[at + 1] = ZERO + (((millis / 10) | 0) % 10);
    buffer[at + 2] = ZERO + (millis % 10);
    buffer[at + 3] = COMMA;
    this.#length = at + 4;
  }

  #twoDigits(value: number, separator: number): void {
    const at = this.#length;
    this.#buffer[at] = ZERO + ((value / 10) | 0);
    this.#buffer[at + 1] = ZERO + (value % 10);
    this.#buffer[at + 2] = separator;
    this.#length = at + 3;
  }

  written(): Uint8Array {
    return this.#buffer.subarray(0, this.#length);
  }
}

/** Successful writes usually create (POST → 201) or return nothing (DELETE → 204). */
function statusFor(verb: number, status: number, u: number): number {
  if (status !== 200) return status;
  if (verb === POST && u < 0.7) return 201;
  if (verb === DELETE && u < 0.8) return 204;
  return status;
}

function responseSizeFor(status: number, random: () => number): number {
  if (status === 204) return 0;
  if (status >= 400) return 60 + Math.floor(random() * 200);
  return Math.min(MAX_RESPONSE_SIZE, Math.round(logNormal(random, 7.3, 1.2)));
}

/** e^(μ + σ·N(0,1)), the normal from Box–Muller. */
function logNormal(random: () => number, mu: number, sigma: number): number {
  const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Math.exp(mu + sigma * normal);
}

/** `/v1/<resource>` and `/v1/<resource>/<id>` paths: 12 resources × (1 + 24 ids) = 300, in random order. */
function uris(random: () => number): string[] {
  const paths: string[] = [];
  for (const resource of RESOURCES) {
    paths.push(`/v1/${resource}`);
    // Ids spaced apart and jittered within their slot: look random, never repeat.
    for (let i = 0; i < 24; i++) paths.push(`/v1/${resource}/${1_000 + i * 370 + Math.floor(random() * 370)}`);
  }
  // Shuffled, so that popularity (by position) is not ordered by resource.
  for (let i = paths.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [paths[i], paths[j]] = [paths[j] as string, paths[i] as string];
  }
  return paths;
}

function ipv4(random: () => number): string {
  const octet = () => Math.floor(random() * 256);
  return `${1 + Math.floor(random() * 222)}.${octet()}.${octet()}.${1 + Math.floor(random() * 254)}`;
}
