export * from './tokens.js';
export * from './command-executor.js';
export * from './platform.module.js';
