import type { CommandContext } from '@app/core';
import { CommandExecutor } from '@app/platform';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { taskDecider } from '../domain/task.decider.js';
import { taskStreamId } from '../domain/task-ids.js';

/** Pending: cancelled at once. Running: the worker's handler gets an aborted signal and the task ends cancelled. */
export class CancelTaskCommand extends Command<void> {
  constructor(readonly operationId: string, readonly reason: string | null, readonly ctx: CommandContext) {
    super();
  }
}

export class StopRecurrenceCommand extends Command<void> {
  constructor(readonly operationId: string, readonly ctx: CommandContext) {
    super();
  }
}

@CommandHandler(CancelTaskCommand)
export class CancelTaskHandler implements ICommandHandler<CancelTaskCommand> {
  constructor(private readonly executor: CommandExecutor) {}

  async execute({ operationId, reason, ctx }: CancelTaskCommand): Promise<void> {
    await this.executor.execute(taskDecider, taskStreamId(operationId), { type: 'RequestCancel', reason, now: ctx.now }, ctx);
  }
}

@CommandHandler(StopRecurrenceCommand)
export class StopRecurrenceHandler implements ICommandHandler<StopRecurrenceCommand> {
  constructor(private readonly executor: CommandExecutor) {}

  async execute({ operationId, ctx }: StopRecurrenceCommand): Promise<void> {
    await this.executor.execute(taskDecider, taskStreamId(operationId), { type: 'StopRecurrence', now: ctx.now }, ctx);
  }
}
