import type pg from 'pg';
import type { AppendResult, EventStore, NewEvent } from '../types.js';
import { GroupCommit } from './group-commit.js';
import { PostgresEventStore } from './postgres-event-store.js';

/** Appends to one stream with an exact expected revision (or none yet). */
export interface StreamAppender {
  append(streamId: string, events: readonly NewEvent[], expected: bigint | 'no_stream'): Promise<AppendResult>;
}

/**
 * Appends of many streams committed in groups through a pool of the caller's choosing: the pool decides
 * the commit mode (a pool with synchronous_commit off gives asynchronous batches: task claims and
 * completions, webhook delivery records). Same answers as appendToStream. With the postgres event store,
 * a GroupCommit of its own over that pool (the store's appendToStream groups its appends the same way, on
 * the store's pool); with another store each append goes on its own.
 */
export class AppendBatcher implements StreamAppender {
  private readonly group: GroupCommit | null;

  constructor(
    private readonly store: EventStore,
    pool: pg.Pool,
  ) {
    const postgres = store instanceof PostgresEventStore ? store : null;
    // After the commit, never inside it: the store's notifier wakes local subscribers at once and NOTIFYs the rest.
    this.group = postgres ? new GroupCommit(pool, (types) => postgres.published(types)) : null;
  }

  append(streamId: string, events: readonly NewEvent[], expected: bigint | 'no_stream'): Promise<AppendResult> {
    if (!this.group) return this.store.appendToStream(streamId, events, { expectedRevision: expected });
    return this.group.append(streamId, events, expected);
  }
}
