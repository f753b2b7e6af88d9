import { Module } from '@nestjs/common';
import { TASK_PROGRESS_PUBLISHER } from '../worker/progress-publisher.js';
import { TaskEventBroadcaster } from './task-event.broadcaster.js';

/** The process manager's side of Socket.IO: stored task events and live progress to every api node. */
@Module({
  providers: [TaskEventBroadcaster, { provide: TASK_PROGRESS_PUBLISHER, useExisting: TaskEventBroadcaster }],
  exports: [TASK_PROGRESS_PUBLISHER],
})
export class TaskBroadcastModule {}
