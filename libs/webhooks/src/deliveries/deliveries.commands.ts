import { type CommandContext, ConflictError, fold, NotFoundError, toDomainEvent } from '@app/core';
import type { Pool } from '@app/database';
import { EVENT_STORE, type EventStore, WrongExpectedVersionError } from '@app/event-store';
import { CommandExecutor, PG_POOL } from '@app/platform';
import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { endpointDecider, type EndpointEvent, endpointStreamId } from '../endpoints/endpoint.decider.js';
import { derivedUuid, scheduledEventIdFor } from './delivery-ids.js';
import { deliveryDecider, type DeliveryEvent, deliveryStreamId, type ScheduledData } from './delivery.decider.js';

export class RedeliverCommand extends Command<void> {
  constructor(readonly deliveryId: string, readonly ctx: CommandContext) {
    super();
  }
}

@CommandHandler(RedeliverCommand)
export class RedeliverHandler implements ICommandHandler<RedeliverCommand> {
  constructor(private readonly executor: CommandExecutor, @Inject(EVENT_STORE) private readonly store: EventStore, @Inject(PG_POOL) private readonly pool: Pool) {}

  async execute({ deliveryId, ctx }: RedeliverCommand) {
    const stream = deliveryStreamId(deliveryId);
    const delivery = fold(deliveryDecider, (await this.store.readStream(stream)).map(toDomainEvent) as DeliveryEvent[]);
    let batched: ScheduledData & { attempts: number; completedAt: string } | null = null;
    if (delivery.status === 'none') {
      // Not attempted yet: only its queue row exists (its stream starts with the first outcome).
      const queued = await this.pool.query(`SELECT 1 FROM webhook_queue WHERE delivery_id = $1 AND revision < 0 AND status = 'pending'`, [deliveryId]);
      if (queued.rowCount) throw new ConflictError('the delivery is still pending; it is sent again on its next attempt', 'DELIVERY_PENDING');
      batched = await this.batched(deliveryId);
    }
    const endpointId = delivery.status === 'none' ? batched!.endpointId : delivery.endpointId;
    const endpoint = fold(endpointDecider, (await this.store.readStream(endpointStreamId(endpointId))).map(toDomainEvent) as EndpointEvent[]);
    if (endpoint.status === 'none' || endpoint.status === 'deleted') throw new NotFoundError('the delivery\'s webhook endpoint was deleted', 'WEBHOOK_NOT_FOUND');
    if (endpoint.status === 'disabled') throw new ConflictError('the endpoint is disabled; enable it before redelivering', 'WEBHOOK_DISABLED');
    if (batched) await this.copyToStream(batched, ctx);
    await this.executor.execute(deliveryDecider, stream, { type: 'RequestRedelivery', now: ctx.now }, ctx);
  }

  /**
   * A delivery that succeeded at its first attempt is recorded in a batch event (delivery-batch.ts) and has no
   * stream of its own: what the read model folded from that record, or 404.
   */
  private async batched(deliveryId: string) {
    const { rows } = await this.pool.query(
      `SELECT endpoint_id, message_id, source_event_id, replay_id, test, payload, attempts, to_json(created_at) #>> '{}' AS created_at, to_json(completed_at) #>> '{}' AS completed_at
       FROM webhook_deliveries WHERE delivery_id = $1 AND status = 'succeeded'`,
      [deliveryId],
    );
    const row = rows[0];
    if (!row) throw new NotFoundError(`delivery ${deliveryId} not found`, 'DELIVERY_NOT_FOUND');
    return {
      deliveryId, endpointId: row.endpoint_id as string, messageId: row.message_id as string, sourceEventId: row.source_event_id, replayId: row.replay_id, test: row.test as boolean,
      payload: row.payload, scheduledAt: row.created_at as string, attempts: row.attempts as number, completedAt: row.completed_at as string,
    };
  }

  /**
   * Starts a batched delivery's stream from its record before its redelivery is appended there: Scheduled and
   * Succeeded, with ids derived from the delivery id (a repeat, or a concurrent copy, appends nothing new).
   */
  private async copyToStream({ attempts, completedAt, ...scheduled }: ScheduledData & { attempts: number; completedAt: string }, ctx: CommandContext) {
    const { deliveryId, endpointId } = scheduled;
    const metadata = { actor: ctx.actor, correlationId: ctx.correlationId, causationId: deliveryId };
    const events = [
      { id: scheduledEventIdFor(deliveryId), type: 'WebhookDeliveryScheduled', data: scheduled, metadata },
      { id: derivedUuid('webhook-batch-copy', deliveryId), type: 'WebhookDeliverySucceeded', data: { deliveryId, endpointId, attempt: attempts, at: completedAt }, metadata },
    ];
    try {
      await this.store.appendToStream(deliveryStreamId(deliveryId), events, { expectedRevision: 'no_stream' });
    } catch (error) {
      if (!(error instanceof WrongExpectedVersionError)) throw error;
    }
  }
}
