export * from './problem-details.filter.js';
export * from './request-context.js';
export * from './logger.js';
export * from './pagination.js';
