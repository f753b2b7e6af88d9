import type { CommandContext } from '@app/core';
import { CommandExecutor } from '@app/platform';
import { CommandHandler, type ICommandHandler, Command } from '@nestjs/cqrs';
import { ulid } from 'ulid';
import type { Role } from '../permissions.js';
import { tokenDecider, tokenStreamId } from './token.decider.js';
import { generateTokenSecret, hashTokenSecret } from './token-secret.js';
import { TokenVerifier } from './token-verifier.js';

const DAY_MS = 86_400_000;

export class CreateTokenCommand extends Command<{ tokenId: string; secret: string }> {
  constructor(
    readonly input: { name: string; role: Role; scopes: string[]; expiresInDays: number | null; tokenId?: string; secret?: string },
    readonly ctx: CommandContext,
  ) {
    super();
  }
}

export class RotateTokenCommand extends Command<{ secret: string }> {
  constructor(readonly tokenId: string, readonly gracePeriodSeconds: number, readonly expiresInDays: number | undefined, readonly ctx: CommandContext) {
    super();
  }
}

export class RevokeTokenCommand extends Command<void> {
  constructor(readonly tokenId: string, readonly ctx: CommandContext) {
    super();
  }
}

@CommandHandler(CreateTokenCommand)
export class CreateTokenHandler implements ICommandHandler<CreateTokenCommand> {
  constructor(private readonly executor: CommandExecutor) {}

  async execute({ input, ctx }: CreateTokenCommand) {
    const tokenId = input.tokenId ?? ulid().toLowerCase();
    const secret = input.secret ?? generateTokenSecret();
    const expiresAt = input.expiresInDays === null ? null : new Date(ctx.now.getTime() + input.expiresInDays * DAY_MS);
    await this.executor.execute(
      tokenDecider,
      tokenStreamId(tokenId),
      { type: 'CreateToken', tokenId, name: input.name, role: input.role, scopes: input.scopes, expiresAt, secretHash: hashTokenSecret(secret), now: ctx.now },
      ctx,
      { expectedRevision: 'no_stream' },
    );
    return { tokenId, secret };
  }
}

@CommandHandler(RotateTokenCommand)
export class RotateTokenHandler implements ICommandHandler<RotateTokenCommand> {
  constructor(private readonly executor: CommandExecutor, private readonly verifier: TokenVerifier) {}

  async execute({ tokenId, gracePeriodSeconds, expiresInDays, ctx }: RotateTokenCommand) {
    const secret = generateTokenSecret();
    const expiresAt = expiresInDays === undefined ? undefined : new Date(ctx.now.getTime() + expiresInDays * DAY_MS);
    await this.executor.execute(
      tokenDecider,
      tokenStreamId(tokenId),
      { type: 'RotateToken', secretHash: hashTokenSecret(secret), graceSeconds: gracePeriodSeconds, expiresAt, now: ctx.now },
      ctx,
    );
    // This node forgets the old secret at once; other nodes follow the token events (TokenVerifier).
    this.verifier.forget(tokenId);
    return { secret };
  }
}

@CommandHandler(RevokeTokenCommand)
export class RevokeTokenHandler implements ICommandHandler<RevokeTokenCommand> {
  constructor(private readonly executor: CommandExecutor, private readonly verifier: TokenVerifier) {}

  async execute({ tokenId, ctx }: RevokeTokenCommand) {
    await this.executor.execute(tokenDecider, tokenStreamId(tokenId), { type: 'RevokeToken', now: ctx.now }, ctx);
    this.verifier.forget(tokenId);
  }
}
