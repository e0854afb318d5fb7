import { readCopyTuples } from './copy-format.js';
import { FileBlocks } from './file-blocks.js';
import type { FileLayout } from './file-layout.js';

const NEWLINE = 0x0a;
const RETURN = 0x0d;
const QUOTE = 0x22;

/** A byte range of a file: the lines that *start* inside it are its lines (the last one may end past `end`). */
export interface FileRange {
  readonly path: string;
  readonly start: number;
  readonly end: number;
}

/** Files read in one piece: lines that may hold quoted line breaks, and binary COPY rows, found by their lengths. */
const whole = (layout: FileLayout): boolean => layout.quoted || layout.format === 'pgcopy';

/**
 * Splits files into ranges of about `target` bytes, so that workers can share a big file, the last few (two per
 * worker of `tailWorkers`) in quarters. Files whose lines may contain quoted line breaks, and binary COPY files, are
 * never split.
 */
export function splitRanges(
  files: readonly { path: string; size: number }[],
  layout: (path: string) => FileLayout,
  target: number,
  tailWorkers = 0,
): FileRange[] {
  const ranges: FileRange[] = [];
  for (const file of files) {
    const pieces = whole(layout(file.path)) ? 1 : Math.max(1, Math.round(file.size / target));
    ranges.push(...cut({ path: file.path, start: 0, end: file.size }, pieces));
  }
  // The last ranges handed out decide when the slowest worker ends: cut them finer, so the workers end together.
  const tail = Math.min(ranges.length, 2 * tailWorkers);
  const last = ranges.splice(ranges.length - tail, tail);
  for (const range of last) ranges.push(...(whole(layout(range.path)) ? [range] : cut(range, 4)));
  return ranges;
}

/** `range` in `pieces` ranges of about equal size (one range for an empty file). */
function cut(range: FileRange, pieces: number): FileRange[] {
  const size = range.end - range.start;
  const step = Math.max(1, Math.ceil(size / pieces));
  const out: FileRange[] = [];
  for (let start = range.start; start < range.end || out.length === 0; start += step)
    out.push({ path: range.path, start, end: Math.min(range.end, start + step) });
  return out;
}

/**
 * Calls `onLine(bytes, start, end)` for every non-empty line that starts in the range, without its line break,
 * reading blocks synchronously (worker threads call it; the main thread only for small files). The header line of
 * CSV/TSV is skipped. `onBlock` runs after each block and may return false to stop (cancellation). The lines of a
 * binary COPY file are its rows (see copy-format.ts).
 */
export function readLines(
  range: FileRange,
  layout: FileLayout,
  onLine: (bytes: Uint8Array, start: number, end: number) => void,
  onBlock: () => boolean = () => true,
): void {
  if (layout.format === 'pgcopy') {
    readCopyTuples(range, onLine, onBlock);
    return;
  }
  const blocks = new FileBlocks(range.path, range.start);
  try {
    let skipFirst = false;
    // Not at a line start: the line under way belongs to the previous range.
    if (range.start > 0) skipFirst = blocks.byteAt(range.start - 1) !== NEWLINE;
    else if (layout.format !== 'ndjson') skipFirst = true;
    let bom = range.start === 0;
    for (;;) {
      const atEof = blocks.fill() === 0;
      const { buffer, filled, offset } = blocks;
      let begin = 0;
      if (bom && filled >= 3 && buffer[0] === 0xef && buffer[1] === 0xbb && buffer[2] === 0xbf) begin = 3;
      bom = false;
      let inQuotes = false;
      let i = begin;
      for (;;) {
        let nl: number;
        if (layout.quoted) {
          // A quote opens a quoted field only at the field's start, as DuckDB reads CSV: one inside a field (`5"
          // screen`) is a character of it, and must not swallow the line breaks after it. In a quoted field, `""`
          // is a quote and the next quote closes it.
          nl = -1;
          let fieldStart = true;
          for (let j = i; j < filled; j++) {
            const b = buffer[j];
            if (inQuotes) {
              if (b === QUOTE) {
                if (buffer[j + 1] === QUOTE && j + 1 < filled) j++;
                else inQuotes = false;
              }
            } else if (b === NEWLINE) {
              nl = j;
              break;
            } else if (b === QUOTE && fieldStart) inQuotes = true;
            else fieldStart = b === layout.delimiter;
          }
          inQuotes = false;
        } else nl = buffer.indexOf(NEWLINE, i);
        if (nl < 0 || nl >= filled) {
          if (!atEof) break;
          nl = filled; // the last line has no line break
          if (nl === i) break;
        }
        if (offset + i >= range.end) return;
        const end = nl > i && buffer[nl - 1] === RETURN ? nl - 1 : nl;
        if (skipFirst) skipFirst = false;
        else if (end > i) onLine(buffer, i, end);
        i = nl + 1;
        if (i > filled) break;
      }
      if (atEof) return;
      // Keep the unfinished line at the start of the buffer.
      blocks.consume(i);
      if (!onBlock()) return;
    }
  } finally {
    blocks.close();
  }
}
