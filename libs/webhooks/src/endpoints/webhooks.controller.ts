import { assertCan, type Permission, RequirePermission, resourcePatterns } from '@app/auth';
import { type CommandContext, NotFoundError, ValidationError } from '@app/core';
import type { JsonValue } from '@app/event-store';
import { Ctx, CurrentPrincipal, type Principal } from '@app/http';
import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiAcceptedResponse, ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { TriggerEventCommand } from '../custom-events.js';
import { ListDeliveriesQuery } from '../deliveries/deliveries.queries.js';
import { CreateWebhookDto, ListDeliveriesQueryDto, ListWebhooksQueryDto, ReplayDto, RotateSecretDto, TestWebhookDto, TriggerEventDto, UpdateWebhookDto } from './webhooks.dto.js';
import {
  CreateWebhookCommand,
  DEFAULT_SECRET_OVERLAP_SECONDS,
  DeleteWebhookCommand,
  ReplayWebhookCommand,
  RotateWebhookSecretCommand,
  TestWebhookCommand,
  UpdateWebhookCommand,
} from './webhooks.commands.js';
import { GetWebhookQuery, ListWebhooksQuery, type WebhookView } from './webhooks.queries.js';

const ENDPOINT_ID = /^[0-9a-z]{26}$/;

function checkId(id: string): string {
  if (!ENDPOINT_ID.test(id)) throw new NotFoundError(`webhook endpoint ${id.slice(0, 64)} not found`, 'WEBHOOK_NOT_FOUND');
  return id;
}

/** Any JSON up to 64 KiB (custom event and test data). */
function jsonData(value: unknown, field: string): JsonValue {
  const data = value === undefined ? null : (value as JsonValue);
  if (Buffer.byteLength(JSON.stringify(data)) > 65_536) throw new ValidationError(`${field} is larger than 64 KiB`, { field }, 'DATA_TOO_LARGE');
  return data;
}

/**
 * Scopes with a pattern (`webhooks:manage:ci-*`, `webhooks:read:deploy*`) apply to endpoint names; a custom
 * event's type is the resource of `webhooks:trigger`.
 */
@ApiTags('webhooks')
@ApiBearerAuth()
@Controller('webhooks')
export class WebhooksController {
  constructor(private readonly commands: CommandBus, private readonly queries: QueryBus) {}

  /** The endpoint, once the principal may act on it (403 otherwise). */
  private async authorized(principal: Principal, permission: Permission, id: string, includeDeleted = false): Promise<WebhookView> {
    const view = await this.queries.execute(new GetWebhookQuery(checkId(id), includeDeleted));
    assertCan(principal, permission, view.name);
    return view;
  }

  @Post()
  @RequirePermission('webhooks:manage')
  @ApiCreatedResponse({ description: 'The endpoint with its signing secret (whsec_…), shown only here.' })
  async create(@Body() body: CreateWebhookDto, @CurrentPrincipal() principal: Principal, @Ctx() ctx: CommandContext) {
    assertCan(principal, 'webhooks:manage', body.name);
    const { status, ...definition } = body;
    const { endpointId, secret } = await this.commands.execute(new CreateWebhookCommand({ ...definition, enabled: status !== 'disabled' }, ctx));
    return { ...(await this.queries.execute(new GetWebhookQuery(endpointId))), secret };
  }

  @Get()
  @RequirePermission('webhooks:read')
  @ApiOkResponse({ description: '{ items: Webhook[], nextCursor }' })
  list(@Query() query: ListWebhooksQueryDto, @CurrentPrincipal() principal: Principal) {
    return this.queries.execute(new ListWebhooksQuery(query.limit ?? 100, query.cursor, resourcePatterns(principal, 'webhooks:read')));
  }

  @Post('trigger')
  @RequirePermission('webhooks:trigger')
  @HttpCode(202)
  @ApiAcceptedResponse({ description: 'A custom event, delivered to endpoints whose patterns match its type. A scope webhooks:trigger:<glob> limits the types.' })
  trigger(@Body() body: TriggerEventDto, @CurrentPrincipal() principal: Principal, @Ctx() ctx: CommandContext) {
    assertCan(principal, 'webhooks:trigger', body.type);
    return this.commands.execute(new TriggerEventCommand(body.type, jsonData(body.data, 'data'), ctx));
  }

  @Get(':id')
  @RequirePermission('webhooks:read')
  @ApiOkResponse({ description: 'The endpoint with its health (last success, error counts) and recent replays.' })
  get(@Param('id') id: string, @CurrentPrincipal() principal: Principal) {
    return this.authorized(principal, 'webhooks:read', id);
  }

  @Patch(':id')
  @RequirePermission('webhooks:manage')
  @ApiOkResponse({ description: 'Absent fields keep their value; status enables or disables.' })
  async update(@Param('id') id: string, @Body() body: UpdateWebhookDto, @CurrentPrincipal() principal: Principal, @Ctx() ctx: CommandContext) {
    await this.authorized(principal, 'webhooks:manage', id);
    if (body.name !== undefined) assertCan(principal, 'webhooks:manage', body.name);
    const { status, ...definition } = body;
    await this.commands.execute(new UpdateWebhookCommand(checkId(id), { ...definition, enabled: status === undefined ? undefined : status === 'enabled' }, ctx));
    return this.queries.execute(new GetWebhookQuery(id));
  }

  @Delete(':id')
  @RequirePermission('webhooks:manage')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Pending deliveries are cancelled; the delivery history is kept.' })
  async remove(@Param('id') id: string, @CurrentPrincipal() principal: Principal, @Ctx() ctx: CommandContext) {
    await this.authorized(principal, 'webhooks:manage', id);
    await this.commands.execute(new DeleteWebhookCommand(id, ctx));
  }

  @Post(':id/rotate-secret')
  @RequirePermission('webhooks:manage')
  @HttpCode(200)
  @ApiOkResponse({ description: '{ secret, previousSecretExpiresAt }: until then deliveries carry both signatures.' })
  async rotate(@Param('id') id: string, @Body() body: RotateSecretDto, @CurrentPrincipal() principal: Principal, @Ctx() ctx: CommandContext) {
    await this.authorized(principal, 'webhooks:manage', id);
    return this.commands.execute(new RotateWebhookSecretCommand(id, body.overlapSeconds ?? DEFAULT_SECRET_OVERLAP_SECONDS, ctx));
  }

  @Post(':id/test')
  @RequirePermission('webhooks:manage')
  @HttpCode(202)
  @ApiAcceptedResponse({ description: '{ deliveryId } of a webhook.test event sent to this endpoint only.' })
  async test(@Param('id') id: string, @Body() body: TestWebhookDto, @CurrentPrincipal() principal: Principal, @Ctx() ctx: CommandContext) {
    await this.authorized(principal, 'webhooks:manage', id);
    return this.commands.execute(new TestWebhookCommand(id, jsonData(body.data ?? { message: 'test event from OpsLedger' }, 'data'), ctx));
  }

  @Post(':id/replay')
  @RequirePermission('webhooks:manage')
  @HttpCode(202)
  @ApiAcceptedResponse({ description: '{ replayId }: events in [since, until) that match the endpoint now are sent again (same webhook-id as the first time).' })
  async replay(@Param('id') id: string, @Body() body: ReplayDto, @CurrentPrincipal() principal: Principal, @Ctx() ctx: CommandContext) {
    await this.authorized(principal, 'webhooks:manage', id);
    return this.commands.execute(new ReplayWebhookCommand(id, new Date(body.since), body.until ? new Date(body.until) : ctx.now, ctx));
  }

  @Get(':id/deliveries')
  @RequirePermission('webhooks:read')
  @ApiOkResponse({ description: '{ items: Delivery[] (newest first, with attempts), nextCursor }' })
  async deliveries(@Param('id') id: string, @Query() query: ListDeliveriesQueryDto, @CurrentPrincipal() principal: Principal) {
    // The history outlives the endpoint: deleted endpoints are listed too.
    await this.authorized(principal, 'webhooks:read', id, true);
    return this.queries.execute(new ListDeliveriesQuery(id, { status: query.status, limit: query.limit ?? 50, cursor: query.cursor }));
  }
}
