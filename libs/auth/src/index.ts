export * from './permissions.js';
export * from './auth.guard.js';
export * from './auth.module.js';
export * from './tokens/token.decider.js';
export * from './tokens/token.projection.js';
export * from './tokens/token-secret.js';
export * from './tokens/token-verifier.js';
export * from './tokens/owner-bootstrap.js';
