import { RequirePermission } from '@app/auth';
import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { type ApiMetrics, METRICS } from './metrics.js';

@ApiTags('operations')
@ApiBearerAuth()
@Controller('metrics')
export class MetricsController {
  constructor(@Inject(METRICS) private readonly metrics: ApiMetrics) {}

  /** Prometheus text format; scrape with a token that has `metrics:read` (members do). */
  @Get()
  @RequirePermission('metrics:read')
  @ApiOkResponse({ description: 'Prometheus exposition format (text/plain; version=0.0.4)' })
  async scrape(@Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    void reply.header('content-type', this.metrics.registry.contentType);
    return this.metrics.registry.metrics();
  }
}
