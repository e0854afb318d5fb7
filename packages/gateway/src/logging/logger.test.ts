import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

describe('logger', () => {
  const capture = () => {
    const lines: Record<string, unknown>[] = [];
    return { lines, logger: createLogger({ write: (line) => lines.push(JSON.parse(line)) }) };
  };

  it('writes plain fields as they are, and errors, big integers and nested values by their meaning', () => {
    const { lines, logger } = capture();
    logger.child({ tenant: 'acme' }).info('query.end', { rows: 3, ok: true, code: null, ms: Number.NaN });
    const error = Object.assign(new Error('no room', { cause: new Error('disk') }), { code: 'ENOSPC' });
    logger.warn('cache.fill_failed', { error, bytes: 2n ** 70n, nested: { n: 1n } });
    expect(lines[0]).toMatchObject({
      level: 'info',
      event: 'query.end',
      tenant: 'acme',
      rows: 3,
      ok: true,
      code: null,
    });
    expect(lines[0]?.ms).toBeNull();
    expect(lines[1]).toMatchObject({
      level: 'warn',
      error: { name: 'Error', message: 'no room', code: 'ENOSPC', cause: { message: 'disk' } },
      bytes: '1180591620717411303424',
      nested: { n: '1' },
    });
  });

  it('drops lines below its level', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', write: (line) => lines.push(line) });
    logger.info('request');
    logger.error('failed');
    expect(lines.map((line) => JSON.parse(line).event)).toEqual(['failed']);
  });

  /**
   * The lines a child process writes through the default logger when it logs 5,000 lines in one turn and then runs
   * `ending`, with how the process ended.
   */
  function childLines(ending: string): { numbers: number[]; status: number | null; signal: string | null } {
    const script = `
      import { createLogger } from './src/logging/logger.ts';
      const logger = createLogger();
      for (let i = 0; i < 5000; i++) logger.info('line', { i });
      ${ending}`;
    const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: `${import.meta.dirname}/../..`,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    const numbers = result.stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => (JSON.parse(line) as { i: number }).i);
    return { numbers, status: result.status, signal: result.signal };
  }

  it('writes lines as they pile up within one turn, so a process killed before its next turn loses few', () => {
    // The turn never ends, as a saturated loop's barely do: the process is killed within it.
    const { numbers, signal } = childLines("process.kill(process.pid, 'SIGKILL');");
    expect(signal).toBe('SIGKILL');
    // All but the last 64 KiB of lines at most (about 900 of these), in order.
    expect(numbers.length).toBeGreaterThan(4000);
    expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, i) => i));
  });

  it('writes every line to stdout, in order, even when the process exits at once', () => {
    const { numbers, status } = childLines('process.exit(3);');
    expect(status).toBe(3);
    expect(numbers).toEqual(Array.from({ length: 5000 }, (_, i) => i));
  });
});
