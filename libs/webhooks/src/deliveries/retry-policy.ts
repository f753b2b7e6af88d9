/**
 * When to try again after a failed attempt. `schedule`: the delays after the first (immediate) attempt;
 * `exponential`: initial × 2^(n-1), capped, for at most maxAttempts attempts in all.
 */
export type RetryPolicy =
  | { strategy: 'schedule'; delaysSeconds: number[] }
  | { strategy: 'exponential'; initialDelaySeconds: number; maxDelaySeconds: number; maxAttempts: number };

/** Immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { strategy: 'schedule', delaysSeconds: [5, 300, 1800, 7200, 18_000, 36_000, 36_000] };

/** ±20 %, so endpoints that failed together do not all come back at the same moment. */
export const JITTER = 0.2;
/** A Retry-After beyond this is capped. */
export const MAX_RETRY_AFTER_MS = 86_400_000;

export function maxAttempts(policy: RetryPolicy): number {
  return policy.strategy === 'schedule' ? policy.delaysSeconds.length + 1 : policy.maxAttempts;
}

/** Delay before the next attempt after `attemptsMade` attempts, or null when none is left. `random` in [0, 1). */
export function retryDelayMs(policy: RetryPolicy, attemptsMade: number, random: number): number | null {
  if (attemptsMade >= maxAttempts(policy)) return null;
  const seconds =
    policy.strategy === 'schedule'
      ? policy.delaysSeconds[attemptsMade - 1]
      : Math.min(policy.initialDelaySeconds * 2 ** (attemptsMade - 1), policy.maxDelaySeconds);
  return Math.round(seconds * 1000 * (1 - JITTER + 2 * JITTER * random));
}

/** Retry-After: seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(header: string | null | undefined, now: Date): number | null {
  if (!header) return null;
  const text = header.trim();
  const ms = /^\d{1,10}$/.test(text) ? Number(text) * 1000 : Date.parse(text) - now.getTime();
  if (!Number.isFinite(ms)) return null;
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}
