export * from './projection.js';
export * from './schema.js';
export * from './checkpoints.js';
export * from './positions.js';
export * from './runner.js';
