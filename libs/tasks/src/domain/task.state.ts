import type { JsonValue } from '@app/event-store';
import type { Priority, Recurrence, RetryPolicy, TaskError, TaskEvent, TaskStatus } from './task.events.js';

export interface StageRecord {
  name: string;
  status: 'running' | 'completed' | 'failed';
  attempt: number;
  output: JsonValue | null;
  error: TaskError | null;
  startedAt: string;
  finishedAt: string | null;
}

export interface TaskState {
  status: TaskStatus | 'none';
  operationId: string;
  taskType: string;
  data: JsonValue;
  priority: Priority;
  /** When the task (or the next occurrence of a recurring task) may run. */
  runAt: string;
  timeoutMs: number;
  retry: RetryPolicy;
  /** Attempts started so far; the current or last attempt's number. */
  attempt: number;
  /** Attempts given back by a graceful shutdown; they do not count against maxAttempts. */
  releasedAttempts: number;
  workerId: string | null;
  startedAt: string | null;
  leaseUntil: string | null;
  cancelRequested: boolean;
  progress: { percent: number | null; stage: string | null; message: string | null } | null;
  /** Staged results; a completed stage is not run again by a later attempt. */
  stages: StageRecord[];
  result: JsonValue | null;
  error: TaskError | null;
  recurrence: (Recurrence & { occurrences: number; stopped: boolean; lastOccurrenceId: string | null }) | null;
  parent: { operationId: string; occurrence: number } | null;
  idempotencyKey: string | null;
  submittedAt: string;
  finishedAt: string | null;
  updatedAt: string;
}

export function initialTaskState(): TaskState {
  return {
    status: 'none',
    operationId: '',
    taskType: '',
    data: null,
    priority: 'normal',
    runAt: '',
    timeoutMs: 0,
    retry: { maxAttempts: 1, initialDelayMs: 0, maxDelayMs: 0, multiplier: 1, jitter: false },
    attempt: 0,
    releasedAttempts: 0,
    workerId: null,
    startedAt: null,
    leaseUntil: null,
    cancelRequested: false,
    progress: null,
    stages: [],
    result: null,
    error: null,
    recurrence: null,
    parent: null,
    idempotencyKey: null,
    submittedAt: '',
    finishedAt: null,
    updatedAt: '',
  };
}

/** Keeps each stage where it first started, so staged results read in order. */
function upsertStage(stages: StageRecord[], record: StageRecord): StageRecord[] {
  return stages.some((s) => s.name === record.name) ? stages.map((s) => (s.name === record.name ? record : s)) : [...stages, record];
}

const ended = (s: TaskState, at: string, patch: Partial<TaskState>): TaskState => ({
  ...s,
  ...patch,
  workerId: null,
  leaseUntil: null,
  cancelRequested: false,
  finishedAt: at,
  updatedAt: at,
});

export function evolveTask(state: TaskState, event: TaskEvent): TaskState {
  switch (event.type) {
    case 'TaskSubmitted': {
      const d = event.data;
      return {
        ...initialTaskState(),
        status: 'pending',
        operationId: d.operationId,
        taskType: d.taskType,
        data: d.data,
        priority: d.priority,
        runAt: d.runAt,
        timeoutMs: d.timeoutMs,
        retry: d.retry,
        recurrence: d.recurrence ? { ...d.recurrence, occurrences: 0, stopped: false, lastOccurrenceId: null } : null,
        parent: d.parent,
        idempotencyKey: d.idempotencyKey,
        submittedAt: d.submittedAt,
        updatedAt: d.submittedAt,
      };
    }
    case 'TaskStarted': {
      const d = event.data;
      return { ...state, status: 'active', attempt: d.attempt, workerId: d.workerId, startedAt: d.startedAt, leaseUntil: d.leaseUntil, updatedAt: d.startedAt };
    }
    case 'TaskProgressed': {
      const d = event.data;
      const progress = {
        percent: d.percent ?? state.progress?.percent ?? null,
        stage: d.stage ?? state.progress?.stage ?? null,
        message: d.message ?? state.progress?.message ?? null,
      };
      let stages = state.stages;
      if (d.stage && d.stageStatus === 'started') {
        stages = upsertStage(stages, { name: d.stage, status: 'running', attempt: d.attempt, output: null, error: null, startedAt: d.at, finishedAt: null });
      } else if (d.stage && d.stageStatus) {
        const previous = stages.find((s) => s.name === d.stage);
        stages = upsertStage(stages, {
          name: d.stage,
          status: d.stageStatus === 'completed' ? 'completed' : 'failed',
          attempt: d.attempt,
          output: d.output,
          error: d.error,
          startedAt: previous?.startedAt ?? d.at,
          finishedAt: d.at,
        });
      }
      return { ...state, progress, stages, updatedAt: d.at };
    }
    case 'TaskCompleted':
      return ended(state, event.data.completedAt, {
        status: 'completed',
        result: event.data.result,
        error: null,
        progress: { percent: 100, stage: state.progress?.stage ?? null, message: state.progress?.message ?? null },
      });
    case 'TaskTimedOut':
      return { ...state, updatedAt: event.data.at };
    case 'TaskRetryScheduled': {
      const d = event.data;
      return {
        ...state,
        status: 'pending',
        runAt: d.runAt,
        error: d.error,
        workerId: null,
        leaseUntil: null,
        releasedAttempts: state.releasedAttempts + (d.charged ? 0 : 1),
        updatedAt: d.at,
      };
    }
    case 'TaskFailed':
      return ended(state, event.data.failedAt, { status: 'failed', error: event.data.error });
    case 'TaskCancelRequested':
      return { ...state, cancelRequested: true, updatedAt: event.data.requestedAt };
    case 'TaskCancelled':
      return ended(state, event.data.cancelledAt, {
        status: 'cancelled',
        error: { code: 'CANCELLED', message: event.data.reason ?? 'the task was cancelled', retriable: false },
      });
    case 'TaskRecurrenceTriggered': {
      const d = event.data;
      if (!state.recurrence) return state;
      return {
        ...state,
        runAt: d.nextRunAt ?? state.runAt,
        recurrence: { ...state.recurrence, occurrences: d.occurrence, lastOccurrenceId: d.childOperationId },
        updatedAt: d.at,
      };
    }
    case 'TaskRecurrenceStopped': {
      const d = event.data;
      if (!state.recurrence) return state;
      return ended(state, d.stoppedAt, {
        status: 'completed',
        recurrence: { ...state.recurrence, stopped: true },
        result: { occurrences: d.occurrences, lastOccurrenceId: state.recurrence.lastOccurrenceId, stopReason: d.reason },
      });
    }
    default:
      return state;
  }
}
