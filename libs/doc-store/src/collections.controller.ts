import { assertCan, RequirePermission, resourcePatterns } from '@app/auth';
import type { CommandContext } from '@app/core';
import { Ctx, CurrentPrincipal, type Principal } from '@app/http';
import { Body, Controller, Delete, Get, HttpCode, Post, Query } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiParam, ApiTags } from '@nestjs/swagger';
import { WriteCollectionCommand } from './doc-store.commands.js';
import { CollectionDocumentsParams, CollectionViewDto, CreateCollectionDto, ListCollectionsParams } from './doc-store.dto.js';
import { GetCollectionQuery, ListCollectionsQuery } from './doc-store.queries.js';
import { anyDocumentIn, checkCollectionPath } from './doc-paths.js';
import { WildcardPath } from './wildcard-path.decorator.js';
import { DocumentQueryService } from './query/document-query.service.js';
import { parseDocumentQuery } from './query/query.parser.js';

/**
 * Collection endpoints act on all of a collection's documents, so a path-scoped token needs a scope
 * that covers every document in it (`releases/**`, `releases/2026/*`), not just some.
 */
@ApiTags('doc-store')
@ApiBearerAuth()
@Controller('doc-store/collections')
export class CollectionsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
    private readonly documents: DocumentQueryService,
  ) {}

  @Post()
  @RequirePermission('docs:write')
  @ApiCreatedResponse({ type: CollectionViewDto, description: '409 COLLECTION_EXISTS if it exists' })
  async create(@Body() body: CreateCollectionDto, @CurrentPrincipal() principal: Principal, @Ctx() ctx: CommandContext) {
    const path = checkCollectionPath(body.path);
    assertCan(principal, 'docs:write', anyDocumentIn(path));
    await this.commands.execute(new WriteCollectionCommand('create', path, ctx));
    return this.queries.execute(new GetCollectionQuery(path));
  }

  @Get()
  @RequirePermission('docs:read')
  @ApiOkResponse({ description: '{ items: CollectionView[], nextCursor }, by path' })
  list(@Query() params: ListCollectionsParams, @CurrentPrincipal() principal: Principal) {
    return this.queries.execute(new ListCollectionsQuery({ prefix: params.prefix, limit: params.limit ?? 100, cursor: params.cursor }, resourcePatterns(principal, 'docs:read')));
  }

  @Get('*')
  @RequirePermission('docs:read')
  @ApiParam({ name: 'path', schema: { type: 'string' }, description: 'Slashes as they are: releases/2026/q4' })
  @ApiOkResponse({ description: 'CollectionView + documents: { items: DocumentView[], nextCursor } (by document path)' })
  async get(@WildcardPath() rawPath: string, @Query() params: CollectionDocumentsParams, @CurrentPrincipal() principal: Principal) {
    const path = checkCollectionPath(rawPath);
    assertCan(principal, 'docs:read', anyDocumentIn(path));
    const collection = await this.queries.execute(new GetCollectionQuery(path));
    const query = parseDocumentQuery({ paths: [`${path}/*`], sort: [{ field: '$path' }], limit: params.limit ?? 50, cursor: params.cursor });
    const documents = await this.documents.run(query, resourcePatterns(principal, 'docs:read'));
    return { ...collection, documents };
  }

  @Delete('*')
  @RequirePermission('docs:write')
  @HttpCode(204)
  @ApiParam({ name: 'path', schema: { type: 'string' } })
  async remove(@WildcardPath() rawPath: string, @CurrentPrincipal() principal: Principal, @Ctx() ctx: CommandContext): Promise<void> {
    const path = checkCollectionPath(rawPath);
    assertCan(principal, 'docs:write', anyDocumentIn(path));
    await this.commands.execute(new WriteCollectionCommand('delete', path, ctx));
  }
}
