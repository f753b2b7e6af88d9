import { Module } from '@nestjs/common';
import { DocumentQueryService } from './query/document-query.service.js';

/** The query service alone (needs only PG_POOL from PlatformModule): for other features, e.g. a doc-store.export task. */
@Module({
  providers: [DocumentQueryService],
  exports: [DocumentQueryService],
})
export class DocStoreQueryModule {}
