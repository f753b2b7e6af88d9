import { ConflictError, type Decider, NotFoundError, ValidationError } from '@app/core';
import type { JsonValue } from '@app/event-store';
import { occurrenceId } from './task-ids.js';
import { checkCron, nextOccurrence } from './recurrence.js';
import { retryDelayMs } from './retry-policy.js';
import type { Priority, Recurrence, RetryPolicy, TaskError, TaskEvent } from './task.events.js';
import { evolveTask, initialTaskState, type TaskState } from './task.state.js';

export type TaskCommand =
  | {
      type: 'SubmitTask';
      operationId: string;
      taskType: string;
      data: JsonValue;
      priority: Priority;
      /** Earliest start (scheduledFor); for a recurring task, occurrences come strictly after it. */
      notBefore: Date;
      timeoutMs: number;
      retry: RetryPolicy;
      recurrence: Recurrence | null;
      idempotencyKey: string | null;
      parent: { operationId: string; occurrence: number } | null;
      now: Date;
    }
  | { type: 'StartAttempt'; workerId: string; leaseMs: number; now: Date }
  | {
      type: 'RecordProgress';
      attempt: number;
      stage: string | null;
      stageStatus: 'started' | 'completed' | 'failed' | null;
      output?: JsonValue;
      error?: TaskError;
      percent: number | null;
      message: string | null;
      now: Date;
    }
  | { type: 'CompleteAttempt'; attempt: number; result: JsonValue; now: Date }
  /** timedOutAfterMs: the attempt hit its timeout (recorded as TaskTimedOut first). */
  | { type: 'FailAttempt'; attempt: number; error: TaskError; timedOutAfterMs?: number; now: Date; random: number }
  /** Graceful shutdown: the attempt is given back and retried at once without counting. */
  | { type: 'ReleaseAttempt'; attempt: number; now: Date }
  /** Another instance found the attempt's worker dead (its lease was not renewed). */
  | { type: 'ExpireLease'; attempt: number; workerId: string; now: Date; random: number }
  | { type: 'RequestCancel'; reason: string | null; now: Date }
  /** occurrence: the one the caller is about to submit; anything else is already done (idempotent). */
  | { type: 'TriggerOccurrence'; occurrence: number; now: Date }
  | { type: 'StopRecurrence'; now: Date };

const notCurrent = (attempt: number) => new ConflictError(`attempt ${attempt} is not the task's running attempt`, 'ATTEMPT_NOT_CURRENT');

function requireSubmitted(state: TaskState): void {
  if (state.status === 'none') throw new NotFoundError('task not found', 'TASK_NOT_FOUND');
}

function requireRunning(state: TaskState, attempt: number): void {
  requireSubmitted(state);
  if (state.status !== 'active' || state.attempt !== attempt) throw notCurrent(attempt);
}

const isTerminal = (state: TaskState) => state.status === 'completed' || state.status === 'failed' || state.status === 'cancelled';

const ref = (state: TaskState) => ({ operationId: state.operationId, taskType: state.taskType });

/** The end of an attempt that did not succeed: cancelled if asked to, else retried while the policy allows. */
function attemptFailed(state: TaskState, attempt: number, error: TaskError, now: Date, random: number): TaskEvent[] {
  const at = now.toISOString();
  if (state.cancelRequested) return [{ type: 'TaskCancelled', data: { ...ref(state), attempt, reason: 'cancel requested while running', cancelledAt: at } }];
  const charged = attempt - state.releasedAttempts;
  if (error.retriable && charged < state.retry.maxAttempts) {
    const delayMs = retryDelayMs(state.retry, charged, random);
    return [
      {
        type: 'TaskRetryScheduled',
        data: { ...ref(state), attempt, error, runAt: new Date(now.getTime() + delayMs).toISOString(), delayMs, charged: true, at },
      },
    ];
  }
  return [{ type: 'TaskFailed', data: { ...ref(state), attempt, error, failedAt: at } }];
}

function submit(command: Extract<TaskCommand, { type: 'SubmitTask' }>, state: TaskState): TaskEvent[] {
  if (state.status !== 'none') throw new ConflictError(`task ${command.operationId} already exists`, 'TASK_EXISTS');
  let runAt = command.notBefore;
  if (command.recurrence) {
    try {
      checkCron(command.recurrence.cron, command.recurrence.timezone);
    } catch (error) {
      throw new ValidationError(`recurrence: ${(error as Error).message}`, { field: 'recurrence' }, 'INVALID_RECURRENCE');
    }
    const first = nextOccurrence(command.recurrence, new Date(command.notBefore.getTime() - 1), 0);
    if (!first) throw new ValidationError('the recurrence has no occurrence (until is before the first one)', { field: 'recurrence' }, 'INVALID_RECURRENCE');
    runAt = first;
  }
  return [
    {
      type: 'TaskSubmitted',
      data: {
        operationId: command.operationId,
        taskType: command.taskType,
        data: command.data,
        priority: command.priority,
        runAt: runAt.toISOString(),
        timeoutMs: command.timeoutMs,
        retry: command.retry,
        recurrence: command.recurrence,
        idempotencyKey: command.idempotencyKey,
        parent: command.parent,
        submittedAt: command.now.toISOString(),
      },
    },
  ];
}

function decide(command: TaskCommand, state: TaskState): TaskEvent[] {
  const at = command.now.toISOString();
  switch (command.type) {
    case 'SubmitTask':
      return submit(command, state);
    case 'StartAttempt':
      requireSubmitted(state);
      if (state.status !== 'pending' || state.recurrence || Date.parse(state.runAt) > command.now.getTime()) {
        throw new ConflictError(`task ${state.operationId} is not runnable`, 'TASK_NOT_RUNNABLE');
      }
      return [
        {
          type: 'TaskStarted',
          data: { ...ref(state), attempt: state.attempt + 1, workerId: command.workerId, startedAt: at, leaseUntil: new Date(command.now.getTime() + command.leaseMs).toISOString() },
        },
      ];
    case 'RecordProgress':
      requireRunning(state, command.attempt);
      return [
        {
          type: 'TaskProgressed',
          data: {
            ...ref(state),
            attempt: command.attempt,
            stage: command.stage,
            stageStatus: command.stageStatus,
            output: command.output ?? null,
            error: command.error ?? null,
            percent: command.percent,
            message: command.message,
            at,
          },
        },
      ];
    case 'CompleteAttempt':
      requireRunning(state, command.attempt);
      return [{ type: 'TaskCompleted', data: { ...ref(state), attempt: command.attempt, result: command.result, completedAt: at } }];
    case 'FailAttempt': {
      requireRunning(state, command.attempt);
      const timedOut: TaskEvent[] =
        command.timedOutAfterMs === undefined ? [] : [{ type: 'TaskTimedOut', data: { ...ref(state), attempt: command.attempt, timeoutMs: command.timedOutAfterMs, at } }];
      return [...timedOut, ...attemptFailed(state, command.attempt, command.error, command.now, command.random)];
    }
    case 'ReleaseAttempt':
      requireRunning(state, command.attempt);
      if (state.cancelRequested) return [{ type: 'TaskCancelled', data: { ...ref(state), attempt: command.attempt, reason: 'cancel requested while running', cancelledAt: at } }];
      return [
        {
          type: 'TaskRetryScheduled',
          data: {
            ...ref(state),
            attempt: command.attempt,
            error: { code: 'WORKER_SHUTDOWN', message: 'the worker shut down; the attempt was given back', retriable: true },
            runAt: at,
            delayMs: 0,
            charged: false,
            at,
          },
        },
      ];
    case 'ExpireLease': {
      requireSubmitted(state);
      // Idempotent: another instance may have expired it (or the worker finished) in the meantime.
      if (state.status !== 'active' || state.attempt !== command.attempt || state.workerId !== command.workerId) return [];
      const error: TaskError = { code: 'WORKER_LOST', message: `worker ${command.workerId} stopped renewing its lease`, retriable: true };
      return attemptFailed(state, command.attempt, error, command.now, command.random);
    }
    case 'RequestCancel':
      requireSubmitted(state);
      if (isTerminal(state)) throw new ConflictError(`task ${state.operationId} has already finished (${state.status})`, 'TASK_FINISHED');
      if (state.status === 'pending') {
        return [{ type: 'TaskCancelled', data: { ...ref(state), attempt: null, reason: command.reason ?? 'cancelled before it started', cancelledAt: at } }];
      }
      if (state.cancelRequested) return [];
      return [{ type: 'TaskCancelRequested', data: { ...ref(state), attempt: state.attempt, reason: command.reason, requestedAt: at } }];
    case 'TriggerOccurrence': {
      requireSubmitted(state);
      const recurrence = state.recurrence;
      if (!recurrence || state.status !== 'pending' || Date.parse(state.runAt) > command.now.getTime()) return [];
      const occurrence = recurrence.occurrences + 1;
      if (command.occurrence !== occurrence) return [];
      // Occurrences missed while no process manager ran are not replayed one by one: the next one follows now.
      const after = new Date(Math.max(Date.parse(state.runAt), command.now.getTime()));
      const next = nextOccurrence(recurrence, after, occurrence);
      const triggered: TaskEvent = {
        type: 'TaskRecurrenceTriggered',
        data: { ...ref(state), occurrence, childOperationId: occurrenceId(state.operationId, occurrence), scheduledFor: state.runAt, nextRunAt: next?.toISOString() ?? null, at },
      };
      if (next) return [triggered];
      return [triggered, { type: 'TaskRecurrenceStopped', data: { ...ref(state), reason: 'ended', occurrences: occurrence, stoppedAt: at } }];
    }
    case 'StopRecurrence':
      requireSubmitted(state);
      if (!state.recurrence) throw new ConflictError(`task ${state.operationId} is not recurring`, 'NOT_RECURRING');
      if (isTerminal(state)) throw new ConflictError(`task ${state.operationId} has already finished (${state.status})`, 'TASK_FINISHED');
      return [{ type: 'TaskRecurrenceStopped', data: { ...ref(state), reason: 'requested', occurrences: state.recurrence.occurrences, stoppedAt: at } }];
    default: {
      const unknown: never = command;
      throw new Error(`unknown command ${JSON.stringify(unknown)}`);
    }
  }
}

export const taskDecider: Decider<TaskCommand, TaskState, TaskEvent> = {
  initialState: initialTaskState,
  decide,
  evolve: evolveTask,
};

export const isTerminalState = isTerminal;
