import type { CommandContext } from '@app/core';
import type { Actor } from '@app/event-store';
import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

/** What the auth guard attaches to a request. */
export interface Principal {
  actor: Actor;
  role: 'owner' | 'member' | 'application';
  /** Empty: the role's full permissions; otherwise each permission must also match a scope. */
  scopes: readonly string[];
  tokenId?: string;
}

export type AuthedRequest = FastifyRequest & { principal?: Principal };

const CORRELATION = /^[\w.:-]{1,128}$/;

export function contextFromRequest(request: AuthedRequest): CommandContext {
  const header = request.headers['x-correlation-id'];
  const correlation = typeof header === 'string' && CORRELATION.test(header) ? header : request.id;
  return {
    actor: request.principal?.actor ?? { kind: 'system', id: 'anonymous' },
    correlationId: correlation,
    causationId: request.id,
    requestId: request.id,
    ip: request.ip,
    now: new Date(),
  };
}

/** The command context of the current request (actor, correlation, request id, ip, time). */
export const Ctx = createParamDecorator((_data: unknown, ctx: ExecutionContext): CommandContext =>
  contextFromRequest(ctx.switchToHttp().getRequest<AuthedRequest>()),
);

export const CurrentPrincipal = createParamDecorator((_data: unknown, ctx: ExecutionContext): Principal | undefined =>
  ctx.switchToHttp().getRequest<AuthedRequest>().principal,
);
