export * from './pool.js';
export * from './migrations.js';
export * from './embedded.js';
