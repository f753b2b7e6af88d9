import { fold, toDomainEvent } from '@app/core';
import { type AllSubscription, EVENT_STORE, type EventStore, type Position } from '@app/event-store';
import { ProjectionPositions } from '@app/projections';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { isTerminalState, taskDecider } from '../domain/task.decider.js';
import { TASK_TERMINAL_EVENT_TYPES, type TaskEvent } from '../domain/task.events.js';
import { taskStreamId } from '../domain/task-ids.js';
import { taskProjection } from '../domain/task.projection.js';

/** `?wait=N`: resolves when a task has finished and the tasks read model shows it, or after the timeout. */
@Injectable()
export class TaskOutcomeWaiter implements OnApplicationShutdown {
  private readonly waiters = new Map<string, Set<(position: Position) => void>>();
  private subscription: AllSubscription | null = null;
  private listening: Promise<void> | null = null;

  constructor(
    @Inject(EVENT_STORE) private readonly store: EventStore,
    private readonly positions: ProjectionPositions,
  ) {}

  /**
   * One subscription per api node, started on the first wait from a head read before it returns, so every
   * terminal event after a waiter's own check of the stream reaches it.
   */
  private listen(): Promise<void> {
    this.listening ??= this.store.headPosition().then((head) => this.follow(head));
    return this.listening;
  }

  private follow(head: Position | null): void {
    this.subscription = this.store.subscribeToAll({
      fromPosition: head ?? 'start',
      filter: { eventTypes: TASK_TERMINAL_EVENT_TYPES },
      onBatch: async ({ events }) => {
        for (const e of events) for (const wake of this.waiters.get((e.data as { operationId: string }).operationId) ?? []) wake(e.position);
      },
      onError: () => {
        this.subscription = null;
        this.listening = null;
      },
    });
  }

  async wait(operationId: string, timeoutMs: number): Promise<boolean> {
    if (timeoutMs <= 0) return false;
    const deadline = Date.now() + timeoutMs;
    await this.listen();
    let wake!: (position: Position) => void;
    const finished = new Promise<Position>((resolve) => (wake = resolve));
    let set = this.waiters.get(operationId);
    if (!set) this.waiters.set(operationId, (set = new Set()));
    set.add(wake);
    let timer: NodeJS.Timeout | undefined;
    try {
      // It may have finished before we listened.
      const recorded = await this.store.readStream(taskStreamId(operationId));
      if (recorded.length && isTerminalState(fold(taskDecider, recorded.map(toDomainEvent) as TaskEvent[]))) wake(recorded[recorded.length - 1].position);
      const position = await Promise.race([finished, new Promise<null>((r) => (timer = setTimeout(() => r(null), Math.max(0, deadline - Date.now()))))]);
      if (!position) return false;
      return await this.positions.waitFor([taskProjection.name], position, Math.max(0, deadline - Date.now()));
    } finally {
      clearTimeout(timer);
      set.delete(wake);
      if (!set.size) this.waiters.delete(operationId);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.subscription?.close();
  }
}
