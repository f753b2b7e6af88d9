import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { SYSTEM_TASK_TYPES } from '../handlers/system.handlers.js';
import { TaskTypeRegistry } from './task-type.registry.js';

/**
 * The registry of task types and the built-in diagnostic types. Other libraries add types by declaring
 * @TaskType providers in their own modules, imported by the api and the process manager.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [TaskTypeRegistry, ...SYSTEM_TASK_TYPES],
  exports: [TaskTypeRegistry],
})
export class TaskTypesModule {}
