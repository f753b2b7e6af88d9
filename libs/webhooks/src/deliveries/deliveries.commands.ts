import { type CommandContext, ConflictError, fold, NotFoundError, toDomainEvent } from '@app/core';
import type { Pool } from '@app/database';
import { EVENT_STORE, type EventStore } from '@app/event-store';
import { CommandExecutor, PG_POOL } from '@app/platform';
import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { endpointDecider, type EndpointEvent, endpointStreamId } from '../endpoints/endpoint.decider.js';
import { deliveryDecider, type DeliveryEvent, deliveryStreamId } from './delivery.decider.js';

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
    if (delivery.status === 'none') {
      // Not attempted yet: only its queue row exists (its stream starts with the first outcome).
      const queued = await this.pool.query('SELECT 1 FROM webhook_queue WHERE delivery_id = $1 AND revision < 0', [deliveryId]);
      if (queued.rowCount) throw new ConflictError('the delivery is still pending; it is sent again on its next attempt', 'DELIVERY_PENDING');
      throw new NotFoundError(`delivery ${deliveryId} not found`, 'DELIVERY_NOT_FOUND');
    }
    const endpoint = fold(endpointDecider, (await this.store.readStream(endpointStreamId(delivery.endpointId))).map(toDomainEvent) as EndpointEvent[]);
    if (endpoint.status === 'none' || endpoint.status === 'deleted') throw new NotFoundError('the delivery\'s webhook endpoint was deleted', 'WEBHOOK_NOT_FOUND');
    if (endpoint.status === 'disabled') throw new ConflictError('the endpoint is disabled; enable it before redelivering', 'WEBHOOK_DISABLED');
    await this.executor.execute(deliveryDecider, stream, { type: 'RequestRedelivery', now: ctx.now }, ctx);
  }
}
