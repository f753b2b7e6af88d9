import type { Pool } from '@app/database';
import { PG_POOL } from '@app/platform';
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';

interface Usage {
  count: number;
  lastAt: Date;
  lastIp: string | undefined;
}

/** Last-used time, ip and count per token, gathered in memory and written once a second (no event per request). */
@Injectable()
export class TokenUsageTracker implements OnModuleInit, OnApplicationShutdown {
  private pending = new Map<string, Usage>();
  private timer: NodeJS.Timeout | null = null;
  private readonly logger = new Logger('token-usage');

  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.flush(), 1000);
    this.timer.unref();
  }

  record(tokenId: string, ip: string | undefined, at = new Date()): void {
    const usage = this.pending.get(tokenId);
    if (usage) {
      usage.count++;
      usage.lastAt = at;
      usage.lastIp = ip;
    } else this.pending.set(tokenId, { count: 1, lastAt: at, lastIp: ip });
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const ids = [...batch.keys()];
    const values = [...batch.values()];
    try {
      await this.pool.query(
        `INSERT INTO application_token_usage (token_id, last_used_at, last_used_ip, use_count)
         SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::bigint[])
         ON CONFLICT (token_id) DO UPDATE SET
           use_count = application_token_usage.use_count + excluded.use_count,
           last_used_at = greatest(application_token_usage.last_used_at, excluded.last_used_at),
           last_used_ip = CASE WHEN excluded.last_used_at >= application_token_usage.last_used_at
                               THEN excluded.last_used_ip ELSE application_token_usage.last_used_ip END`,
        [ids, values.map((v) => v.lastAt), values.map((v) => v.lastIp ?? null), values.map((v) => v.count)],
      );
    } catch (error) {
      this.logger.warn({ err: error }, 'token usage flush failed; counts kept for the next flush');
      for (const [id, usage] of batch) {
        const now = this.pending.get(id);
        if (now) now.count += usage.count;
        else this.pending.set(id, usage);
      }
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }
}
