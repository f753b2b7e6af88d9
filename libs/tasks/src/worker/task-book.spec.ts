import type { RecordedEvent } from '@app/event-store';
import type { TaskSubmitted } from '../domain/task.events.js';
import { Capacity } from './capacity.js';
import { TaskBook } from './task-book.js';

const t0 = Date.parse('2026-12-01T10:00:00.000Z');
let revisionOf = new Map<string, bigint>();

function event(type: string, data: Record<string, unknown>): RecordedEvent {
  const id = data.operationId as string;
  const revision = (revisionOf.get(id) ?? -1n) + 1n;
  revisionOf.set(id, revision);
  return {
    id: `${id}-${revision}`,
    type,
    data,
    metadata: { actor: { kind: 'system', id: 'test' }, correlationId: 'c', causationId: 'c' },
    streamId: `task-${id}`,
    revision,
    position: { commit: 1n, prepare: revision },
    createdAt: new Date(t0),
  };
}

function submitted(operationId: string, priority: TaskSubmitted['data']['priority'], runAtMs = 0, recurring = false): RecordedEvent {
  return event('TaskSubmitted', {
    operationId,
    taskType: 'system.echo',
    data: null,
    priority,
    runAt: new Date(t0 + runAtMs).toISOString(),
    timeoutMs: 1000,
    retry: { maxAttempts: 1, initialDelayMs: 0, maxDelayMs: 0, multiplier: 1, jitter: false },
    recurrence: recurring ? { cron: '* * * * * *', timezone: 'UTC', until: null, maxOccurrences: null } : null,
    idempotencyKey: null,
    parent: null,
    submittedAt: new Date(t0).toISOString(),
  });
}

beforeEach(() => {
  revisionOf = new Map();
});

describe('task book', () => {
  test('each priority queue gives the earliest due task first, then submission order; not-yet-due tasks wait', () => {
    const book = new TaskBook();
    for (const e of [submitted('late', 'normal', 500), submitted('first', 'normal'), submitted('second', 'normal'), submitted('urgent', 'critical')]) book.apply(e);
    expect(book.popDue('critical', t0)?.state.operationId).toBe('urgent');
    expect(book.popDue('normal', t0)?.state.operationId).toBe('first');
    expect(book.popDue('normal', t0)?.state.operationId).toBe('second');
    expect(book.popDue('normal', t0)).toBeNull();
    expect(book.nextDueAt()).toBe(t0 + 500);
    expect(book.popDue('normal', t0 + 500)?.state.operationId).toBe('late');
    expect(book.popDue('batch', t0 + 500)).toBeNull();
  });

  test('a task that started, was cancelled or changed meanwhile is not handed out from a stale queue entry', () => {
    const book = new TaskBook();
    book.apply(submitted('a', 'normal'));
    book.apply(submitted('b', 'normal'));
    book.apply(event('TaskStarted', { operationId: 'a', taskType: 'system.echo', attempt: 1, workerId: 'w', startedAt: new Date(t0).toISOString(), leaseUntil: new Date(t0 + 1000).toISOString() }));
    book.apply(event('TaskCancelled', { operationId: 'b', taskType: 'system.echo', attempt: null, reason: null, cancelledAt: new Date(t0).toISOString() }));
    expect(book.popDue('normal', t0)).toBeNull();
    expect(book.get('a')?.state.status).toBe('active');
    expect(book.get('b')).toBeUndefined();
  });

  test('a retried task is queued again at its retry time', () => {
    const book = new TaskBook();
    book.apply(submitted('a', 'batch'));
    book.apply(event('TaskStarted', { operationId: 'a', taskType: 'system.echo', attempt: 1, workerId: 'w', startedAt: new Date(t0).toISOString(), leaseUntil: new Date(t0 + 1000).toISOString() }));
    book.apply(
      event('TaskRetryScheduled', {
        operationId: 'a',
        taskType: 'system.echo',
        attempt: 1,
        error: { code: 'X', message: 'x', retriable: true },
        runAt: new Date(t0 + 200).toISOString(),
        delayMs: 200,
        charged: true,
        at: new Date(t0).toISOString(),
      }),
    );
    expect(book.popDue('batch', t0 + 100)).toBeNull();
    expect(book.popDue('batch', t0 + 200)?.state.attempt).toBe(1);
  });

  test('recurring schedules wait in their own queue, never in a run queue', () => {
    const book = new TaskBook();
    book.apply(submitted('r', 'critical', 0, true));
    expect(book.popDue('critical', t0)).toBeNull();
    expect(book.popDueSchedule(t0)?.state.operationId).toBe('r');
  });

  test('events of a task the book never saw (finished before it loaded) are ignored', () => {
    const book = new TaskBook();
    revisionOf.set('old', 3n);
    expect(book.apply(event('TaskCompleted', { operationId: 'old', taskType: 'system.echo', attempt: 1, result: null, completedAt: new Date(t0).toISOString() }))).toBeNull();
    expect(book.size).toBe(0);
  });
});

describe('capacity', () => {
  test('critical may use every slot, normal all but the critical reserve, batch also leaves the normal reserve', () => {
    const capacity = new Capacity(4, 1, 1, () => undefined);
    capacity.acquire('batch', 't');
    capacity.acquire('batch', 't');
    expect(capacity.admits('batch')).toBe(false);
    expect(capacity.admits('normal')).toBe(true);
    capacity.acquire('normal', 't');
    expect(capacity.admits('normal')).toBe(false);
    expect(capacity.admits('critical')).toBe(true);
    capacity.acquire('critical', 't');
    expect(capacity.admits('critical')).toBe(false);
    capacity.release('batch', 't');
    expect([capacity.admits('batch'), capacity.admits('normal'), capacity.admits('critical')]).toEqual([false, false, true]);
  });

  test('per-type limits', () => {
    const capacity = new Capacity(10, 0, 0, (type) => (type === 'slow' ? 1 : undefined));
    expect(capacity.typeAdmits('slow')).toBe(true);
    capacity.acquire('normal', 'slow');
    expect(capacity.typeAdmits('slow')).toBe(false);
    expect(capacity.typeAdmits('fast')).toBe(true);
    capacity.release('normal', 'slow');
    expect(capacity.typeAdmits('slow')).toBe(true);
  });
});
