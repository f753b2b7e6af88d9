import type { ExternalEventCatalog } from '@app/core';

/** Stable dotted names of task events for webhooks and Socket.IO (BRIEF §4). Every payload names operationId and taskType. */
export const TASK_EXTERNAL_EVENTS: ExternalEventCatalog = {
  TaskSubmitted: { name: 'task.submitted' },
  TaskStarted: { name: 'task.started' },
  TaskProgressed: { name: 'task.progressed' },
  TaskCompleted: { name: 'task.completed' },
  TaskFailed: { name: 'task.failed' },
  TaskCancelled: { name: 'task.cancelled' },
  TaskTimedOut: { name: 'task.timed-out' },
  TaskRetryScheduled: { name: 'task.retry-scheduled' },
  TaskCancelRequested: { name: 'task.cancel-requested' },
  TaskRecurrenceTriggered: { name: 'task.recurrence.triggered' },
  TaskRecurrenceStopped: { name: 'task.recurrence.stopped' },
};
