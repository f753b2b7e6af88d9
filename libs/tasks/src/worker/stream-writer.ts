import { fold, metadataOf, systemContext, toDomainEvent } from '@app/core';
import { type AppendBatcher, type EventStore, type NewEvent, WrongExpectedVersionError } from '@app/event-store';
import { randomUUID } from 'node:crypto';
import { taskDecider, type TaskCommand } from '../domain/task.decider.js';
import type { TaskEvent } from '../domain/task.events.js';
import { taskStreamId } from '../domain/task-ids.js';
import type { TaskState } from '../domain/task.state.js';

/**
 * Appends commands to one task stream from a cached state and revision, so the common case costs one
 * round trip; on a concurrent write it re-reads the stream and decides again. Writes are serialised.
 */
export class TaskStreamWriter {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: EventStore,
    private readonly batcher: AppendBatcher,
    readonly operationId: string,
    public state: TaskState,
    public revision: bigint,
    private readonly correlationId: string,
    private readonly actorId: string,
  ) {}

  /** Keeps the cache current with events others wrote (delivered in order by the subscription). */
  observe(event: TaskEvent, revision: bigint): void {
    if (revision !== this.revision + 1n) return;
    this.state = taskDecider.evolve(this.state, event);
    this.revision = revision;
  }

  execute(command: TaskCommand): Promise<TaskEvent[]> {
    const run = this.chain.then(() => this.write(command));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async write(command: TaskCommand): Promise<TaskEvent[]> {
    const streamId = taskStreamId(this.operationId);
    for (let conflicts = 0; ; conflicts++) {
      const events = taskDecider.decide(command, this.state);
      if (!events.length) return events;
      const metadata = metadataOf(systemContext(this.actorId, this.correlationId));
      const batch: NewEvent[] = events.map((e) => ({ id: randomUUID(), type: e.type, data: e.data, metadata }));
      try {
        const result = await this.batcher.append(streamId, batch, this.revision < 0n ? 'no_stream' : this.revision);
        this.state = events.reduce(taskDecider.evolve, this.state);
        this.revision = result.nextExpectedRevision;
        return events;
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError) || conflicts > 20) throw error;
        const recorded = await this.store.readStream(streamId);
        this.state = fold(taskDecider, recorded.map(toDomainEvent) as TaskEvent[]);
        this.revision = recorded.length ? recorded[recorded.length - 1].revision : -1n;
      }
    }
  }
}
