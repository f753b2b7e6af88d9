import type { RetryPolicy } from './task.events.js';

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, initialDelayMs: 1000, maxDelayMs: 60_000, multiplier: 2, jitter: true };

/**
 * Exponential backoff after the failed attempt `attempt` (1-based): initial × multiplier^(attempt-1), capped;
 * with jitter the delay is drawn from [delay/2, delay) so retries of many tasks that failed together spread out.
 * `random` in [0, 1) is passed in so the decision stays pure.
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, random: number): number {
  const raw = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** Math.max(0, attempt - 1));
  return Math.round(policy.jitter ? raw / 2 + (raw / 2) * random : raw);
}
