import { handleCommand, systemContext } from '@app/core';
import { type AppendBatcher, type EventStore, WrongExpectedVersionError } from '@app/event-store';
import { taskDecider } from '../domain/task.decider.js';
import { taskStreamId } from '../domain/task-ids.js';
import type { BookEntry } from './task-book.js';
import { TaskStreamWriter } from './stream-writer.js';

/**
 * Starts the due occurrence of a recurring task: submits the occurrence under its deterministic id
 * (`<parent>.<n>`, so a repeat finds it), then records the trigger on the schedule with the expected
 * revision. A crash between the two repeats both harmlessly; two instances never create it twice.
 */
export async function triggerOccurrence(store: EventStore, batcher: AppendBatcher, entry: BookEntry, workerId: string, now = new Date()): Promise<void> {
  const parent = entry.state;
  const occurrence = (parent.recurrence?.occurrences ?? 0) + 1;
  const planned = taskDecider.decide({ type: 'TriggerOccurrence', occurrence, now }, parent);
  const triggered = planned.find((e) => e.type === 'TaskRecurrenceTriggered');
  if (!triggered) return;
  const ctx = systemContext(workerId, entry.correlationId);
  try {
    await handleCommand(
      store,
      taskDecider,
      taskStreamId(triggered.data.childOperationId),
      {
        type: 'SubmitTask',
        operationId: triggered.data.childOperationId,
        taskType: parent.taskType,
        data: parent.data,
        priority: parent.priority,
        notBefore: new Date(triggered.data.scheduledFor),
        timeoutMs: parent.timeoutMs,
        retry: parent.retry,
        recurrence: null,
        idempotencyKey: null,
        parent: { operationId: parent.operationId, occurrence },
        now,
      },
      ctx,
      { expectedRevision: 'no_stream' },
    );
  } catch (error) {
    if (!(error instanceof WrongExpectedVersionError)) throw error;
  }
  const writer = new TaskStreamWriter(store, batcher, parent.operationId, parent, entry.revision, entry.correlationId, workerId);
  await writer.execute({ type: 'TriggerOccurrence', occurrence, now });
}
