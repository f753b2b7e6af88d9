import { APP_CONFIG, type EnvConfig } from '@app/config';
import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { WriteCollectionHandler, WriteDocumentHandler } from './doc-store.commands.js';
import { DocumentHistoryHandler, GetCollectionHandler, GetDocumentHandler, ListCollectionsHandler } from './doc-store.queries.js';
import { CollectionsController } from './collections.controller.js';
import { DocumentsController, MERGE_PATCH } from './documents.controller.js';
import { QueryController } from './query.controller.js';
import { DocStoreQueryModule } from './doc-store-query.module.js';

@Module({
  imports: [DocStoreQueryModule],
  controllers: [CollectionsController, QueryController, DocumentsController],
  providers: [WriteDocumentHandler, WriteCollectionHandler, GetDocumentHandler, DocumentHistoryHandler, GetCollectionHandler, ListCollectionsHandler],
})
export class DocStoreModule implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(APP_CONFIG) private readonly config: EnvConfig,
  ) {}

  /** PATCH bodies are JSON merge patches; parsed like JSON (same limits, same prototype-poisoning guard). */
  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify || fastify.hasContentTypeParser(MERGE_PATCH)) return;
    fastify.addContentTypeParser(MERGE_PATCH, { parseAs: 'string', bodyLimit: this.config.OPSLEDGER_BODY_LIMIT_BYTES }, fastify.getDefaultJsonParser('error', 'error'));
  }
}
