import { open } from 'node:fs/promises';
import { type DatasetFormat, LakegateError } from '@lakegate/engine-api';
import { sniffCopyFile } from './copy-format.js';
import { type LocalColumn, type LocalType, sniffValue, widen } from './local-types.js';

/** How to read one data file: its format and the columns sniffed from its first rows. Plain data, sent to workers. */
export interface FileLayout {
  readonly format: 'csv' | 'tsv' | 'ndjson' | 'pgcopy';
  /** Field separator byte of CSV/TSV. */
  readonly delimiter: number;
  readonly columns: readonly LocalColumn[];
  /** Column names whose values local-agg cannot represent (nested JSON, time zones): queries naming them decline. */
  readonly unsupported: readonly string[];
  /** A quote character occurs in the sample: a line may then span several, so the file is read in one piece. */
  readonly quoted: boolean;
  /** No row at all (a CSV header alone, an empty file). */
  readonly empty: boolean;
  /** Per column, whether a value in the sample told its type (else it is VARCHAR for want of one). */
  readonly typed: readonly boolean[];
}

/** Rows DuckDB's CSV sniffer samples by default; sniffing as many keeps the two engines' types in step. */
const SAMPLE_ROWS = 20_480;
const SAMPLE_BYTES = 8 * 1024 * 1024;

export const isLocalFormat = (format: DatasetFormat): format is FileLayout['format'] =>
  format === 'csv' || format === 'tsv' || format === 'ndjson' || format === 'pgcopy';

/** Splits one CSV line into fields (quotes and doubled quotes understood); for sniffing, not for the hot path. */
export function splitCsvLine(line: string, delimiter: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const next = line.indexOf('"', i);
        if (next < 0) {
          value += line.slice(i);
          i = line.length;
          break;
        }
        value += line.slice(i, next);
        if (line[next + 1] === '"') {
          value += '"';
          i = next + 2;
        } else {
          i = next + 1;
          break;
        }
      }
      fields.push(value);
      const end = line.indexOf(delimiter, i);
      if (end < 0) return fields;
      i = end + 1;
    } else {
      const end = line.indexOf(delimiter, i);
      fields.push(end < 0 ? line.slice(i) : line.slice(i, end));
      if (end < 0) return fields;
      i = end + 1;
    }
  }
}

function sniffJsonValue(value: unknown): LocalType | 'unsupported' | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return Number.isInteger(value) ? 'bigint' : 'double';
  if (typeof value === 'string') {
    if (/[zZ]$|[+-]\d{2}:?\d{2}$/.test(value) && /^\d{4}-\d{2}-\d{2}[ T]/.test(value)) return 'unsupported';
    const type = sniffValue(value);
    return type === 'date' || type === 'timestamp' ? type : 'varchar';
  }
  return 'unsupported';
}

function sniffNdjson(lines: readonly string[], path: string): FileLayout {
  const types = new Map<string, LocalType | undefined>();
  const unsupported = new Set<string>();
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      throw new LakegateError('INVALID_REQUEST', `${path}, line ${i + 1}: not a JSON object.`);
    }
    if (!record || typeof record !== 'object' || Array.isArray(record))
      throw new LakegateError('INVALID_REQUEST', `${path}, line ${i + 1}: not a JSON object.`);
    for (const [key, value] of Object.entries(record)) {
      const type = sniffJsonValue(value);
      if (type === 'unsupported') unsupported.add(key);
      else if (type === undefined) types.set(key, types.get(key));
      else types.set(key, widen(types.get(key), type));
    }
  }
  return {
    format: 'ndjson',
    delimiter: 0,
    columns: [...types].map(([name, type]) => ({ name, type: type ?? 'varchar' })),
    unsupported: [...unsupported],
    quoted: false,
    empty: lines.every((line) => line.trim() === ''),
    typed: [...types.values()].map((type) => type !== undefined),
  };
}

/**
 * A copy of `text` that shares no memory with the string it was cut from: V8 keeps a cut-out part pointing into the
 * whole, so a column name cut from a sample would keep the sample (up to SAMPLE_BYTES) alive in the engine's cache of
 * layouts.
 */
const detached = (text: string): string => Buffer.from(text, 'utf8').toString('utf8');

function sniffDelimited(lines: readonly string[], format: 'csv' | 'tsv', text: string): FileLayout {
  const delimiter = format === 'tsv' ? '\t' : ',';
  const header = splitCsvLine(lines[0] ?? '', delimiter).map(detached);
  const types: (LocalType | undefined)[] = header.map(() => undefined);
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    // As DuckDB: a quoted value is sniffed by what it holds, and an empty one (quoted or not) says nothing.
    splitCsvLine(line, delimiter).forEach((field, i) => {
      if (i < types.length && field !== '') types[i] = widen(types[i], sniffValue(field));
    });
  }
  return {
    format,
    delimiter: delimiter.charCodeAt(0),
    columns: header.map((name, i) => ({ name, type: types[i] ?? 'varchar' })),
    unsupported: [],
    quoted: text.includes('"'),
    empty: lines.slice(1).every((line) => line === ''),
    typed: types.map((type) => type !== undefined),
  };
}

/** Reads the first rows of a file and infers its columns (the header of CSV/TSV, the keys of NDJSON). */
export async function sniffFile(path: string, format: FileLayout['format']): Promise<FileLayout> {
  // A binary COPY file names its columns in its header.
  if (format === 'pgcopy') return sniffCopyFile(path);
  const handle = await open(path, 'r');
  let text: string;
  try {
    // No larger than the file: thousands of small files are sniffed, and each buffer is memory to allocate.
    const { size } = await handle.stat();
    const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(SAMPLE_BYTES, size)));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    text = buffer.toString('utf8', 0, bytesRead);
    // The last line of a partial read may be cut: drop it unless the whole file was read.
    if (bytesRead === SAMPLE_BYTES) text = text.slice(0, Math.max(0, text.lastIndexOf('\n')));
  } finally {
    await handle.close();
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split('\n', SAMPLE_ROWS + 1).map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  return format === 'ndjson' ? sniffNdjson(lines, path) : sniffDelimited(lines, format, text);
}

/**
 * The columns every file of a dataset shares; files that disagree make the dataset's types the wider ones. A column
 * whose sample in a file held no value (a CSV header alone, a column NULL throughout, a slice of a dump) leaves the
 * type to the other files: only when no file tells it is it VARCHAR.
 */
export function combineLayouts(layouts: readonly FileLayout[]): readonly LocalColumn[] {
  // An empty NDJSON file names no column at all: it has nothing to agree with.
  const named = layouts.filter((layout) => !(layout.empty && layout.format === 'ndjson'));
  const first = named[0] ?? layouts[0];
  if (!first) return [];
  return first.columns.map((column, i) => {
    let type: LocalType | undefined;
    for (const layout of named) {
      const same = layout.columns[i];
      if (!same || same.name.toLowerCase() !== column.name.toLowerCase())
        throw new LakegateError('UNSUPPORTED_QUERY', 'local-agg reads datasets whose files share one set of columns.');
      if (layout.typed[i]) type = widen(type, same.type);
    }
    return { name: column.name, type: type ?? 'varchar' };
  });
}
