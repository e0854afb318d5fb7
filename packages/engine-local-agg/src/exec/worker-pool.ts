import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { abortError, ERROR_CODES, type ErrorCode, LakegateError } from '@lakegate/engine-api';
import type { FileLayout } from '../table/file-layout.js';
import type { FileRange } from '../table/line-reader.js';
import type { FinishedGroups } from './merge-groups.js';
import type { FromWorker, ToWorker } from './pass-worker.js';
import { type FinishPlan, type GroupingSetPlan, type PartialGroups, type PassPlan, transferables } from './plan.js';

export interface PassWork {
  readonly range: FileRange;
  readonly layout: FileLayout;
}

export interface PassOutput {
  /** Per thread, one partial per grouping set; or, when the pass was run with shares, the first set's shares. */
  readonly partials: PartialGroups[][];
  readonly rows: number;
}

/**
 * Starts a worker on the script beside this module: compiled JavaScript, or, when running from TypeScript sources
 * (tests, benchmarks), the TypeScript file loaded through tsx's loader registered inside the worker.
 */
function startWorker(): Worker {
  const js = new URL('./pass-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return new Worker(js);
  const ts = new URL('./pass-worker.ts', import.meta.url).href;
  const bootstrap = `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(ts)}); })`;
  return new Worker(bootstrap, { eval: true });
}

function workerError(code: string | undefined, message: string): LakegateError {
  const known = code !== undefined && code in ERROR_CODES ? (code as ErrorCode) : 'ENGINE_FAILURE';
  return new LakegateError(known, known === 'ENGINE_FAILURE' ? `local-agg worker failed: ${message}` : message);
}

interface Job {
  readonly id: number;
  readonly shares: number | undefined;
  readonly queue: PassWork[];
  readonly outstanding: Map<Worker, number>;
  readonly partials: PartialGroups[][];
  rows: number;
  pendingResults: number;
  resolve(output: PassOutput): void;
  reject(error: unknown): void;
  done: boolean;
}

interface Merge {
  readonly results: FinishedGroups[];
  pending: number;
  resolve(groups: FinishedGroups[]): void;
  reject(error: unknown): void;
}

/** How many ranges each worker holds at once: one running, one waiting, so it never idles between ranges. */
const IN_FLIGHT = 2;

/**
 * A fixed set of worker threads shared by every pass of the engine. A pass hands its ranges out one at a time to
 * whichever worker is free, so big and small files balance; cancellation drops a pass's remaining ranges, and the
 * range under way finishes (a few megabytes).
 */
export class WorkerPool {
  readonly #size: number;
  readonly #workers: Worker[] = [];
  readonly #jobs = new Map<number, Job>();
  readonly #merges = new Map<number, Merge>();
  #nextId = 1;
  #closed = false;

  constructor(size: number) {
    this.#size = size;
  }

  #start(): void {
    for (let i = this.#workers.length; i < this.#size; i++) {
      const worker = startWorker();
      worker.unref();
      worker.on('message', (message: FromWorker) => this.#onMessage(worker, message));
      worker.on('error', (error) => this.#onCrash(worker, error));
      worker.on('exit', (code) => {
        if (!this.#closed) this.#onCrash(worker, new Error(`worker exited with code ${code}`));
      });
      this.#workers.push(worker);
    }
  }

  #onCrash(worker: Worker, error: Error): void {
    const index = this.#workers.indexOf(worker);
    if (index < 0) return;
    this.#workers.splice(index, 1);
    for (const job of this.#jobs.values()) {
      if (job.outstanding.has(worker) || job.pendingResults > 0) this.#fail(job, workerError(undefined, error.message));
    }
    // Every merge has a share on every worker.
    for (const [id, merge] of this.#merges) {
      this.#merges.delete(id);
      merge.reject(workerError(undefined, error.message));
    }
  }

  #post(worker: Worker, message: ToWorker): void {
    worker.postMessage(message);
  }

  #feed(job: Job, worker: Worker, limit = IN_FLIGHT): void {
    let outstanding = job.outstanding.get(worker) ?? 0;
    while (outstanding < limit && job.queue.length > 0) {
      const work = job.queue.shift() as PassWork;
      this.#post(worker, { type: 'range', id: job.id, range: work.range, layout: work.layout });
      outstanding++;
    }
    job.outstanding.set(worker, outstanding);
    // (Only a full feed finishes a worker: the first rounds of `run` hand out ranges and nothing else.)
    if (outstanding === 0 && job.queue.length === 0 && limit === IN_FLIGHT) {
      job.outstanding.delete(worker);
      this.#post(
        worker,
        job.shares ? { type: 'finish', id: job.id, shares: job.shares } : { type: 'finish', id: job.id },
      );
    }
  }

  #onMessage(worker: Worker, message: FromWorker): void {
    const merge = this.#merges.get(message.id);
    if (merge) {
      if (message.type === 'finished') {
        merge.results[message.index] = message.groups;
        if (--merge.pending === 0) {
          this.#merges.delete(message.id);
          merge.resolve(merge.results);
        }
      } else if (message.type === 'failed') {
        this.#merges.delete(message.id);
        merge.reject(workerError(message.code, message.message));
      }
      return;
    }
    const job = this.#jobs.get(message.id);
    if (!job || job.done) return;
    switch (message.type) {
      case 'ranged':
        job.outstanding.set(worker, (job.outstanding.get(worker) ?? 1) - 1);
        this.#feed(job, worker);
        return;
      case 'result':
        job.partials.push(message.partials);
        job.rows += message.rows;
        if (--job.pendingResults === 0) {
          job.done = true;
          this.#jobs.delete(job.id);
          job.resolve({ partials: job.partials, rows: job.rows });
        }
        return;
      case 'failed':
        this.#fail(job, workerError(message.code, message.message));
        return;
    }
  }

  #fail(job: Job, error: unknown): void {
    if (job.done) return;
    job.done = true;
    this.#jobs.delete(job.id);
    for (const worker of this.#workers) this.#post(worker, { type: 'cancel', id: job.id });
    job.reject(error);
  }

  /**
   * Runs one pass over `work` on the workers and returns each worker's partial groups: one per grouping set, or
   * with `shares`, the first set's groups split in that many shares (for {@link finishShares}).
   */
  run(plan: PassPlan, work: readonly PassWork[], signal: AbortSignal, shares?: number): Promise<PassOutput> {
    if (this.#closed) return Promise.reject(new LakegateError('ENGINE_CLOSED', 'The engine is closed.'));
    if (signal.aborted) return Promise.reject(abortError(signal));
    this.#start();
    const workers = this.#workers.slice(0, Math.max(1, Math.min(this.#workers.length, work.length)));
    return new Promise<PassOutput>((resolve, reject) => {
      const job: Job = {
        id: this.#nextId++,
        shares,
        queue: [...work],
        outstanding: new Map(),
        partials: [],
        rows: 0,
        pendingResults: workers.length,
        resolve,
        reject,
        done: false,
      };
      const onAbort = (): void => this.#fail(job, abortError(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      const settle =
        <T>(inner: (value: T) => void) =>
        (value: T): void => {
          signal.removeEventListener('abort', onAbort);
          inner(value);
        };
      job.resolve = settle(resolve);
      job.reject = settle(reject);
      this.#jobs.set(job.id, job);
      for (const worker of workers) this.#post(worker, { type: 'begin', id: job.id, plan });
      // A range for each worker before a second for any: with as few ranges as workers, each works on one.
      for (let limit = 1; limit <= IN_FLIGHT; limit++) for (const worker of workers) this.#feed(job, worker, limit);
    });
  }

  /** How many threads the pool runs: the number of shares {@link finishShares} takes. */
  get size(): number {
    return this.#size;
  }

  /**
   * Merges the shares of a pass's groups and computes their aggregates, share i on worker i, so that merging and
   * finishing a large result is split across the threads as the pass was. `byThread[t][i]` is thread t's share i;
   * the shares move to the workers and back without a copy.
   */
  finishShares(
    set: GroupingSetPlan,
    finish: FinishPlan,
    byThread: readonly (readonly PartialGroups[])[],
    signal: AbortSignal,
  ): Promise<FinishedGroups[]> {
    if (this.#closed) return Promise.reject(new LakegateError('ENGINE_CLOSED', 'The engine is closed.'));
    if (signal.aborted) return Promise.reject(abortError(signal));
    this.#start();
    const count = byThread[0]?.length ?? 0;
    if (count === 0) return Promise.resolve([]);
    const workers = this.#workers.slice(0, count);
    if (workers.length < count) return Promise.reject(workerError(undefined, 'a worker is missing'));
    const id = this.#nextId++;
    return new Promise<FinishedGroups[]>((resolve, reject) => {
      const onAbort = (): void => {
        this.#merges.delete(id);
        reject(abortError(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#merges.set(id, {
        results: [],
        pending: count,
        resolve(groups) {
          signal.removeEventListener('abort', onAbort);
          resolve(groups);
        },
        reject(error) {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
      try {
        workers.forEach((worker, index) => {
          const partials = byThread.map((shares) => shares[index] as PartialGroups);
          worker.postMessage(
            { type: 'merge', id, set, finish, partials, index } satisfies ToWorker,
            transferables(partials),
          );
        });
      } catch (error) {
        (this.#merges.get(id) as Merge).reject(error);
        this.#merges.delete(id);
      }
    });
  }

  /** Cancels running passes and stops the threads. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const job of [...this.#jobs.values()])
      this.#fail(job, new LakegateError('QUERY_CANCELLED', 'The query was cancelled because the engine is closing.'));
    for (const merge of [...this.#merges.values()])
      merge.reject(new LakegateError('QUERY_CANCELLED', 'The query was cancelled because the engine is closing.'));
    this.#merges.clear();
    await Promise.all(this.#workers.splice(0).map((w) => w.terminate()));
  }
}
