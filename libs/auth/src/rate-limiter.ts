import { DomainError } from '@app/core';

/** Per-key fixed one-minute windows, kept in this api node's memory (limits are per node). */
export class RateLimiter {
  private windows = new Map<string, { start: number; count: number }>();
  private lastSweep = 0;

  constructor(private readonly limitPerMinute: number) {}

  /** Counts one request; throws 429 RATE_LIMITED (with retryAfterSeconds) past the limit. */
  hit(key: string, now = Date.now()): void {
    if (now - this.lastSweep > 60_000) this.sweep(now);
    let window = this.windows.get(key);
    if (!window || now - window.start >= 60_000) {
      window = { start: now, count: 0 };
      this.windows.set(key, window);
    }
    if (++window.count > this.limitPerMinute) {
      const retryAfterSeconds = Math.max(1, Math.ceil((window.start + 60_000 - now) / 1000));
      throw new DomainError('RATE_LIMITED', `more than ${this.limitPerMinute} requests in a minute; retry in ${retryAfterSeconds} s`, 429, { retryAfterSeconds });
    }
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [key, window] of this.windows) if (now - window.start >= 60_000) this.windows.delete(key);
  }
}
