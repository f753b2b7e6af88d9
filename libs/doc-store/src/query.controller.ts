import { RequirePermission, resourcePatterns } from '@app/auth';
import { CurrentPrincipal, type Principal } from '@app/http';
import { Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOkResponse, ApiQuery, ApiTags } from '@nestjs/swagger';
import { QueryDocumentsDto } from './doc-store.dto.js';
import { DocumentQueryService } from './query/document-query.service.js';
import { parseDocumentQuery, queryFromSearchParams } from './query/query.parser.js';

/** Queries see only the documents the token's docs:read scopes allow; the scopes are part of the SQL, so pages stay whole. */
@ApiTags('doc-store')
@ApiBearerAuth()
@Controller('doc-store/query')
export class QueryController {
  constructor(private readonly documents: DocumentQueryService) {}

  @Post()
  @HttpCode(200)
  @RequirePermission('docs:read')
  @ApiBody({ type: QueryDocumentsDto })
  @ApiOkResponse({ description: '{ items: DocumentView[], nextCursor, total? }; 400 INVALID_QUERY names the bad part in `at`' })
  query(@Body() body: unknown, @CurrentPrincipal() principal: Principal) {
    return this.documents.run(parseDocumentQuery(body), resourcePatterns(principal, 'docs:read'));
  }

  @Get()
  @RequirePermission('docs:read')
  @ApiQuery({ name: 'paths', required: false, description: 'Comma-separated or repeated patterns, e.g. releases/**' })
  @ApiQuery({ name: 'filter', required: false, description: 'The filter as JSON' })
  @ApiQuery({ name: 'sort', required: false, description: 'Comma-separated fields; a leading - sorts descending: -$updatedAt,build.number' })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'cursor', required: false })
  @ApiQuery({ name: 'fields', required: false, description: 'Comma-separated value fields' })
  @ApiQuery({ name: 'count', required: false, description: 'true to get total' })
  @ApiOkResponse({ description: 'As POST' })
  queryByGet(@Query() params: Record<string, unknown>, @CurrentPrincipal() principal: Principal) {
    return this.documents.run(parseDocumentQuery(queryFromSearchParams(params)), resourcePatterns(principal, 'docs:read'));
  }
}
