import type { RecordedEvent } from '@app/event-store';
import { PRIORITIES, type Priority, type TaskEvent } from '../domain/task.events.js';
import { evolveTask, initialTaskState, type TaskState } from '../domain/task.state.js';
import { MinHeap } from './min-heap.js';

export interface BookEntry {
  state: TaskState;
  revision: bigint;
  correlationId: string;
}

interface QueueItem {
  id: string;
  runAtMs: number;
  seq: number;
  /** The entry's revision when queued; a later change queues a fresh item and makes this one stale. */
  revision: bigint;
}

const earlier = (a: QueueItem, b: QueueItem) => a.runAtMs < b.runAtMs || (a.runAtMs === b.runAtMs && a.seq < b.seq);

/**
 * The process manager's view of every open task (pending or active), folded from the tasks read model
 * and then from the event subscription; finished tasks leave it. Pending tasks wait in one queue per
 * priority ordered by run time, recurring schedules in their own queue.
 */
export class TaskBook {
  private readonly entries = new Map<string, BookEntry>();
  private readonly queues = new Map<Priority, MinHeap<QueueItem>>(PRIORITIES.map((p) => [p, new MinHeap<QueueItem>(earlier)]));
  private readonly schedules = new MinHeap<QueueItem>(earlier);
  private seq = 0;

  get size(): number {
    return this.entries.size;
  }

  get(id: string): BookEntry | undefined {
    return this.entries.get(id);
  }

  /** Open tasks; the lease reaper looks at the active ones. */
  values(): IterableIterator<BookEntry> {
    return this.entries.values();
  }

  load(entries: BookEntry[]): void {
    for (const entry of entries) this.set(entry);
  }

  /** Applies one event in stream order; returns the entry after it (null once finished) or null if it was not for an open task. */
  apply(recorded: RecordedEvent): BookEntry | null {
    const id = (recorded.data as { operationId: string }).operationId;
    const current = this.entries.get(id);
    if (!current) {
      if (recorded.type !== 'TaskSubmitted') return null; // a task that finished before this view was loaded
      const state = evolveTask(initialTaskState(), recorded as unknown as TaskEvent);
      return this.set({ state, revision: recorded.revision, correlationId: recorded.metadata.correlationId });
    }
    if (recorded.revision <= current.revision) return current;
    const state = evolveTask(current.state, { type: recorded.type, data: recorded.data } as TaskEvent);
    return this.set({ ...current, state, revision: recorded.revision });
  }

  private set(entry: BookEntry): BookEntry | null {
    const { status, operationId } = entry.state;
    if (status !== 'pending' && status !== 'active') {
      this.entries.delete(operationId);
      return null;
    }
    this.entries.set(operationId, entry);
    if (status === 'pending') this.enqueue(entry);
    return entry;
  }

  /** Queues the entry again (after a claim that could not be made, or when a type slot frees up). */
  requeue(id: string): void {
    const entry = this.entries.get(id);
    if (entry?.state.status === 'pending') this.enqueue(entry);
  }

  private enqueue(entry: BookEntry): void {
    const item = { id: entry.state.operationId, runAtMs: Date.parse(entry.state.runAt), seq: this.seq++, revision: entry.revision };
    (entry.state.recurrence ? this.schedules : this.queues.get(entry.state.priority)!).push(item);
  }

  private valid(item: QueueItem): BookEntry | null {
    const entry = this.entries.get(item.id);
    return entry && entry.revision === item.revision && entry.state.status === 'pending' ? entry : null;
  }

  private popFrom(heap: MinHeap<QueueItem>, now: number): BookEntry | null {
    for (;;) {
      const head = heap.peek();
      if (!head) return null;
      const entry = this.valid(head);
      if (!entry) {
        heap.pop();
        continue;
      }
      if (head.runAtMs > now) return null;
      heap.pop();
      return entry;
    }
  }

  /** The next due task of a priority (earliest run time first, then submission order). */
  popDue(priority: Priority, now: number): BookEntry | null {
    return this.popFrom(this.queues.get(priority)!, now);
  }

  popDueSchedule(now: number): BookEntry | null {
    return this.popFrom(this.schedules, now);
  }

  /** When the earliest queued task that is not due yet becomes due; null if none. */
  nextDueAt(): number | null {
    let next: number | null = null;
    for (const heap of [...this.queues.values(), this.schedules]) {
      while (heap.peek() && !this.valid(heap.peek()!)) heap.pop();
      const head = heap.peek();
      if (head && (next === null || head.runAtMs < next)) next = head.runAtMs;
    }
    return next;
  }
}
