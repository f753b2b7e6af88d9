export * from './kv.decider.js';
export * from './kv.projection.js';
export * from './key-value.module.js';
export * from './kv-expiry.worker.js';
