import { assertCan, RequirePermission } from '@app/auth';
import { type CommandContext, DomainError, ValidationError } from '@app/core';
import type { JsonValue } from '@app/event-store';
import { type AuthedRequest, Ctx, CurrentPrincipal, type Principal } from '@app/http';
import { Body, Controller, Delete, Get, Headers, HttpCode, Patch, Post, Query, Req, Res } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiCreatedResponse, ApiHeader, ApiOkResponse, ApiParam, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { type DocumentWrite, WriteDocumentCommand } from './doc-store.commands.js';
import { DocumentViewDto, HistoryParams, ReadDocumentParams, WriteDocumentDto } from './doc-store.dto.js';
import { DocumentHistoryQuery, GetDocumentQuery } from './doc-store.queries.js';
import { checkDocumentPath } from './doc-paths.js';
import { WildcardPath } from './wildcard-path.decorator.js';
import { expectedVersion, requireExpectedVersion } from './preconditions.js';
import type { DocumentView } from './query/query.types.js';

export const MERGE_PATCH = 'application/merge-patch+json';

const PATH_PARAM = { name: 'path', description: 'Collection path + document id, slashes as they are: releases/2026/q4/build-17', schema: { type: 'string' } } as const;

@ApiTags('doc-store')
@ApiBearerAuth()
@Controller('doc-store')
export class DocumentsController {
  constructor(private readonly commands: CommandBus, private readonly queries: QueryBus) {}

  private async write(write: DocumentWrite, ctx: CommandContext, reply: FastifyReply): Promise<DocumentView> {
    await this.commands.execute(new WriteDocumentCommand(write, ctx));
    const document = await this.queries.execute(new GetDocumentQuery(write.path));
    void reply.header('etag', `"${document.version}"`);
    return document;
  }

  @Post('docs/*')
  @RequirePermission('docs:write')
  @ApiParam(PATH_PARAM)
  @ApiHeader({ name: 'If-Match', required: false, description: 'The version to replace, as an alternative to `version` in the body (412 on mismatch).' })
  @ApiCreatedResponse({ type: DocumentViewDto, description: '201 created (no version given; 409 DOCUMENT_EXISTS if it exists, 404 COLLECTION_NOT_FOUND); 200 replaced (409 VERSION_CONFLICT with currentVersion).' })
  async createOrReplace(
    @WildcardPath() rawPath: string,
    @Body() body: WriteDocumentDto,
    @Headers('if-match') ifMatch: string | undefined,
    @CurrentPrincipal() principal: Principal,
    @Ctx() ctx: CommandContext,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const path = checkDocumentPath(rawPath);
    assertCan(principal, 'docs:write', path);
    const expected = expectedVersion(body.version, ifMatch);
    const value = body.value as JsonValue;
    if (!expected) return this.write({ kind: 'create', path, value }, ctx, reply);
    void reply.status(200);
    return this.write({ kind: 'replace', path, value, expected }, ctx, reply);
  }

  @Get('docs/*')
  @RequirePermission('docs:read')
  @ApiParam(PATH_PARAM)
  @ApiOkResponse({ type: DocumentViewDto, description: 'The current document, or with ?version=N a past version, or with ?at=<ISO time> the document as it was then.' })
  async read(@WildcardPath() rawPath: string, @Query() params: ReadDocumentParams, @CurrentPrincipal() principal: Principal, @Res({ passthrough: true }) reply: FastifyReply) {
    const path = checkDocumentPath(rawPath);
    assertCan(principal, 'docs:read', path);
    if (params.version !== undefined && params.at !== undefined) throw new ValidationError('give either version or at, not both', { field: 'at' });
    const document = await this.queries.execute(new GetDocumentQuery(path, { version: params.version, at: params.at === undefined ? undefined : new Date(params.at) }));
    if (params.version === undefined && params.at === undefined) void reply.header('etag', `"${document.version}"`);
    return document;
  }

  @Patch('docs/*')
  @RequirePermission('docs:write')
  @ApiParam(PATH_PARAM)
  @ApiConsumes(MERGE_PATCH)
  @ApiBody({ schema: { type: 'object', example: { status: 'done', obsolete: null } }, description: 'A JSON merge patch (RFC 7396): null removes a field.' })
  @ApiHeader({ name: 'If-Match', required: true, description: 'The version the patch applies to (412 on mismatch, 428 without).' })
  @ApiOkResponse({ type: DocumentViewDto })
  patch(
    @WildcardPath() rawPath: string,
    @Body() patch: unknown,
    @Headers('if-match') ifMatch: string | undefined,
    @Headers('content-type') contentType: string | undefined,
    @CurrentPrincipal() principal: Principal,
    @Ctx() ctx: CommandContext,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const path = checkDocumentPath(rawPath);
    assertCan(principal, 'docs:write', path);
    if (!contentType?.toLowerCase().startsWith(MERGE_PATCH)) {
      throw new DomainError('UNSUPPORTED_MEDIA_TYPE', `PATCH takes a JSON merge patch: Content-Type: ${MERGE_PATCH}; to replace the whole value POST {value, version}`, 415);
    }
    const expected = requireExpectedVersion(undefined, ifMatch, 'If-Match: "<version>"');
    return this.write({ kind: 'patch', path, patch: patch as JsonValue, expected }, ctx, reply);
  }

  @Delete('docs/*')
  @RequirePermission('docs:write')
  @HttpCode(204)
  @ApiParam(PATH_PARAM)
  @ApiBody({ required: false, schema: { type: 'object', properties: { version: { type: 'integer', minimum: 1 } } } })
  @ApiHeader({ name: 'If-Match', required: false, description: 'The version to delete; or {"version": N} in the body (one of them is required).' })
  async remove(@WildcardPath() rawPath: string, @Headers('if-match') ifMatch: string | undefined, @Req() request: AuthedRequest, @Ctx() ctx: CommandContext): Promise<void> {
    const path = checkDocumentPath(rawPath);
    assertCan(request.principal, 'docs:write', path);
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body) || Object.keys(body).some((k) => k !== 'version')) {
      throw new ValidationError('the body of a delete is {"version": N} or empty', { field: 'body' });
    }
    if (body.version !== undefined && (typeof body.version !== 'number' || !Number.isInteger(body.version) || body.version < 1)) {
      throw new ValidationError('version must be a positive integer', { field: 'version' });
    }
    const expected = requireExpectedVersion(body.version as number | undefined, ifMatch, 'If-Match: "<version>" or {"version": N}');
    await this.commands.execute(new WriteDocumentCommand({ kind: 'delete', path, expected }, ctx));
  }

  @Get('history/*')
  @RequirePermission('docs:read')
  @ApiParam(PATH_PARAM)
  @ApiOkResponse({ description: '{ path, items: [{version, change: created|replaced|merge-patched|deleted, value?, at, actor, correlationId}], nextBefore }, newest first' })
  history(@WildcardPath() rawPath: string, @Query() params: HistoryParams, @CurrentPrincipal() principal: Principal) {
    const path = checkDocumentPath(rawPath);
    assertCan(principal, 'docs:read', path);
    return this.queries.execute(new DocumentHistoryQuery(path, params.limit ?? 100, params.before));
  }
}
