import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { Tracing } from './tracing.js';

const SAMPLED = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const UNSAMPLED = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00';

/** Runs one request with a child stage, returns the spans made and the traceparent sent back. */
async function traced(sampleRatio: number, traceparent?: string) {
  const exporter = new InMemorySpanExporter();
  const tracing = new Tracing({ exporter: 'none', spanExporter: exporter, sampleRatio });
  const sent = await tracing.request('GET /x', traceparent, async ({ traceparent: back, scope }) => {
    await scope.span('stage', {}, async () => undefined);
    scope.open('stream').end();
    return back;
  });
  const names = exporter.getFinishedSpans().map((s) => s.name);
  await tracing.close();
  return { names, sent };
}

describe('tracing sample ratio', () => {
  it('traces every request at 1, with its stages', async () => {
    const { names, sent } = await traced(1);
    expect(names.sort()).toEqual(['GET /x', 'stage', 'stream']);
    expect(sent).toMatch(/-01$/);
  });

  it('makes no spans at 0, but still answers with a trace id', async () => {
    const { names, sent } = await traced(0);
    expect(names).toEqual([]);
    expect(sent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  });

  it('follows the caller’s decision when it sends a traceparent', async () => {
    expect((await traced(0, SAMPLED)).names).toHaveLength(3);
    expect((await traced(1, UNSAMPLED)).names).toEqual([]);
  });

  it('gives untraced requests trace and span ids of their own, across refills of its random pool', async () => {
    const tracing = new Tracing({ exporter: 'none' });
    const seen = new Set<string>();
    for (let i = 0; i < 600; i++) {
      const back = await tracing.request('GET /x', undefined, async ({ traceparent }) => traceparent);
      expect(back).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
      seen.add(back.slice(3, 35)).add(back.slice(36, 52));
    }
    expect(seen.size).toBe(1200);
    await tracing.close();
  });

  it('traces about the configured share of requests', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = new Tracing({ exporter: 'none', spanExporter: exporter, sampleRatio: 0.25 });
    for (let i = 0; i < 2000; i++) await tracing.request('GET /x', undefined, async () => undefined);
    const share = exporter.getFinishedSpans().length / 2000;
    await tracing.close();
    expect(share).toBeGreaterThan(0.18);
    expect(share).toBeLessThan(0.32);
  });
});
