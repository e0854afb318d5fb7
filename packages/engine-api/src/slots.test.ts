import { describe, expect, it } from 'vitest';
import { LakegateError } from './errors.js';
import { Slots } from './slots.js';

describe('Slots', () => {
  it('admits up to its capacity, then serves waiters first come, first served', async () => {
    const slots = new Slots(1);
    const signal = new AbortController().signal;
    await slots.acquire(signal);
    const order: string[] = [];
    const a = slots.acquire(signal).then(() => order.push('a'));
    const b = slots.acquire(signal).then(() => order.push('b'));
    expect([slots.used, slots.waiting]).toEqual([1, 2]);
    slots.release();
    await a;
    slots.release();
    await b;
    expect(order).toEqual(['a', 'b']);
  });

  it('lets a waiter give up on abort with the signal’s error, and skips it', async () => {
    const slots = new Slots(1);
    await slots.acquire(new AbortController().signal);
    const controller = new AbortController();
    const gaveUp = slots.acquire(controller.signal);
    const next = slots.acquire(new AbortController().signal);
    controller.abort(new LakegateError('QUERY_TIMEOUT', 'too slow'));
    await expect(gaveUp).rejects.toMatchObject({ code: 'QUERY_TIMEOUT' });
    slots.release();
    await next;
    expect([slots.used, slots.waiting]).toEqual([1, 0]);
  });

  it('lets running work occupy a slot beyond the capacity, and serves waiters once back under it', async () => {
    const slots = new Slots(1);
    const signal = new AbortController().signal;
    await slots.acquire(signal);
    slots.occupy();
    let served = false;
    const waiter = slots.acquire(signal).then(() => {
      served = true;
    });
    slots.release();
    await Promise.resolve();
    expect([served, slots.used]).toEqual([false, 1]);
    slots.release();
    await waiter;
    expect([served, slots.used]).toEqual([true, 1]);
  });
});
