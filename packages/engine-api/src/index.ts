export * from './engine.js';
export * from './errors.js';
export * from './query-stream.js';
export * from './reference-engine.js';
export type * from './types.js';
