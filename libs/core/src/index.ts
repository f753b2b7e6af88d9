export * from './decider.js';
export * from './errors.js';
export * from './command-context.js';
export * from './command-handler.js';
export * from './external-events.js';
