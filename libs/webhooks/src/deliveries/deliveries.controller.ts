import { RequirePermission } from '@app/auth';
import { type CommandContext, NotFoundError } from '@app/core';
import { Ctx } from '@app/http';
import { Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { RedeliverCommand } from './deliveries.commands.js';
import { GetDeliveryQuery } from './deliveries.queries.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function checkId(id: string): string {
  if (!UUID.test(id)) throw new NotFoundError(`delivery ${id.slice(0, 64)} not found`, 'DELIVERY_NOT_FOUND');
  return id;
}

@ApiTags('webhooks')
@ApiBearerAuth()
@Controller('webhooks/deliveries')
export class DeliveriesController {
  constructor(private readonly commands: CommandBus, private readonly queries: QueryBus) {}

  @Get(':id')
  @RequirePermission('webhooks:read')
  @ApiOkResponse({ description: 'A delivery: status, payload, every attempt (time, status code, duration, truncated response or error), next attempt.' })
  get(@Param('id') id: string) {
    return this.queries.execute(new GetDeliveryQuery(checkId(id)));
  }

  @Post(':id/redeliver')
  @RequirePermission('webhooks:manage')
  @HttpCode(202)
  @ApiAcceptedResponse({ description: 'Sends a settled delivery again (same webhook-id), with the endpoint\'s retry policy.' })
  async redeliver(@Param('id') id: string, @Ctx() ctx: CommandContext) {
    await this.commands.execute(new RedeliverCommand(checkId(id), ctx));
    return this.queries.execute(new GetDeliveryQuery(id));
  }
}
