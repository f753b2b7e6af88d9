import { type CommandContext, type Decider, ValidationError } from '@app/core';
import type { JsonValue } from '@app/event-store';
import { CommandExecutor } from '@app/platform';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { ulid } from 'ulid';
import { type CustomEvent, customEventStreamId, RESERVED_EVENT_PREFIXES } from './webhook-external-events.js';

type TriggerCommand = { type: 'TriggerCustomEvent'; eventType: string; data: JsonValue };

const customEventDecider: Decider<TriggerCommand, { triggered: boolean }, CustomEvent> = {
  initialState: () => ({ triggered: false }),
  decide(command, state) {
    if (state.triggered) return [];
    if (RESERVED_EVENT_PREFIXES.some((p) => command.eventType.startsWith(p))) {
      throw new ValidationError(`custom event types cannot start with ${RESERVED_EVENT_PREFIXES.join(', ')}`, { field: 'type' }, 'RESERVED_EVENT_TYPE');
    }
    return [{ type: 'WebhookCustomEventTriggered', data: { type: command.eventType, data: command.data } }];
  },
  evolve: () => ({ triggered: true }),
};

export class TriggerEventCommand extends Command<{ eventId: string; type: string }> {
  constructor(readonly eventType: string, readonly data: JsonValue, readonly ctx: CommandContext) {
    super();
  }
}

@CommandHandler(TriggerEventCommand)
export class TriggerEventHandler implements ICommandHandler<TriggerEventCommand> {
  constructor(private readonly executor: CommandExecutor) {}

  async execute({ eventType, data, ctx }: TriggerEventCommand) {
    const eventId = ulid().toLowerCase();
    await this.executor.execute(customEventDecider, customEventStreamId(eventId), { type: 'TriggerCustomEvent', eventType, data }, ctx, { expectedRevision: 'no_stream' });
    return { eventId, type: eventType };
  }
}
