import { handleCommand, systemContext } from '@app/core';
import type { Pool } from '@app/database';
import { EVENT_STORE, type EventStore, WrongExpectedVersionError } from '@app/event-store';
import { PG_POOL } from '@app/platform';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { keyValueDecider, kvStreamId } from './kv.decider.js';

/**
 * Process manager: records KeyValueExpired for entries whose TTL has passed. The append expects the
 * revision the read model saw, so a concurrent write or another instance's expiry wins cleanly.
 */
@Injectable()
export class KeyValueExpiryWorker implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('kv-expiry');
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(EVENT_STORE) private readonly store: EventStore,
  ) {}

  onApplicationBootstrap(): void {
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.sweep()
        .then((count) => this.schedule(count === 500 ? 0 : 1000))
        .catch((error) => {
          this.logger.warn({ err: error }, 'expiry sweep failed');
          this.schedule(2000);
        });
    }, delayMs);
  }

  /** Expires up to 500 due entries; returns how many it looked at. */
  async sweep(now = new Date()): Promise<number> {
    const { rows } = await this.pool.query<{ key: string; version: string }>(
      'SELECT key, version FROM kv_entries WHERE expires_at <= $1 ORDER BY expires_at LIMIT 500',
      [now],
    );
    for (const row of rows) {
      if (this.stopped) break;
      try {
        await handleCommand(this.store, keyValueDecider, kvStreamId(row.key), { type: 'ExpireEntry', key: row.key, now }, systemContext('kv-expiry'), {
          expectedRevision: BigInt(row.version) - 1n,
        });
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError)) throw error;
      }
    }
    return rows.length;
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }
}
