import { handleCommand, NotFoundError, systemContext } from '@app/core';
import type { Pool } from '@app/database';
import type { EventStore } from '@app/event-store';
import type { Logger } from '@nestjs/common';
import { type DisableReason, endpointDecider, endpointStreamId } from '../endpoints/endpoint.decider.js';
import type { RegisteredEndpoint } from './endpoint-registry.js';

/**
 * Auto-disable: failing_since is the first failure after the last success, kept in PostgreSQL so a restart
 * or another process manager continues the count; an endpoint failing for longer than the configured time
 * is disabled (as is one that answered 410). Successes write only when they end a failing streak.
 */
export class EndpointHealth {
  private readonly failing = new Map<string, boolean>();

  constructor(
    private readonly pool: Pool,
    private readonly store: EventStore,
    private readonly logger: Logger,
    private readonly autoDisableAfterMs: number,
  ) {}

  async noteOutcome(endpoint: RegisteredEndpoint, success: boolean, at: Date): Promise<void> {
    if (success) {
      if (this.failing.get(endpoint.id) === false) return;
      await this.pool.query('UPDATE webhook_endpoint_failures SET failing_since = NULL WHERE endpoint_id = $1', [endpoint.id]);
      this.failing.set(endpoint.id, false);
      return;
    }
    const { rows } = await this.pool.query<{ failing_since: Date }>(
      `INSERT INTO webhook_endpoint_failures (endpoint_id, failing_since) VALUES ($1, $2)
       ON CONFLICT (endpoint_id) DO UPDATE SET failing_since = coalesce(webhook_endpoint_failures.failing_since, excluded.failing_since)
       RETURNING failing_since`,
      [endpoint.id, at],
    );
    this.failing.set(endpoint.id, true);
    const since = Math.max(rows[0].failing_since.getTime(), endpoint.enabledAt);
    if (at.getTime() - since >= this.autoDisableAfterMs) {
      await this.disable(endpoint.id, 'failing', `every attempt failed since ${new Date(since).toISOString()}`);
    }
  }

  async disable(endpointId: string, reason: DisableReason, detail: string): Promise<void> {
    try {
      const result = await handleCommand(this.store, endpointDecider, endpointStreamId(endpointId), { type: 'DisableEndpoint', reason, detail, now: new Date() }, systemContext('webhook-dispatcher'));
      if (result.events.length) {
        this.logger.warn({ endpointId, reason, detail, msg: 'webhook endpoint disabled' });
        await this.pool.query('UPDATE webhook_endpoint_failures SET failing_since = NULL WHERE endpoint_id = $1', [endpointId]);
        this.failing.delete(endpointId);
      }
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
  }
}
