import { ConflictError, NotFoundError, ValidationError } from '@app/core';
import { deciderSpecification } from '../../../core/src/decider-specification.js';
import { retryDelayMs } from './retry-policy.js';
import { taskDecider, type TaskCommand } from './task.decider.js';
import type { RetryPolicy, TaskEvent, TaskSubmitted } from './task.events.js';

const spec = deciderSpecification(taskDecider);
const t0 = new Date('2026-12-01T10:00:00.000Z');
const at = (ms: number) => new Date(t0.getTime() + ms);
const iso = (ms: number) => at(ms).toISOString();
const ref = { operationId: 'op1', taskType: 'system.echo' };
const retry: RetryPolicy = { maxAttempts: 3, initialDelayMs: 1000, maxDelayMs: 10_000, multiplier: 2, jitter: false };

const submitCommand = (extra: Partial<Extract<TaskCommand, { type: 'SubmitTask' }>> = {}): TaskCommand => ({
  type: 'SubmitTask',
  operationId: 'op1',
  taskType: 'system.echo',
  data: { n: 1 },
  priority: 'normal',
  notBefore: t0,
  timeoutMs: 5000,
  retry,
  recurrence: null,
  idempotencyKey: null,
  parent: null,
  now: t0,
  ...extra,
});

const submitted = (extra: Partial<TaskSubmitted['data']> = {}): TaskEvent => ({
  type: 'TaskSubmitted',
  data: { ...ref, data: { n: 1 }, priority: 'normal', runAt: iso(0), timeoutMs: 5000, retry, recurrence: null, idempotencyKey: null, parent: null, submittedAt: iso(0), ...extra },
});
const started = (attempt: number, ms = 10, workerId = 'w1'): TaskEvent => ({
  type: 'TaskStarted',
  data: { ...ref, attempt, workerId, startedAt: iso(ms), leaseUntil: iso(ms + 30_000) },
});
const retried = (attempt: number, delayMs: number, ms: number, code = 'HANDLER_ERROR'): TaskEvent => ({
  type: 'TaskRetryScheduled',
  data: { ...ref, attempt, error: { code, message: 'boom', retriable: true }, runAt: iso(ms + delayMs), delayMs, charged: true, at: iso(ms) },
});
const boom = { code: 'HANDLER_ERROR', message: 'boom', retriable: true };

describe('task decider', () => {
  test('submit records the task, runnable at scheduledFor', () => {
    spec.given([]).when(submitCommand({ notBefore: at(60_000) })).then([submitted({ runAt: iso(60_000) })]);
    spec.given([submitted()]).when(submitCommand()).thenThrows(ConflictError, 'TASK_EXISTS');
  });

  test('a recurring task runs first at the next cron occurrence; bad cron and empty schedules are 400', () => {
    const recurrence = { cron: '*/10 * * * * *', timezone: 'UTC', until: null, maxOccurrences: null };
    spec.given([]).when(submitCommand({ recurrence, notBefore: at(3_000) })).then([submitted({ recurrence, runAt: iso(10_000) })]);
    spec.given([]).when(submitCommand({ recurrence: { ...recurrence, cron: '61 * * * *' } })).thenThrows(ValidationError, 'INVALID_RECURRENCE');
    spec.given([]).when(submitCommand({ recurrence: { ...recurrence, timezone: 'Mars/Olympus' } })).thenThrows(ValidationError, 'INVALID_RECURRENCE');
    spec.given([]).when(submitCommand({ recurrence: { ...recurrence, until: iso(5_000) }, notBefore: at(1_000) })).thenThrows(ValidationError, 'INVALID_RECURRENCE');
  });

  test('start claims the next attempt, only when pending and due', () => {
    spec.given([submitted()]).when({ type: 'StartAttempt', workerId: 'w1', leaseMs: 30_000, now: at(10) }).then([started(1)]);
    spec.given([submitted({ runAt: iso(60_000) })]).when({ type: 'StartAttempt', workerId: 'w1', leaseMs: 30_000, now: at(10) }).thenThrows(ConflictError, 'TASK_NOT_RUNNABLE');
    spec.given([submitted(), started(1)]).when({ type: 'StartAttempt', workerId: 'w2', leaseMs: 30_000, now: at(20) }).thenThrows(ConflictError, 'TASK_NOT_RUNNABLE');
    spec.given([]).when({ type: 'StartAttempt', workerId: 'w1', leaseMs: 30_000, now: at(10) }).thenThrows(NotFoundError, 'TASK_NOT_FOUND');
  });

  test('complete ends the running attempt; a stale attempt cannot complete', () => {
    spec.given([submitted(), started(1)]).when({ type: 'CompleteAttempt', attempt: 1, result: { ok: true }, now: at(50) }).then([
      { type: 'TaskCompleted', data: { ...ref, attempt: 1, result: { ok: true }, completedAt: iso(50) } },
    ]);
    spec.given([submitted(), started(1), retried(1, 1000, 40), started(2, 1100)]).when({ type: 'CompleteAttempt', attempt: 1, result: null, now: at(1200) }).thenThrows(ConflictError, 'ATTEMPT_NOT_CURRENT');
  });

  test('a failed attempt is retried with exponential backoff until maxAttempts, then fails', () => {
    spec.given([submitted(), started(1)]).when({ type: 'FailAttempt', attempt: 1, error: boom, now: at(40), random: 0 }).then([retried(1, 1000, 40)]);
    spec.given([submitted(), started(1), retried(1, 1000, 40), started(2, 1100)]).when({ type: 'FailAttempt', attempt: 2, error: boom, now: at(1200), random: 0 }).then([retried(2, 2000, 1200)]);
    spec.given([submitted(), started(1), retried(1, 1000, 40), started(2, 1100), retried(2, 2000, 1200), started(3, 3300)]).when({ type: 'FailAttempt', attempt: 3, error: boom, now: at(3400), random: 0 }).then([
      { type: 'TaskFailed', data: { ...ref, attempt: 3, error: boom, failedAt: iso(3400) } },
    ]);
  });

  test('a non-retriable error fails at once', () => {
    const fatal = { code: 'BAD_INPUT', message: 'no', retriable: false };
    spec.given([submitted(), started(1)]).when({ type: 'FailAttempt', attempt: 1, error: fatal, now: at(40), random: 0.5 }).then([
      { type: 'TaskFailed', data: { ...ref, attempt: 1, error: fatal, failedAt: iso(40) } },
    ]);
  });

  test('a timeout is recorded before the retry', () => {
    const timeout = { code: 'TIMEOUT', message: 'timed out after 5000 ms', retriable: true };
    spec.given([submitted(), started(1)]).when({ type: 'FailAttempt', attempt: 1, error: timeout, timedOutAfterMs: 5000, now: at(5010), random: 0 }).then([
      { type: 'TaskTimedOut', data: { ...ref, attempt: 1, timeoutMs: 5000, at: iso(5010) } },
      { type: 'TaskRetryScheduled', data: { ...ref, attempt: 1, error: timeout, runAt: iso(6010), delayMs: 1000, charged: true, at: iso(5010) } },
    ]);
  });

  test('backoff: exponential, capped, with equal jitter in [delay/2, delay)', () => {
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(retry, n, 0))).toEqual([1000, 2000, 4000, 8000, 10_000]);
    const jittered = { ...retry, jitter: true };
    expect(retryDelayMs(jittered, 3, 0)).toBe(2000);
    expect(retryDelayMs(jittered, 3, 0.999)).toBe(3998);
  });

  test('cancel: a pending task is cancelled at once, a running one is asked to stop, a finished one is a conflict', () => {
    spec.given([submitted()]).when({ type: 'RequestCancel', reason: null, now: at(5) }).then([
      { type: 'TaskCancelled', data: { ...ref, attempt: null, reason: 'cancelled before it started', cancelledAt: iso(5) } },
    ]);
    spec.given([submitted(), started(1)]).when({ type: 'RequestCancel', reason: 'user', now: at(20) }).then([
      { type: 'TaskCancelRequested', data: { ...ref, attempt: 1, reason: 'user', requestedAt: iso(20) } },
    ]);
    const requested: TaskEvent = { type: 'TaskCancelRequested', data: { ...ref, attempt: 1, reason: 'user', requestedAt: iso(20) } };
    spec.given([submitted(), started(1), requested]).when({ type: 'RequestCancel', reason: 'again', now: at(30) }).then([]);
    spec.given([submitted(), started(1), requested]).when({ type: 'FailAttempt', attempt: 1, error: { code: 'ABORTED', message: 'aborted', retriable: true }, now: at(40), random: 0 }).then([
      { type: 'TaskCancelled', data: { ...ref, attempt: 1, reason: 'cancel requested while running', cancelledAt: iso(40) } },
    ]);
    spec.given([submitted(), started(1), { type: 'TaskCompleted', data: { ...ref, attempt: 1, result: 1, completedAt: iso(30) } }])
      .when({ type: 'RequestCancel', reason: null, now: at(40) })
      .thenThrows(ConflictError, 'TASK_FINISHED');
  });

  test('an expired lease retries the attempt as WORKER_LOST, once, and only for the attempt and worker it names', () => {
    spec.given([submitted(), started(1)]).when({ type: 'ExpireLease', attempt: 1, workerId: 'w1', now: at(40_000), random: 0 }).then([
      {
        type: 'TaskRetryScheduled',
        data: { ...ref, attempt: 1, error: { code: 'WORKER_LOST', message: 'worker w1 stopped renewing its lease', retriable: true }, runAt: iso(41_000), delayMs: 1000, charged: true, at: iso(40_000) },
      },
    ]);
    spec.given([submitted(), started(1)]).when({ type: 'ExpireLease', attempt: 1, workerId: 'w2', now: at(40_000), random: 0 }).then([]);
    spec.given([submitted(), started(1), retried(1, 1000, 40)]).when({ type: 'ExpireLease', attempt: 1, workerId: 'w1', now: at(40_000), random: 0 }).then([]);
  });

  test('a released attempt (graceful shutdown) is retried at once and does not count', () => {
    const single = { ...retry, maxAttempts: 1 };
    const release: TaskEvent = {
      type: 'TaskRetryScheduled',
      data: { ...ref, attempt: 1, error: { code: 'WORKER_SHUTDOWN', message: 'the worker shut down; the attempt was given back', retriable: true }, runAt: iso(40), delayMs: 0, charged: false, at: iso(40) },
    };
    spec.given([submitted({ retry: single }), started(1)]).when({ type: 'ReleaseAttempt', attempt: 1, now: at(40) }).then([release]);
    // Attempt 2 is the first charged one, so a failure of it fails the task (maxAttempts 1) — it was not retried twice.
    spec.given([submitted({ retry: single }), started(1), release, started(2, 50)]).when({ type: 'FailAttempt', attempt: 2, error: boom, now: at(60), random: 0 }).then([
      { type: 'TaskFailed', data: { ...ref, attempt: 2, error: boom, failedAt: iso(60) } },
    ]);
  });

  test('stages and milestones are progress events of the running attempt', () => {
    spec.given([submitted(), started(1)]).when({ type: 'RecordProgress', attempt: 1, stage: 'fetch', stageStatus: 'completed', output: { rows: 3 }, percent: 50, message: null, now: at(30) }).then([
      { type: 'TaskProgressed', data: { ...ref, attempt: 1, stage: 'fetch', stageStatus: 'completed', output: { rows: 3 }, error: null, percent: 50, message: null, at: iso(30) } },
    ]);
    spec.given([submitted()]).when({ type: 'RecordProgress', attempt: 1, stage: null, stageStatus: null, percent: 10, message: 'x', now: at(30) }).thenThrows(ConflictError, 'ATTEMPT_NOT_CURRENT');
  });

  describe('recurrence', () => {
    const recurrence = { cron: '*/10 * * * * *', timezone: 'UTC', until: null, maxOccurrences: 2 };
    const parent = submitted({ recurrence, runAt: iso(10_000) });
    const triggered = (occurrence: number, scheduled: number, next: number | null, now: number): TaskEvent => ({
      type: 'TaskRecurrenceTriggered',
      data: { ...ref, occurrence, childOperationId: `op1.${occurrence}`, scheduledFor: iso(scheduled), nextRunAt: next === null ? null : iso(next), at: iso(now) },
    });

    test('a due occurrence is triggered with the next run time; not before it is due', () => {
      spec.given([parent]).when({ type: 'TriggerOccurrence', occurrence: 1, now: at(10_005) }).then([triggered(1, 10_000, 20_000, 10_005)]);
      spec.given([parent, triggered(1, 10_000, 20_000, 10_005)]).when({ type: 'TriggerOccurrence', occurrence: 1, now: at(10_006) }).then([]);
      spec.given([parent]).when({ type: 'TriggerOccurrence', occurrence: 1, now: at(9_000) }).then([]);
    });

    test('missed occurrences collapse into one; the last occurrence ends the recurrence', () => {
      spec.given([{ ...parent, data: { ...parent.data, recurrence: { ...recurrence, maxOccurrences: null } } } as TaskEvent])
        .when({ type: 'TriggerOccurrence', occurrence: 1, now: at(35_000) })
        .then([triggered(1, 10_000, 40_000, 35_000)]);
      spec.given([parent, triggered(1, 10_000, 20_000, 10_005)]).when({ type: 'TriggerOccurrence', occurrence: 2, now: at(20_001) }).then([
        triggered(2, 20_000, null, 20_001),
        { type: 'TaskRecurrenceStopped', data: { ...ref, reason: 'ended', occurrences: 2, stoppedAt: iso(20_001) } },
      ]);
    });

    test('a recurring task never starts itself; stop-recurring ends it; stopping a one-off task is a conflict', () => {
      spec.given([parent]).when({ type: 'StartAttempt', workerId: 'w1', leaseMs: 1000, now: at(30_000) }).thenThrows(ConflictError, 'TASK_NOT_RUNNABLE');
      spec.given([parent, triggered(1, 10_000, 20_000, 10_005)]).when({ type: 'StopRecurrence', now: at(12_000) }).then([
        { type: 'TaskRecurrenceStopped', data: { ...ref, reason: 'requested', occurrences: 1, stoppedAt: iso(12_000) } },
      ]);
      spec.given([submitted()]).when({ type: 'StopRecurrence', now: at(1) }).thenThrows(ConflictError, 'NOT_RECURRING');
    });
  });
});
