import { assertCan, type Permission, RequirePermission } from '@app/auth';
import { type CommandContext, NotFoundError } from '@app/core';
import { Ctx, CurrentPrincipal, type Principal } from '@app/http';
import { Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { RedeliverCommand } from './deliveries.commands.js';
import { GetWebhookQuery } from '../endpoints/webhooks.queries.js';
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

  /** A delivery is read or redelivered under its endpoint's name (scopes with a pattern). */
  private async authorized(principal: Principal, permission: Permission, id: string) {
    const delivery = await this.queries.execute(new GetDeliveryQuery(checkId(id)));
    const endpoint = await this.queries.execute(new GetWebhookQuery(delivery.endpointId, true));
    assertCan(principal, permission, endpoint.name);
    return delivery;
  }

  @Get(':id')
  @RequirePermission('webhooks:read')
  @ApiOkResponse({ description: 'A delivery: status, payload, every attempt (time, status code, duration, truncated response or error), next attempt.' })
  get(@Param('id') id: string, @CurrentPrincipal() principal: Principal) {
    return this.authorized(principal, 'webhooks:read', id);
  }

  @Post(':id/redeliver')
  @RequirePermission('webhooks:manage')
  @HttpCode(202)
  @ApiAcceptedResponse({ description: 'Sends a settled delivery again (same webhook-id), with the endpoint\'s retry policy.' })
  async redeliver(@Param('id') id: string, @CurrentPrincipal() principal: Principal, @Ctx() ctx: CommandContext) {
    await this.authorized(principal, 'webhooks:manage', id);
    await this.commands.execute(new RedeliverCommand(id, ctx));
    return this.queries.execute(new GetDeliveryQuery(id));
  }
}
