import { Module } from '@nestjs/common';
import { TaskBroadcastModule } from '../realtime/broadcast.module.js';
import { TaskTypesModule } from '../registry/task-types.module.js';
import { TaskScheduler } from './task-scheduler.service.js';
import { loadTasksConfig, TASKS_CONFIG } from './tasks-config.js';

/** The process-manager side of tasks: scheduler, workers, leases, recurrence, broadcast to Socket.IO. */
@Module({
  imports: [TaskTypesModule, TaskBroadcastModule],
  providers: [{ provide: TASKS_CONFIG, useFactory: () => loadTasksConfig() }, TaskScheduler],
  exports: [TaskScheduler],
})
export class TaskWorkerModule {}
