import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { DocStoreExportModule } from '../handlers/doc-store-export.handler.js';
import { SYSTEM_TASK_TYPES } from '../handlers/system.handlers.js';
import { TaskTypeRegistry } from './task-type.registry.js';

/**
 * The registry of task types, the built-in diagnostic types and doc-store.export. Other libraries add types
 * by declaring @TaskType providers in their own modules, imported by the api and the process manager.
 */
@Module({
  imports: [DiscoveryModule, DocStoreExportModule],
  providers: [TaskTypeRegistry, ...SYSTEM_TASK_TYPES],
  exports: [TaskTypeRegistry],
})
export class TaskTypesModule {}
