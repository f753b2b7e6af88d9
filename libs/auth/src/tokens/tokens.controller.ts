import { type CommandContext, NotFoundError } from '@app/core';
import { Ctx } from '@app/http';
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { RequirePermission } from '../auth.guard.js';
import { CreateTokenCommand, RevokeTokenCommand, RotateTokenCommand } from './tokens.commands.js';
import { CreateTokenDto, ListTokensQuery as ListTokensParams, RotateTokenDto, TokenView, TokenWithSecretView } from './tokens.dto.js';
import { GetTokenQuery, ListTokensQuery } from './tokens.queries.js';

const TOKEN_ID = /^[a-z0-9_-]{1,64}$/;

@ApiTags('application-tokens')
@ApiBearerAuth()
@RequirePermission('tokens:manage')
@Controller('application-tokens')
export class TokensController {
  constructor(private readonly commands: CommandBus, private readonly queries: QueryBus) {}

  @Post()
  @ApiCreatedResponse({ type: TokenWithSecretView })
  async create(@Body() body: CreateTokenDto, @Ctx() ctx: CommandContext): Promise<TokenWithSecretView> {
    const { tokenId, secret } = await this.commands.execute(
      new CreateTokenCommand({ name: body.name, role: body.role, scopes: body.scopes ?? [], expiresInDays: body.expiresInDays ?? 30 }, ctx),
    );
    return { ...(await this.queries.execute(new GetTokenQuery(tokenId))), token: secret };
  }

  @Get()
  @ApiOkResponse({ description: '{ items: TokenView[], nextCursor }' })
  list(@Query() query: ListTokensParams) {
    return this.queries.execute(new ListTokensQuery(query.limit ?? 100, query.cursor));
  }

  @Get(':id')
  @ApiOkResponse({ type: TokenView })
  get(@Param('id') id: string) {
    return this.queries.execute(new GetTokenQuery(checkId(id)));
  }

  @Post(':id/rotate')
  @HttpCode(200)
  @ApiOkResponse({ type: TokenWithSecretView })
  async rotate(@Param('id') id: string, @Body() body: RotateTokenDto, @Ctx() ctx: CommandContext): Promise<TokenWithSecretView> {
    const { secret } = await this.commands.execute(new RotateTokenCommand(checkId(id), body.gracePeriodSeconds ?? 0, body.expiresInDays, ctx));
    return { ...(await this.queries.execute(new GetTokenQuery(id))), token: secret };
  }

  @Delete(':id')
  @HttpCode(204)
  async revoke(@Param('id') id: string, @Ctx() ctx: CommandContext): Promise<void> {
    await this.commands.execute(new RevokeTokenCommand(checkId(id), ctx));
  }
}

function checkId(id: string): string {
  if (!TOKEN_ID.test(id)) throw new NotFoundError(`token ${id.slice(0, 64)} not found`, 'TOKEN_NOT_FOUND');
  return id;
}
