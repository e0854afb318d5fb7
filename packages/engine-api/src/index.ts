export * from './config-helpers.js';
export * from './engine.js';
export * from './errors.js';
export * from './query-stream.js';
export * from './reference-engine.js';
export { Slots } from './slots.js';
export { isFilePathName, lineAndColumn, SAFE_TABLE_FUNCTIONS, SQL_TIME_VALUES } from './sql-text.js';
export type * from './types.js';
export { isFileBinding } from './types.js';
