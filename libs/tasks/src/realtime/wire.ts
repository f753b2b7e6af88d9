import { toExternalEvent } from '@app/core';
import { formatPosition, type RecordedEvent } from '@app/event-store';
import { TASK_EXTERNAL_EVENTS } from '../domain/task.external-events.js';
import type { TaskProgressUpdate } from '../worker/progress-publisher.js';

/** Server-side events from the process manager to every api node (through the Socket.IO postgres adapter). */
export const TASK_EVENTS_CHANNEL = 'opsledger:task-events';
export const TASK_PROGRESS_CHANNEL = 'opsledger:task-progress';

/** A stored task event as it leaves the system: `{type, timestamp, position, data}` plus what routing needs. */
export interface WireEvent {
  type: string;
  timestamp: string;
  position: string;
  data: unknown;
}

/**
 * One message of the broadcast: every task event in (after, upTo], in order. A receiver that has seen
 * up to `after` has no gap; otherwise it reads the range from the event store.
 */
export interface TaskEventsMessage {
  after: string;
  upTo: string;
  events: WireEvent[];
}

export interface ProgressMessage {
  updates: TaskProgressUpdate[];
}

export function toWireEvent(recorded: RecordedEvent): WireEvent | null {
  const external = toExternalEvent(TASK_EXTERNAL_EVENTS, recorded);
  return external ? { ...external, position: formatPosition(recorded.position) } : null;
}
