import { can, resourcePatterns } from '@app/auth';
import { ForbiddenError } from '@app/core';
import { DocStoreQueryModule, DocumentQueryService, parseDocumentQuery } from '@app/doc-store';
import type { JsonValue } from '@app/event-store';
import type { Principal } from '@app/http';
import { Module } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsObject, IsOptional, Max, Min } from 'class-validator';
import { type TaskContext, type TaskHandler, TaskType } from '../registry/task-type.js';

export class DocStoreExportData {
  @ApiProperty({ description: 'A document query (paths, filter, sort, fields) as for POST /api/doc-store/query; no limit or cursor.', example: { paths: ['releases/**'] } })
  @IsObject()
  query: Record<string, JsonValue>;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100, description: 'Documents per stored page.' })
  @IsOptional() @IsInt() @Min(1) @Max(1000)
  pageSize?: number;
}

interface StoredData extends DocStoreExportData {
  /** The submitter's docs:read path scopes (null: all), set by the api at submit, never by the client. */
  allowedPaths: string[] | null;
}

/** The query of one page: paging is the export's own (any limit, cursor or count given is replaced). */
function pageQuery(query: Record<string, JsonValue>, pageSize: number, cursor: string | null) {
  const { limit: _, cursor: __, count: ___, ...rest } = query;
  return parseDocumentQuery({ ...rest, limit: pageSize, count: cursor === null, ...(cursor ? { cursor } : {}) });
}

/**
 * Exports the documents a query selects, page by page, as the task's staged results (`page-1`, `page-2`, …):
 * a retry continues after the last stored page. It reads with the submitter's docs:read scopes.
 */
@TaskType({
  type: 'doc-store.export',
  description: 'Exports the documents a query selects, as staged results of up to pageSize documents each.',
  schema: DocStoreExportData,
  priority: 'batch',
  timeoutMs: 3_600_000,
  concurrency: 2,
  check: (data) => void pageQuery((data as { query: Record<string, JsonValue> }).query, 1, null),
  authorize: (data, principal: Principal) => {
    if (!can(principal, 'docs:read')) throw new ForbiddenError('exporting documents needs the permission docs:read', 'INSUFFICIENT_SCOPE');
    return { ...(data as object), allowedPaths: resourcePatterns(principal, 'docs:read') } as JsonValue;
  },
})
export class DocStoreExportTask implements TaskHandler<StoredData> {
  constructor(private readonly documents: DocumentQueryService) {}

  async run(data: StoredData, ctx: TaskContext): Promise<JsonValue> {
    const pageSize = data.pageSize ?? 100;
    let cursor: string | null = null;
    let total = 0;
    let documents = 0;
    let pages = 0;
    do {
      pages++;
      const page: { count: number; total: number | null; nextCursor: string | null } = await ctx.stage(`page-${pages}`, async () => {
        const result = await this.documents.run(pageQuery(data.query, pageSize, cursor), data.allowedPaths);
        return { count: result.items.length, total: result.total ?? null, nextCursor: result.nextCursor, items: result.items as unknown as JsonValue };
      });
      total = page.total ?? total;
      documents += page.count;
      cursor = page.nextCursor;
      ctx.progress(total ? (100 * documents) / total : 100, `${documents} of ${total} documents`);
    } while (cursor);
    return { documents, pages };
  }
}

@Module({
  imports: [DocStoreQueryModule],
  providers: [DocStoreExportTask],
})
export class DocStoreExportModule {}
