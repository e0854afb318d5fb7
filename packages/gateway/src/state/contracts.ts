/**
 * The state contract suites, one per interface, for every implementation to run (memory in the gateway's unit
 * tests, Redis in the integration tests, which have a real server).
 */
export type { ContractHarness, ContractTestApi, Opened } from './contract-kit.js';
export { describeReplicaBusContract, type ReplicaBusHarness, type ReplicaBusPair } from './replica-bus.contract.js';
export { describeRollupLedgerContract } from './rollup-ledger.contract.js';
export { describeSessionStoreContract, sessionRecord, statementRecord } from './session-store.contract.js';
