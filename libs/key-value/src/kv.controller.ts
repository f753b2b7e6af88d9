import { assertCan, RequirePermission, resourcePatterns } from '@app/auth';
import { type CommandContext, ValidationError } from '@app/core';
import { type AuthedRequest, Ctx, CurrentPrincipal, type Principal } from '@app/http';
import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Patch, Post, Put, Query, Req, Res } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiCreatedResponse, ApiHeader, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { type KvWriteInput, WriteEntryCommand } from './kv.commands.js';
import { CreateEntryDto, EntryView, HistoryQuery, KEY_PATTERN, KEY_RULES, ListEntriesQuery as ListParams, UpdateEntryDto, UpsertEntryDto } from './kv.dto.js';
import { EntryHistoryQuery, GetEntryQuery, ListEntriesQuery } from './kv.queries.js';

function checkKey(key: string): string {
  if (key.length > 512 || !KEY_PATTERN.test(key)) throw new ValidationError(`invalid key: ${KEY_RULES}`, { field: 'key' }, 'INVALID_KEY');
  return key;
}

/** If-Match: "3", W/"3" or 3. */
function ifMatchVersion(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(header);
  if (!m) throw new ValidationError('If-Match must be an entry version such as "3"', { header: 'If-Match' }, 'INVALID_IF_MATCH');
  return Number(m[1]);
}

function expected(bodyVersion: number | undefined, ifMatch: string | undefined): KvWriteInput['expectedVersion'] {
  const header = ifMatchVersion(ifMatch);
  if (header !== undefined && bodyVersion !== undefined && header !== bodyVersion) {
    throw new ValidationError('version in the body and If-Match disagree', { field: 'version' }, 'VERSION_MISMATCH');
  }
  if (header !== undefined) return { version: header, source: 'if-match' };
  return bodyVersion === undefined ? undefined : { version: bodyVersion, source: 'body' };
}

@ApiTags('key-value')
@ApiBearerAuth()
@Controller('key-value')
export class KeyValueController {
  constructor(private readonly commands: CommandBus, private readonly queries: QueryBus) {}

  private async writeAndRead(input: KvWriteInput, ctx: CommandContext, reply: FastifyReply): Promise<EntryView> {
    await this.commands.execute(new WriteEntryCommand(input, ctx));
    const entry = await this.queries.execute(new GetEntryQuery(input.key));
    void reply.header('etag', `"${entry.version}"`);
    return entry;
  }

  @Post()
  @RequirePermission('kv:write')
  @ApiCreatedResponse({ type: EntryView, description: '409 KEY_EXISTS if the key exists' })
  create(@Body() body: CreateEntryDto, @CurrentPrincipal() principal: Principal, @Ctx() ctx: CommandContext, @Res({ passthrough: true }) reply: FastifyReply) {
    assertCan(principal, 'kv:write', body.key);
    return this.writeAndRead({ kind: 'CreateEntry', key: body.key, value: body.value, ttlSeconds: body.ttlSeconds, tags: body.tags }, ctx, reply);
  }

  @Put()
  @RequirePermission('kv:write')
  @ApiOkResponse({ type: EntryView, description: 'Creates or replaces (upsert).' })
  upsert(@Body() body: UpsertEntryDto, @Headers('if-match') ifMatch: string | undefined, @CurrentPrincipal() principal: Principal, @Ctx() ctx: CommandContext, @Res({ passthrough: true }) reply: FastifyReply) {
    assertCan(principal, 'kv:write', body.key);
    return this.writeAndRead(
      { kind: 'UpsertEntry', key: body.key, value: body.value, ttlSeconds: body.ttlSeconds, tags: body.tags, expectedVersion: expected(body.version, ifMatch) },
      ctx,
      reply,
    );
  }

  @Get()
  @RequirePermission('kv:read')
  @ApiOkResponse({ description: '{ items: EntryView[], nextCursor }' })
  list(@Query() query: ListParams, @CurrentPrincipal() principal: Principal) {
    return this.queries.execute(
      new ListEntriesQuery({ prefix: query.prefix, tag: query.tag, limit: query.limit ?? 100, cursor: query.cursor }, resourcePatterns(principal, 'kv:read')),
    );
  }

  @Get(':key/history')
  @RequirePermission('kv:read')
  @ApiOkResponse({ description: '{ key, items: [{version, change, value, tags, expiresAt, at, actor, correlationId}] }, newest first' })
  history(@Param('key') key: string, @Query() query: HistoryQuery, @CurrentPrincipal() principal: Principal) {
    assertCan(principal, 'kv:read', checkKey(key));
    return this.queries.execute(new EntryHistoryQuery(key, query.limit ?? 100));
  }

  @Get(':key')
  @RequirePermission('kv:read')
  @ApiHeader({ name: 'key', description: 'URL-encode slashes: ci%2Fbuilds' })
  @ApiOkResponse({ type: EntryView })
  async get(@Param('key') key: string, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) reply: FastifyReply) {
    assertCan(principal, 'kv:read', checkKey(key));
    const entry = await this.queries.execute(new GetEntryQuery(key));
    void reply.header('etag', `"${entry.version}"`);
    return entry;
  }

  @Patch(':key')
  @RequirePermission('kv:write')
  @ApiOkResponse({ type: EntryView, description: '404 if missing; compare-and-set with version or If-Match' })
  update(@Param('key') key: string, @Body() body: UpdateEntryDto, @Headers('if-match') ifMatch: string | undefined, @CurrentPrincipal() principal: Principal, @Ctx() ctx: CommandContext, @Res({ passthrough: true }) reply: FastifyReply) {
    assertCan(principal, 'kv:write', checkKey(key));
    return this.writeAndRead(
      { kind: 'UpdateEntry', key, value: body.value, ttlSeconds: body.ttlSeconds, tags: body.tags, expectedVersion: expected(body.version, ifMatch) },
      ctx,
      reply,
    );
  }

  @Put(':key')
  @RequirePermission('kv:write')
  @ApiOkResponse({ type: EntryView, description: 'Upsert at a path; the body has no key.' })
  upsertAt(@Param('key') key: string, @Body() body: UpdateEntryDto, @Headers('if-match') ifMatch: string | undefined, @CurrentPrincipal() principal: Principal, @Ctx() ctx: CommandContext, @Res({ passthrough: true }) reply: FastifyReply) {
    assertCan(principal, 'kv:write', checkKey(key));
    return this.writeAndRead(
      { kind: 'UpsertEntry', key, value: body.value, ttlSeconds: body.ttlSeconds, tags: body.tags, expectedVersion: expected(body.version, ifMatch) },
      ctx,
      reply,
    );
  }

  @Delete(':key')
  @RequirePermission('kv:write')
  @HttpCode(204)
  async remove(@Param('key') key: string, @Headers('if-match') ifMatch: string | undefined, @Req() request: AuthedRequest, @Ctx() ctx: CommandContext) {
    assertCan(request.principal, 'kv:write', checkKey(key));
    const body = (request.body ?? {}) as { version?: unknown };
    // A misspelt field must not turn a conditional delete into an unconditional one.
    if (typeof body !== 'object' || Array.isArray(body) || Object.keys(body).some((field) => field !== 'version')) {
      throw new ValidationError('the body of a delete may only be {"version": <expected version>}', { field: 'body' });
    }
    if (body.version !== undefined && (typeof body.version !== 'number' || !Number.isInteger(body.version) || body.version < 0)) {
      throw new ValidationError('version must be a non-negative integer', { field: 'version' });
    }
    await this.commands.execute(new WriteEntryCommand({ kind: 'DeleteEntry', key, expectedVersion: expected(body.version as number | undefined, ifMatch) }, ctx));
  }
}

