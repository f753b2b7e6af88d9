export * from './types.js';
export * from './errors.js';
export * from './position.js';
export * from './postgres/postgres-event-store.js';
export * from './postgres/schema.js';
export * from './postgres/append-batcher.js';
export * from './esdb/esdb-event-store.js';
export * from './create-event-store.js';
