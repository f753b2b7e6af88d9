import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthGuard } from './auth.guard.js';
import { OwnerTokenBootstrap } from './tokens/owner-bootstrap.js';
import { CreateTokenHandler, RevokeTokenHandler, RotateTokenHandler } from './tokens/tokens.commands.js';
import { TokensController } from './tokens/tokens.controller.js';
import { GetTokenHandler, ListTokensHandler } from './tokens/tokens.queries.js';
import { TokenUsageTracker } from './tokens/token-usage.js';
import { TokenVerifier } from './tokens/token-verifier.js';

@Module({
  controllers: [TokensController],
  providers: [
    TokenVerifier,
    TokenUsageTracker,
    OwnerTokenBootstrap,
    CreateTokenHandler,
    RotateTokenHandler,
    RevokeTokenHandler,
    GetTokenHandler,
    ListTokensHandler,
    { provide: APP_GUARD, useClass: AuthGuard },
  ],
  exports: [TokenVerifier, OwnerTokenBootstrap],
})
export class AuthModule {}
