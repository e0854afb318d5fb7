import { totalmem } from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Admission, defaultMaxMemoryBytes } from './admission.js';

const signal = new AbortController().signal;

describe('admission control', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('serves first the waiting tenant that used the fewest slot seconds lately, so a burst waits behind itself', async () => {
    const admission = new Admission({ global: { concurrentQueries: 1 }, tenant: () => ({}) });
    const first = await admission.admit('a', signal);
    const order: string[] = [];
    const burst = Array.from({ length: 5 }, (_, i) =>
      admission.admit('a', signal).then((release) => ({ who: `a${i}`, release })),
    );
    const polite = admission.admit('b', signal).then((release) => ({ who: 'b', release }));
    const all = [...burst, polite];
    let release = first;
    for (let i = 0; i < all.length; i++) {
      release();
      const next = await Promise.race(
        all.map((p) => p.then((x) => (order.includes(x.who) ? new Promise<never>(() => {}) : x))),
      );
      order.push(next.who);
      release = next.release;
    }
    release();
    // a has just used the slot, b has not: b's one query goes before a's backlog, which then runs in order.
    expect(order.indexOf('b')).toBe(0);
    expect(order.filter((w) => w.startsWith('a'))).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
  });

  it('holds back a flooding tenant to its share of the slots while another tenant is active', async () => {
    let now = 0;
    const admission = new Admission({ global: { concurrentQueries: 2 }, tenant: () => ({}), clock: () => now });
    const tick = () => new Promise((resolve) => setImmediate(resolve));
    // Alone, a may hold every slot.
    const a1 = await admission.admit('a', signal);
    const a2 = await admission.admit('a', signal);
    expect(admission.stats().byTenant.a?.running).toBe(2);
    const b1 = admission.admit('b', signal);
    a1();
    const releaseB1 = await b1;
    // b is active now: a's next query waits, although b's release leaves a slot free, so b's next finds it.
    let a3Started = false;
    const a3 = admission.admit('a', signal).then((release) => {
      a3Started = true;
      return release;
    });
    releaseB1();
    await tick();
    expect(a3Started).toBe(false);
    expect(admission.stats().running).toBe(1);
    const b2 = await admission.admit('b', signal);
    expect(admission.stats().byTenant.b?.running).toBe(1);
    b2();
    // A second after b's last query, a may take both slots again.
    now += 1500;
    a2();
    (await a3)();
    expect(a3Started).toBe(true);
  });

  it('lets a tenant lighter than the others take any free slot', async () => {
    let now = 0;
    const admission = new Admission({ global: { concurrentQueries: 2 }, tenant: () => ({}), clock: () => now });
    // a has used a slot for a while and is still active; b has used none.
    const a = await admission.admit('a', signal);
    now += 400;
    a();
    const b1 = await admission.admit('b', signal);
    const b2 = await admission.admit('b', signal);
    expect(admission.stats().byTenant.b?.running).toBe(2);
    b1();
    b2();
  });

  it('holds a fresh flood to its share once it has a backlog, though its usage is still the lighter', async () => {
    let now = 0;
    const admission = new Admission({ global: { concurrentQueries: 2 }, tenant: () => ({}), clock: () => now });
    const tick = () => new Promise((resolve) => setImmediate(resolve));
    // b has used a slot for a while; a has used none.
    const b0 = await admission.admit('b', signal);
    now += 400;
    b0();
    // a's flood begins: lighter, without a backlog, it takes both free slots...
    const a1 = await admission.admit('a', signal);
    const a2 = await admission.admit('a', signal);
    // ...and the rest of it waits.
    const started: string[] = [];
    const flood = Array.from({ length: 3 }, (_, i) =>
      admission.admit('a', signal).then((release) => {
        started.push(`a${i + 3}`);
        return release;
      }),
    );
    const b1 = admission.admit('b', signal).then((release) => {
      started.push('b1');
      return release;
    });
    // A freed slot goes to b: a, with a backlog, is held to one slot while b is active.
    a1();
    await tick();
    expect(started).toEqual(['b1']);
    (await b1)();
    await tick();
    expect(started).toEqual(['b1']);
    expect(admission.stats().byTenant.a).toMatchObject({ running: 1, queued: 3 });
    a2();
    await tick();
    expect(started).toEqual(['b1', 'a3']);
    (await (flood[0] as Promise<() => void>))();
  });

  it('gives a held-back tenant its free slots once the other tenant has been quiet a second, without a release', async () => {
    vi.useFakeTimers();
    const admission = new Admission({ global: { concurrentQueries: 2 }, tenant: () => ({}) });
    const a1 = await admission.admit('a', signal);
    vi.advanceTimersByTime(100);
    const b = await admission.admit('b', signal);
    vi.advanceTimersByTime(10);
    b();
    // a has held a slot for 110 ms, b for 10: a is held to one slot while b counts as active.
    let started = false;
    const a2 = admission.admit('a', signal).then((release) => {
      started = true;
      return release;
    });
    await vi.advanceTimersByTimeAsync(500);
    expect(started).toBe(false);
    await vi.advanceTimersByTimeAsync(1000);
    expect(started).toBe(true);
    (await a2)();
    a1();
  });

  it('alternates between two tenants that use the slot alike', async () => {
    let now = 0;
    const admission = new Admission({ global: { concurrentQueries: 1 }, tenant: () => ({}), clock: () => now });
    const first = await admission.admit('x', signal);
    const waiting = ['a', 'b', 'a', 'b'].map((t, i) =>
      admission.admit(t, signal).then((release) => ({ t, i, release })),
    );
    const order: string[] = [];
    // Each query holds the slot for a minute: the tenant that ran last has used more lately, so the other goes next.
    let release = first;
    for (let n = 0; n < waiting.length; n++) {
      now += 60_000;
      release();
      const next = await Promise.race(
        waiting.map((p) => p.then((x) => (order.includes(`${x.t}${x.i}`) ? new Promise<never>(() => {}) : x))),
      );
      order.push(`${next.t}${next.i}`);
      release = next.release;
    }
    release();
    expect(order).toEqual(['a0', 'b1', 'a2', 'b3']);
  });

  it('refuses with RATE_LIMITED and Retry-After when a tenant’s queue or rate is full', async () => {
    let now = 0;
    const admission = new Admission({
      global: {},
      tenant: (t) => (t === 'busy' ? { concurrentQueries: 1, queuedQueries: 1 } : { queriesPerSecond: 2 }),
      clock: () => now,
    });
    await admission.admit('busy', signal);
    const waiting = admission.admit('busy', signal);
    await expect(admission.admit('busy', signal)).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 1 });
    expect(admission.stats()).toMatchObject({ running: 1, queued: 1 });
    void waiting;

    (await admission.admit('fast', signal))();
    (await admission.admit('fast', signal))();
    await expect(admission.admit('fast', signal)).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    now += 500;
    (await admission.admit('fast', signal))();
  });

  it('tells the refusal admit would give, without taking a token or a place', async () => {
    let now = 0;
    const admission = new Admission({
      global: {},
      tenant: (t) => (t === 'busy' ? { concurrentQueries: 1, queuedQueries: 1 } : { queriesPerSecond: 1 }),
      clock: () => now,
    });
    expect(admission.refusal('busy')).toBeUndefined();
    await admission.admit('busy', signal);
    expect(admission.refusal('busy')).toBeUndefined(); // it may still wait
    const waiting = admission.admit('busy', signal);
    expect(admission.refusal('busy')).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 1 });
    expect(admission.stats()).toMatchObject({ running: 1, queued: 1 });
    void waiting;

    // Asking again and again takes no token: the one token of the second is still there for admit.
    for (let i = 0; i < 5; i++) expect(admission.refusal('fast')).toBeUndefined();
    (await admission.admit('fast', signal))();
    expect(admission.refusal('fast')).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 1 });
    now += 1000;
    expect(admission.refusal('fast')).toBeUndefined();
  });

  it('spends none of the gateway’s rate on a query its tenant’s rate or queue refuses', async () => {
    for (const own of [{ queriesPerSecond: 1 }, { concurrentQueries: 1, queuedQueries: 0 }]) {
      const admission = new Admission({
        global: { queriesPerSecond: 2 },
        tenant: (t) => (t === 'a' ? own : {}),
        clock: () => 0,
      });
      const a = await admission.admit('a', signal);
      await expect(admission.admit('a', signal)).rejects.toMatchObject({ message: /^Your tenant/ });
      // The gateway's second token is still there for b.
      (await admission.admit('b', signal))();
      await expect(admission.admit('b', signal)).rejects.toMatchObject({ message: /^The gateway is limited/ });
      a();
    }
  });

  it('keeps per-tenant concurrency while other tenants run', async () => {
    const admission = new Admission({ global: { concurrentQueries: 10 }, tenant: () => ({ concurrentQueries: 1 }) });
    await admission.admit('a', signal);
    const queued = admission.admit('a', signal);
    const other = await admission.admit('b', signal);
    expect(admission.stats().byTenant).toMatchObject({ a: { running: 1, queued: 1 }, b: { running: 1, queued: 0 } });
    other();
    expect(admission.stats().byTenant.a).toMatchObject({ running: 1, queued: 1 });
    void queued;
  });

  it('lets a queued query give up when its client goes away', async () => {
    const admission = new Admission({ global: { concurrentQueries: 1 }, tenant: () => ({}) });
    const release = await admission.admit('a', signal);
    const client = new AbortController();
    const queued = admission.admit('a', client.signal);
    client.abort();
    await expect(queued).rejects.toMatchObject({ code: 'QUERY_CANCELLED' });
    expect(admission.stats().queued).toBe(0);
    release();
    expect(admission.stats().running).toBe(0);
  });

  it('refuses new work when memory is short, before running out', async () => {
    let rss = 100;
    let now = 0;
    const admission = new Admission({
      global: {},
      tenant: () => ({}),
      maxMemoryBytes: 1000,
      memoryUsage: () => rss,
      heapUsage: () => ({ used: 10, limit: 100 }),
      clock: () => now,
    });
    (await admission.admit('a', signal))();
    rss = 2000;
    now += 100;
    await expect(admission.admit('a', signal)).rejects.toMatchObject({ code: 'ENGINE_BUSY', retryAfterSeconds: 2 });
    rss = 900;
    now += 100;
    (await admission.admit('a', signal))();
  });

  it('refuses new work while the JavaScript heap is nearly full, whatever the resident memory', async () => {
    let used = 50;
    let now = 0;
    let readings = 0;
    const admission = new Admission({
      global: {},
      tenant: () => ({}),
      heapUsage: () => {
        readings++;
        return { used, limit: 100 };
      },
      clock: () => now,
    });
    (await admission.admit('a', signal))();
    used = 90;
    // A reading is reused for a moment: refusing a flood does not read memory per request.
    (await admission.admit('a', signal))();
    expect(readings).toBe(1);
    now += 100;
    await expect(admission.admit('a', signal)).rejects.toMatchObject({ code: 'ENGINE_BUSY' });
    expect(admission.refusal('b')).toMatchObject({ code: 'ENGINE_BUSY' });
    used = 40;
    now += 100;
    expect(admission.refusal('b')).toBeUndefined();
  });

  it('defaults the memory ceiling to 90% of what the host or container allows', () => {
    const ceiling = defaultMaxMemoryBytes();
    expect(ceiling).toBeGreaterThan(0);
    expect(ceiling).toBeLessThanOrEqual(totalmem() * 0.9);
  });
});
