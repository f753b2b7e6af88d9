import type { CommandContext } from '@app/core';
import type { JsonValue } from '@app/event-store';
import { CommandExecutor } from '@app/platform';
import { Inject } from '@nestjs/common';
import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { ulid } from 'ulid';
import { testDeliveryIdFor } from '../deliveries/delivery-ids.js';
import type { WebhookAllowlist } from '../security/address-guard.js';
import type { SecretBox } from '../security/secret-box.js';
import { generateSigningSecret } from '../security/signing.js';
import { SECRET_BOX, WEBHOOK_ALLOWLIST } from '../webhooks.providers.js';
import { buildDefinition, type DefinitionInput } from './definition.js';
import { endpointDecider, type EndpointState, endpointStreamId } from './endpoint.decider.js';

export const DEFAULT_SECRET_OVERLAP_SECONDS = 86_400;

export class CreateWebhookCommand extends Command<{ endpointId: string; secret: string }> {
  constructor(readonly input: DefinitionInput & { enabled: boolean }, readonly ctx: CommandContext) {
    super();
  }
}

export class UpdateWebhookCommand extends Command<void> {
  constructor(readonly endpointId: string, readonly input: DefinitionInput & { enabled?: boolean }, readonly ctx: CommandContext) {
    super();
  }
}

export class RotateWebhookSecretCommand extends Command<{ secret: string; previousSecretExpiresAt: string }> {
  constructor(readonly endpointId: string, readonly overlapSeconds: number, readonly ctx: CommandContext) {
    super();
  }
}

export class DeleteWebhookCommand extends Command<void> {
  constructor(readonly endpointId: string, readonly ctx: CommandContext) {
    super();
  }
}

export class TestWebhookCommand extends Command<{ deliveryId: string }> {
  constructor(readonly endpointId: string, readonly data: JsonValue, readonly ctx: CommandContext) {
    super();
  }
}

export class ReplayWebhookCommand extends Command<{ replayId: string; since: string; until: string }> {
  constructor(readonly endpointId: string, readonly since: Date, readonly until: Date, readonly ctx: CommandContext) {
    super();
  }
}

@CommandHandler(CreateWebhookCommand)
export class CreateWebhookHandler implements ICommandHandler<CreateWebhookCommand> {
  constructor(
    private readonly executor: CommandExecutor,
    @Inject(SECRET_BOX) private readonly box: SecretBox,
    @Inject(WEBHOOK_ALLOWLIST) private readonly allowlist: WebhookAllowlist,
  ) {}

  async execute({ input, ctx }: CreateWebhookCommand) {
    const definition = buildDefinition(input, null, this.allowlist);
    const endpointId = ulid().toLowerCase();
    const secret = generateSigningSecret();
    await this.executor.execute(
      endpointDecider,
      endpointStreamId(endpointId),
      { type: 'CreateEndpoint', endpointId, definition, enabled: input.enabled, secret: this.box.seal(secret, endpointId), now: ctx.now },
      ctx,
      { expectedRevision: 'no_stream' },
    );
    return { endpointId, secret };
  }
}

@CommandHandler(UpdateWebhookCommand)
export class UpdateWebhookHandler implements ICommandHandler<UpdateWebhookCommand> {
  constructor(private readonly executor: CommandExecutor, @Inject(WEBHOOK_ALLOWLIST) private readonly allowlist: WebhookAllowlist) {}

  async execute({ endpointId, input, ctx }: UpdateWebhookCommand) {
    const { enabled, ...changes } = input;
    const changesDefinition = Object.values(changes).some((v) => v !== undefined);
    // The definition is rebuilt on the state the decider sees, so a concurrent update is never overwritten with stale fields.
    const decider = {
      ...endpointDecider,
      decide: (command: Parameters<typeof endpointDecider.decide>[0], state: EndpointState) =>
        endpointDecider.decide(
          command.type === 'UpdateEndpoint' && changesDefinition && state.status !== 'none' && state.status !== 'deleted'
            ? { ...command, definition: buildDefinition(changes, state.definition, this.allowlist) }
            : command,
          state,
        ),
    };
    await this.executor.execute(decider, endpointStreamId(endpointId), { type: 'UpdateEndpoint', enabled, now: ctx.now }, ctx);
  }
}

@CommandHandler(RotateWebhookSecretCommand)
export class RotateWebhookSecretHandler implements ICommandHandler<RotateWebhookSecretCommand> {
  constructor(private readonly executor: CommandExecutor, @Inject(SECRET_BOX) private readonly box: SecretBox) {}

  async execute({ endpointId, overlapSeconds, ctx }: RotateWebhookSecretCommand) {
    const secret = generateSigningSecret();
    const result = await this.executor.execute(
      endpointDecider,
      endpointStreamId(endpointId),
      { type: 'RotateSecret', secret: this.box.seal(secret, endpointId), overlapSeconds, now: ctx.now },
      ctx,
    );
    const rotated = result.events[0];
    return { secret, previousSecretExpiresAt: rotated.type === 'WebhookEndpointSecretRotated' ? rotated.data.previousSecretExpiresAt : ctx.now.toISOString() };
  }
}

@CommandHandler(DeleteWebhookCommand)
export class DeleteWebhookHandler implements ICommandHandler<DeleteWebhookCommand> {
  constructor(private readonly executor: CommandExecutor) {}

  async execute({ endpointId, ctx }: DeleteWebhookCommand) {
    await this.executor.execute(endpointDecider, endpointStreamId(endpointId), { type: 'DeleteEndpoint', now: ctx.now }, ctx);
  }
}

@CommandHandler(TestWebhookCommand)
export class TestWebhookHandler implements ICommandHandler<TestWebhookCommand> {
  constructor(private readonly executor: CommandExecutor) {}

  async execute({ endpointId, data, ctx }: TestWebhookCommand) {
    const testId = ulid().toLowerCase();
    await this.executor.execute(endpointDecider, endpointStreamId(endpointId), { type: 'RequestTest', testId, data, now: ctx.now }, ctx);
    return { deliveryId: testDeliveryIdFor(testId, endpointId) };
  }
}

@CommandHandler(ReplayWebhookCommand)
export class ReplayWebhookHandler implements ICommandHandler<ReplayWebhookCommand> {
  constructor(private readonly executor: CommandExecutor) {}

  async execute({ endpointId, since, until, ctx }: ReplayWebhookCommand) {
    const replayId = ulid().toLowerCase();
    await this.executor.execute(endpointDecider, endpointStreamId(endpointId), { type: 'RequestReplay', replayId, since, until, now: ctx.now }, ctx);
    return { replayId, since: since.toISOString(), until: until.toISOString() };
  }
}
