import { type CommandContext, type Decider, type DomainEvent, handleCommand, type HandleOptions, type HandleResult } from '@app/core';
import { APP_CONFIG, type EnvConfig } from '@app/config';
import { EVENT_STORE, type EventStore } from '@app/event-store';
import { ProjectionPositions, ProjectionRunner } from '@app/projections';
import { Inject, Injectable } from '@nestjs/common';

export interface ExecuteResult<State, Event> extends HandleResult<State, Event> {
  /** False when the read models did not catch up within the consistency timeout. */
  consistent: boolean;
}

/** Runs a decider command and waits until the read models it touches reflect the write. */
@Injectable()
export class CommandExecutor {
  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(APP_CONFIG) private readonly config: EnvConfig,
    private readonly positions: ProjectionPositions,
    private readonly runner: ProjectionRunner,
  ) {}

  async execute<Command, State, Event extends DomainEvent>(
    decider: Decider<Command, State, Event>,
    streamId: string,
    command: Command,
    ctx: CommandContext,
    options: HandleOptions = {},
  ): Promise<ExecuteResult<State, Event>> {
    const result = await handleCommand(this.store, decider, streamId, command, ctx, options);
    const consistent = result.position
      ? await this.positions.waitFor(this.runner.namesFor(result.events.map((e) => e.type)), result.position, this.config.OPSLEDGER_CONSISTENCY_TIMEOUT_MS)
      : true;
    return { ...result, consistent };
  }
}
