import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

/** The wildcard tail of the URL (a path, slashes included); OpenAPI documents it as `{path}` through @ApiParam. */
export const WildcardPath = createParamDecorator((_data: unknown, ctx: ExecutionContext): string => {
  const params = ctx.switchToHttp().getRequest<FastifyRequest>().params as Record<string, string | undefined>;
  return params['*'] ?? '';
});
