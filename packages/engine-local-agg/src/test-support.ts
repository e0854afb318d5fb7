import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatasetFormat, FileTableBinding, InMemoryTable } from '@lakegate/engine-api';
import type { LocalColumn } from './table/local-types.js';

/** mulberry32: a small seeded generator, so that every run checks the same data (and a failure can be replayed). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A temporary folder for a test's data files; `remove()` deletes it. */
export async function tempFolder(prefix: string): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

const DAY_MS = 86_400_000;

function csvValue(value: unknown, kind: string): string {
  if (value === null || value === undefined) return '';
  if (kind === 'date') return new Date((value as number) * DAY_MS).toISOString().slice(0, 10);
  return String(value);
}

/** An in-memory table as a CSV file with a header (dates as `YYYY-MM-DD`, NULL as an empty field). */
export function tableCsv(table: InMemoryTable): string {
  const lines = [table.columns.map((c) => c.name).join(',')];
  for (const row of table.rows) lines.push(row.map((v, i) => csvValue(v, table.columns[i]?.type.kind ?? '')).join(','));
  return `${lines.join('\n')}\n`;
}

/** Binds files already written under `dir` as one dataset of `tenant`. */
export async function bindFiles(
  tenant: string,
  name: string,
  format: DatasetFormat,
  paths: readonly string[],
): Promise<FileTableBinding> {
  const files = await Promise.all(
    paths.map(async (path) => {
      const info = await stat(path);
      return { path, size: info.size, etag: `${info.size}-${info.mtimeMs}` };
    }),
  );
  return { name, snapshot: { tenant, dataset: name, format, version: files.map((f) => f.etag).join('/'), files } };
}

export async function writeCsvDataset(
  dir: string,
  tenant: string,
  name: string,
  table: InMemoryTable,
): Promise<FileTableBinding> {
  const path = join(dir, `${name}.csv`);
  await writeFile(path, tableCsv(table));
  return bindFiles(tenant, name, 'csv', [path]);
}

/**
 * A field in PostgreSQL's binary COPY encoding, written here from the format's description (the integration tests
 * read what a real server writes): big-endian, each field its length (-1 for NULL) and its bytes.
 */
function copyField(type: LocalColumn['type'], value: unknown): Buffer {
  if (value === null) return Buffer.from([0xff, 0xff, 0xff, 0xff]);
  let bytes: Buffer;
  switch (type) {
    case 'timestamp':
      bytes = Buffer.alloc(8);
      // Microseconds since 2000-01-01.
      bytes.writeBigInt64BE(BigInt(Date.parse(value as string) - Date.UTC(2000, 0, 1)) * 1000n);
      break;
    case 'date':
      bytes = Buffer.alloc(4);
      bytes.writeInt32BE((Date.parse(value as string) - Date.UTC(2000, 0, 1)) / 86_400_000);
      break;
    case 'bigint':
      bytes = Buffer.alloc(8);
      bytes.writeBigInt64BE(BigInt(value as number));
      break;
    case 'double':
      bytes = Buffer.alloc(8);
      bytes.writeDoubleBE(value as number);
      break;
    case 'boolean':
      bytes = Buffer.from([value ? 1 : 0]);
      break;
    default:
      bytes = Buffer.from(value as string);
  }
  const length = Buffer.alloc(4);
  length.writeInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** A row of `values` in that encoding: its field count, then each field. */
export function copyRow(columns: readonly LocalColumn[], values: readonly unknown[]): Buffer {
  const count = Buffer.alloc(2);
  count.writeInt16BE(columns.length);
  return Buffer.concat([count, ...columns.map((c, i) => copyField(c.type, values[i]))]);
}

/** What follows the last row of a binary COPY file. */
export const COPY_TRAILER = Buffer.from([0xff, 0xff]);
