/** Small helpers shared by the benchmarks: timing, percentiles, CPU time and a uniform report line. */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface Timing {
  readonly median: number;
  readonly p99: number;
  readonly min: number;
  readonly runs: number;
}

export function summarise(samples: readonly number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  // Nearest rank: the smallest sample with at least q of all samples at or below it.
  const at = (q: number): number => sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
  return { median: at(0.5), p99: at(0.99), min: sorted[0] ?? Number.NaN, runs: sorted.length };
}

/** Runs `fn` `warmup` times unmeasured, then `runs` times, alternating with nothing else; returns ms per run. */
export async function time(fn: () => Promise<unknown>, runs: number, warmup = 3): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  return samples;
}

/**
 * Times two functions in alternation, swapping which goes first each round (A B, B A, ...), so that drift of a
 * shared machine, and any advantage of going first or second, hits both alike.
 */
export async function timePaired(
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
  runs: number,
  warmup = 3,
): Promise<[number[], number[]]> {
  for (let i = 0; i < warmup; i++) {
    await a();
    await b();
  }
  const as: number[] = [];
  const bs: number[] = [];
  const timed = async (fn: () => Promise<unknown>, into: number[]) => {
    const start = performance.now();
    await fn();
    into.push(performance.now() - start);
  };
  for (let i = 0; i < runs; i++) {
    if (i % 2 === 0) {
      await timed(a, as);
      await timed(b, bs);
    } else {
      await timed(b, bs);
      await timed(a, as);
    }
  }
  return [as, bs];
}

export const ms = (value: number): string => `${value.toFixed(2)} ms`;

export function report(title: string, rows: readonly [string, string][]): void {
  console.log(`\n${title}`);
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, value] of rows) console.log(`  ${label.padEnd(width)}  ${value}`);
}

/** The kernel's clock ticks per second, in which /proc reports CPU time. */
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** The fields of `/proc/<pid>/stat` after the command's name: [0] is the state, [1] the parent's pid. */
function statFields(pid: number): string[] {
  return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
}

/** CPU time of a process's stat fields, in ms; with `reaped`, also its children that have ended and been waited for. */
function fieldsCpuMs(fields: readonly string[], reaped: boolean): number {
  const ticks = Number(fields[11]) + Number(fields[12]) + (reaped ? Number(fields[13]) + Number(fields[14]) : 0);
  return (ticks * 1000) / CLOCK_TICKS;
}

/** CPU time a process has used so far (user and system, all threads), in ms. */
export const cpuMs = (pid: number): number => fieldsCpuMs(statFields(pid), false);

/** The parent of a process. */
export const parentPid = (pid: number): number => Number(statFields(pid)[1]);

/**
 * CPU time of a server of several processes (PostgreSQL's postmaster and its backends): the process `root`, the
 * children it has, and those it has reaped, in ms.
 */
export function serverCpuMs(root: number): number {
  let total = fieldsCpuMs(statFields(root), true);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = statFields(Number(entry));
      if (Number(fields[1]) === root) total += fieldsCpuMs(fields, false);
    } catch {
      // Ended while the folder was read.
    }
  }
  return total;
}
