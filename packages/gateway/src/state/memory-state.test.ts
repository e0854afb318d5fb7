import { MemoryRollupLedger } from '@lakegate/rollups';
import { describe, it } from 'vitest';
import { MemoryReplicaBus } from './memory-replica-bus.js';
import { MemorySessionStore } from './memory-session-store.js';
import { describeReplicaBusContract } from './replica-bus.contract.js';
import { describeRollupLedgerContract } from './rollup-ledger.contract.js';
import { describeSessionStoreContract } from './session-store.contract.js';

const opened = <T>(subject: T) => ({ subject, close: async () => {} });

describeSessionStoreContract({ describe, it }, 'memory', { open: async () => opened(new MemorySessionStore()) });

describeReplicaBusContract({ describe, it }, 'memory', {
  // One process, one replica: its bus is both ends.
  open: async () => {
    const bus = new MemoryReplicaBus();
    return opened({ local: bus, remote: bus });
  },
});

describeRollupLedgerContract({ describe, it }, 'memory', { open: async () => opened(new MemoryRollupLedger()) });
