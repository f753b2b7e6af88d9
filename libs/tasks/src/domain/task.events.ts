import type { DomainEvent } from '@app/core';
import type { JsonValue } from '@app/event-store';

export const PRIORITIES = ['critical', 'normal', 'batch'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const TASK_STATUSES = ['pending', 'active', 'completed', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const TERMINAL_STATUSES: readonly TaskStatus[] = ['completed', 'failed', 'cancelled'];

export interface RetryPolicy {
  /** Attempts in total, the first one included. */
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  multiplier: number;
  /** Equal jitter: the delay is drawn from [delay/2, delay). */
  jitter: boolean;
}

export interface Recurrence {
  cron: string;
  timezone: string;
  /** No occurrence after this instant (ISO); null: no end. */
  until: string | null;
  maxOccurrences: number | null;
}

export interface TaskError {
  code: string;
  message: string;
  /** false: no further attempt, whatever the retry policy says. */
  retriable: boolean;
}

/** Every task event names its task and type, so external consumers can filter without reading the stream. */
interface TaskRef {
  operationId: string;
  taskType: string;
}

export type TaskSubmitted = DomainEvent<
  'TaskSubmitted',
  TaskRef & {
    data: JsonValue;
    priority: Priority;
    runAt: string;
    timeoutMs: number;
    retry: RetryPolicy;
    recurrence: Recurrence | null;
    idempotencyKey: string | null;
    parent: { operationId: string; occurrence: number } | null;
    submittedAt: string;
  }
>;
export type TaskStarted = DomainEvent<'TaskStarted', TaskRef & { attempt: number; workerId: string; startedAt: string; leaseUntil: string }>;
/** Stage changes and milestones; fine-grained progress is broadcast without being stored. */
export type TaskProgressed = DomainEvent<
  'TaskProgressed',
  TaskRef & {
    attempt: number;
    stage: string | null;
    stageStatus: 'started' | 'completed' | 'failed' | null;
    output: JsonValue | null;
    error: TaskError | null;
    percent: number | null;
    message: string | null;
    at: string;
  }
>;
export type TaskCompleted = DomainEvent<'TaskCompleted', TaskRef & { attempt: number; result: JsonValue; completedAt: string }>;
export type TaskTimedOut = DomainEvent<'TaskTimedOut', TaskRef & { attempt: number; timeoutMs: number; at: string }>;
export type TaskRetryScheduled = DomainEvent<
  'TaskRetryScheduled',
  TaskRef & { attempt: number; error: TaskError; runAt: string; delayMs: number; /** false: a graceful shutdown gave the attempt back; it does not count. */ charged: boolean; at: string }
>;
export type TaskFailed = DomainEvent<'TaskFailed', TaskRef & { attempt: number; error: TaskError; failedAt: string }>;
export type TaskCancelRequested = DomainEvent<'TaskCancelRequested', TaskRef & { attempt: number; reason: string | null; requestedAt: string }>;
export type TaskCancelled = DomainEvent<'TaskCancelled', TaskRef & { attempt: number | null; reason: string | null; cancelledAt: string }>;
export type TaskRecurrenceTriggered = DomainEvent<
  'TaskRecurrenceTriggered',
  TaskRef & { occurrence: number; childOperationId: string; scheduledFor: string; nextRunAt: string | null; at: string }
>;
export type TaskRecurrenceStopped = DomainEvent<'TaskRecurrenceStopped', TaskRef & { reason: 'requested' | 'ended'; occurrences: number; stoppedAt: string }>;

export type TaskEvent =
  | TaskSubmitted
  | TaskStarted
  | TaskProgressed
  | TaskCompleted
  | TaskTimedOut
  | TaskRetryScheduled
  | TaskFailed
  | TaskCancelRequested
  | TaskCancelled
  | TaskRecurrenceTriggered
  | TaskRecurrenceStopped;

export const TASK_EVENT_TYPES = [
  'TaskSubmitted',
  'TaskStarted',
  'TaskProgressed',
  'TaskCompleted',
  'TaskTimedOut',
  'TaskRetryScheduled',
  'TaskFailed',
  'TaskCancelRequested',
  'TaskCancelled',
  'TaskRecurrenceTriggered',
  'TaskRecurrenceStopped',
] as const satisfies readonly TaskEvent['type'][];

/** Events after which a task (or a recurring schedule) never changes again. */
export const TASK_TERMINAL_EVENT_TYPES = ['TaskCompleted', 'TaskFailed', 'TaskCancelled', 'TaskRecurrenceStopped'] as const;
