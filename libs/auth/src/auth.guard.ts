import { ForbiddenError, UnauthorizedError } from '@app/core';
import type { AuthedRequest } from '@app/http';
import { APP_CONFIG, type EnvConfig } from '@app/config';
import { type CanActivate, type ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { can, type Permission } from './permissions.js';
import { RateLimiter } from './rate-limiter.js';
import { TokenUsageTracker } from './tokens/token-usage.js';
import { TokenVerifier } from './tokens/token-verifier.js';

const PERMISSION_KEY = 'opsledger:permission';
const PUBLIC_KEY = 'opsledger:public';

/** The permission an endpoint needs (checked against role and scopes; resource patterns are checked in the handler). */
export const RequirePermission = (permission: Permission) => SetMetadata(PERMISSION_KEY, permission);
/** No token needed (health, docs, login). */
export const Public = () => SetMetadata(PUBLIC_KEY, true);

function bearer(request: AuthedRequest): string | null {
  const header = request.headers.authorization;
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : null;
}

/** Global guard: 401 without a valid token, 403 without the endpoint's permission. Deny by default. */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly limiter: RateLimiter;

  constructor(
    private readonly reflector: Reflector,
    private readonly verifier: TokenVerifier,
    private readonly usage: TokenUsageTracker,
    @Inject(APP_CONFIG) config: EnvConfig,
  ) {
    this.limiter = new RateLimiter(config.OPSLEDGER_RATE_LIMIT_PER_MINUTE);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const request = context.switchToHttp().getRequest<AuthedRequest>();
    const secret = bearer(request);
    // Requests without a valid token are limited per client ip, so guessing costs the guesser.
    if (!secret) this.limiter.hit(`ip:${request.ip}`);
    if (!secret) throw new UnauthorizedError('send a token as Authorization: Bearer <token>', 'TOKEN_MISSING');
    const principal = await this.verifier.verify(secret);
    if (!principal) this.limiter.hit(`ip:${request.ip}`);
    if (!principal) throw new UnauthorizedError('the token is not valid (unknown, expired, rotated or revoked)', 'TOKEN_INVALID');
    request.principal = principal;
    // Per token, not per ip: many CI runners share addresses, and one token's burst must not starve others.
    this.limiter.hit(`token:${principal.tokenId ?? principal.actor.id}`);
    if (principal.tokenId) this.usage.record(principal.tokenId, request.ip);
    const permission = this.reflector.getAllAndOverride<Permission | undefined>(PERMISSION_KEY, targets);
    if (!permission) throw new ForbiddenError('this endpoint declares no permission', 'FORBIDDEN');
    if (!can(principal, permission)) throw new ForbiddenError(`the token lacks the permission ${permission}`, 'INSUFFICIENT_SCOPE');
    return true;
  }
}

/** For handlers: 403 unless the principal may act on this resource (path-scoped tokens). */
export function assertCan(principal: AuthedRequest['principal'], permission: Permission, resource: string): void {
  if (!principal || !can(principal, permission, resource)) {
    throw new ForbiddenError(`the token lacks the permission ${permission} for ${resource}`, 'INSUFFICIENT_SCOPE');
  }
}
