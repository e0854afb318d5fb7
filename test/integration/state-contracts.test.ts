import { randomUUID } from 'node:crypto';
import { type GatewayState, openRedisState, silentLogger } from '@lakegate/gateway';
import {
  describeReplicaBusContract,
  describeRollupLedgerContract,
  describeSessionStoreContract,
} from '@lakegate/gateway/state-contracts';
import { describe, inject, it } from 'vitest';
import { freePort } from '../harness/services.js';

const redisUrl = inject('redisUrl');
const t = { describe: redisUrl ? describe : describe.skip, it };

/** State under a key prefix of its own on the shared test Redis, so that every test starts empty. */
async function openFresh(prefix = `contract-${randomUUID()}:`): Promise<GatewayState> {
  const state = openRedisState({ url: redisUrl, prefix, logger: silentLogger, graceMs: 60_000 });
  if (!(await state.ready(5000))) {
    await state.close();
    throw new Error(`Redis at ${redisUrl} did not become ready`);
  }
  return state;
}

/** State pointed at a closed port: Redis is unreachable from the start. */
async function openUnreachable(): Promise<GatewayState> {
  return openRedisState({
    url: `redis://127.0.0.1:${await freePort()}`,
    prefix: 'unreachable:',
    logger: silentLogger,
  });
}

describeSessionStoreContract(t, 'redis', {
  async open() {
    const state = await openFresh();
    return { subject: state.sessions, close: () => state.close() };
  },
  async openUnreachable() {
    const state = await openUnreachable();
    return { subject: state.sessions, close: () => state.close() };
  },
});

describeReplicaBusContract(t, 'redis', {
  // Two replicas: two connection sets on one Redis, under one prefix.
  async open() {
    const prefix = `contract-${randomUUID()}:`;
    const [local, remote] = await Promise.all([openFresh(prefix), openFresh(prefix)]);
    return {
      subject: { local: local.bus, remote: remote.bus },
      close: async () => {
        await local.close();
        await remote.close();
      },
    };
  },
  async openUnreachable() {
    const state = await openUnreachable();
    return { subject: state.bus, close: () => state.close() };
  },
});

describeRollupLedgerContract(t, 'redis', {
  async open() {
    const state = await openFresh();
    return { subject: state.ledger, close: () => state.close() };
  },
  async openUnreachable() {
    const state = await openUnreachable();
    return { subject: state.ledger, close: () => state.close() };
  },
});
