import type { TaskState } from '../domain/task.state.js';
import type { TaskResultView, TaskStatusView } from './tasks.dto.js';

export function statusView(s: TaskState): TaskStatusView {
  const recurrence = s.recurrence
    ? {
        cron: s.recurrence.cron,
        timezone: s.recurrence.timezone,
        until: s.recurrence.until,
        maxOccurrences: s.recurrence.maxOccurrences,
        occurrences: s.recurrence.occurrences,
        nextRunAt: s.status === 'pending' ? s.runAt : null,
        stopped: s.recurrence.stopped || s.status === 'cancelled',
        lastOccurrenceId: s.recurrence.lastOccurrenceId,
      }
    : null;
  return {
    operationId: s.operationId,
    type: s.taskType,
    status: s.status as TaskStatusView['status'],
    priority: s.priority,
    progress: s.progress,
    attempts: s.attempt,
    maxAttempts: s.retry.maxAttempts,
    error: s.error,
    cancelRequested: s.cancelRequested,
    runAt: s.runAt,
    submittedAt: s.submittedAt,
    startedAt: s.startedAt,
    finishedAt: s.finishedAt,
    updatedAt: s.updatedAt,
    parentOperationId: s.parent?.operationId ?? null,
    recurrence,
  };
}

export function resultView(s: TaskState): TaskResultView {
  return {
    operationId: s.operationId,
    type: s.taskType,
    status: s.status as TaskResultView['status'],
    result: s.status === 'completed' ? s.result : null,
    error: s.error,
    stages: s.stages.map((st) => ({ ...st })),
  };
}
