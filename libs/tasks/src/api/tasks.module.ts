import { Module } from '@nestjs/common';
import { TaskRealtimeModule } from '../realtime/realtime.module.js';
import { TaskTypesModule } from '../registry/task-types.module.js';
import { SubmitTaskHandler } from './submit-task.command.js';
import { CancelTaskHandler, StopRecurrenceHandler } from './task-control.commands.js';
import { TaskOutcomeWaiter } from './task-outcome.waiter.js';
import { TasksController } from './tasks.controller.js';
import { GetTaskHandler, ListTasksHandler, TaskEventsHandler } from './tasks.queries.js';

/** The api side of tasks: REST, validation against the registered types, `?wait`, Socket.IO. */
@Module({
  imports: [TaskTypesModule, TaskRealtimeModule],
  controllers: [TasksController],
  providers: [SubmitTaskHandler, CancelTaskHandler, StopRecurrenceHandler, GetTaskHandler, ListTasksHandler, TaskEventsHandler, TaskOutcomeWaiter],
})
export class TasksModule {}
